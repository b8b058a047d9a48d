"""Trivial sandbox service proving the harness: service status and an echo endpoint."""

from __future__ import annotations

import datetime as dt
from importlib import metadata

from sandbox.harness import SandboxRequest, SandboxResponse

_MAX_ECHO_DELAY_S = 30.0


def _product_version() -> str:
    try:
        return metadata.version("lgc")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class StatusService:
    """Answers ``GET /status`` and ``/echo``; 404 JSON for anything else.

    * ``GET /status`` → ``{"service": "status", "version": "…", "time": "<ISO 8601 UTC>"}``.
    * ``GET|POST /echo?delay=SECONDS`` → waits (at most 30 s, interrupted when the harness stops),
      then describes the request: method, path, query, body length, client certificate subject.
    """

    name = "status"

    def __init__(self, version: str | None = None) -> None:
        """Create the service.

        Args:
            version: Version string to report; the installed ``lgc`` version when None.
        """
        self._version = version if version is not None else _product_version()

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request (see the class docstring)."""
        route = request.route
        if route == "/status":
            if request.method not in {"GET", "HEAD"}:
                return _method_not_allowed("GET, HEAD")
            return SandboxResponse.json(
                {
                    "service": self.name,
                    "version": self._version,
                    "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                }
            )
        if route == "/echo":
            if request.method not in {"GET", "HEAD", "POST"}:
                return _method_not_allowed("GET, HEAD, POST")
            raw_delay = request.query.get("delay", ["0"])[0]
            try:
                delay = min(max(float(raw_delay), 0.0), _MAX_ECHO_DELAY_S)
            except ValueError:
                return SandboxResponse.json({"error": "paramètre delay invalide"}, status=400)
            if delay and request.stopping.wait(delay):
                return SandboxResponse.json({"error": "arrêt du bac à sable"}, status=503)
            return SandboxResponse.json(
                {
                    "method": request.method,
                    "path": route,
                    "query": request.query,
                    "body_length": len(request.body),
                    "client_subject": request.client_subject,
                }
            )
        return SandboxResponse.json({"error": "introuvable", "path": route}, status=404)


def _method_not_allowed(allow: str) -> SandboxResponse:
    response = SandboxResponse.json({"error": "méthode non prise en charge"}, status=405)
    return SandboxResponse(response.status, {**response.headers, "Allow": allow}, response.body)
