"""Stand-in of Espace de confiance backends (needs mutual TLS): RFC 8693 token exchange and cert-bound APIs.

Each backend is a Keycloak-like realm: ``POST /realms/<backend>/protocol/openid-connect/token`` exchanges a
Pro Santé Connect access token (``subject_token``, checked against the PSC stand-in) for a backend token bound
to the client certificate of the TLS connection (``cnf`` ``x5t#S256``, RFC 8705). ``/api/<backend>/…``
answers only with such a token presented over a connection using the same certificate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from sandbox.harness import SandboxRequest, SandboxResponse
from sandbox.services.psc import GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS, PscService

_log = logging.getLogger("lgc.sandbox")

DEFAULT_BACKENDS = ("api-test", "dmp", "insi")
BACKEND_TOKEN_TTL_S = 4 * 3600  # "4 h for the conformity-test API" (segur-reference §8.3)


@dataclass
class _BackendToken:
    backend: str
    national_id: str
    cnf: str
    expires_at: float
    client_subject: str


class TrustSpaceService:
    """The Espace de confiance backends stand-in (mutual TLS required: ``requires_client_cert``)."""

    name = "edc"
    requires_client_cert = True

    def __init__(self, psc: PscService, backends: tuple[str, ...] = DEFAULT_BACKENDS) -> None:
        """Create the backends; PSC tokens are checked against ``psc`` (the PSC stand-in, same process)."""
        self._psc = psc
        self.backends = backends
        self._lock = threading.Lock()
        self._tokens: dict[str, _BackendToken] = {}
        self.calls: list[dict[str, Any]] = []

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request."""
        parts = request.route.strip("/").split("/")
        if request.route == "/status":
            return SandboxResponse.json({"service": self.name, "version": "bac-a-sable", "time": _now_iso()})
        if len(parts) >= 2 and parts[0] == "realms" and parts[1] in self.backends:
            backend, tail = parts[1], "/".join(parts[2:])
            if tail == ".well-known/openid-configuration":
                return SandboxResponse.json(self._discovery(request, backend))
            if tail == "protocol/openid-connect/token" and request.method == "POST":
                return self._exchange(request, backend)
        if len(parts) >= 2 and parts[0] == "api" and parts[1] in self.backends:
            return self._api(request, parts[1], "/" + "/".join(parts[2:]))
        return SandboxResponse.json({"error": "introuvable", "path": request.route}, status=404)

    def _discovery(self, request: SandboxRequest, backend: str) -> dict[str, Any]:
        base = f"https://{request.header('host', '127.0.0.1')}/realms/{backend}"
        token = base + "/protocol/openid-connect/token"
        return {
            "issuer": base,
            "token_endpoint": token,
            "grant_types_supported": [GRANT_TOKEN_EXCHANGE],
            "token_endpoint_auth_methods_supported": ["tls_client_auth"],
            "tls_client_certificate_bound_access_tokens": True,
            "mtls_endpoint_aliases": {"token_endpoint": token},
        }

    def _exchange(self, request: SandboxRequest, backend: str) -> SandboxResponse:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", errors="replace")).items()}
        der = request.client_cert_der
        if der is None:
            return _error("invalid_client", "certificat client exigé (TLS mutuel)", 401)
        if form.get("grant_type") != GRANT_TOKEN_EXCHANGE or form.get("subject_token_type") != TOKEN_TYPE_ACCESS:
            return _error("unsupported_grant_type", "échange de jeton RFC 8693 attendu")
        if form.get("subject_issuer", "psc") != "psc":
            return _error("invalid_request", "subject_issuer inconnu")
        claims = self._psc.introspect(form.get("subject_token", ""))
        if not claims.get("active"):
            return _error("invalid_grant", "jeton Pro Santé Connect invalide, expiré ou révoqué")
        token = secrets.token_urlsafe(32)
        cnf = _thumbprint(der)
        with self._lock:
            self._tokens[token] = _BackendToken(
                backend,
                str(claims.get("preferred_username", "")),
                cnf,
                time.time() + BACKEND_TOKEN_TTL_S,
                request.client_subject or "",
            )
        _log.info("Sandbox edc: token exchanged for backend %s", backend)
        return SandboxResponse.json(
            {
                "access_token": token,
                "issued_token_type": TOKEN_TYPE_ACCESS,
                "token_type": "Bearer",
                "expires_in": BACKEND_TOKEN_TTL_S,
                "cnf": {"x5t#S256": cnf},
            }
        )

    def _api(self, request: SandboxRequest, backend: str, path: str) -> SandboxResponse:
        auth = request.header("authorization", "") or ""
        with self._lock:
            token = self._tokens.get(auth[7:]) if auth.lower().startswith("bearer ") else None
        if token is None or token.backend != backend or token.expires_at < time.time():
            return SandboxResponse(401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b"")
        der = request.client_cert_der
        if der is None or not hmac.compare_digest(_thumbprint(der), token.cnf):
            # RFC 8705 §3: a certificate-bound token used over another certificate is refused.
            return SandboxResponse(
                401, {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="cnf"'}, b""
            )
        call = {
            "backend": backend,
            "method": request.method,
            "path": path,
            "query": request.query,
            "practitioner": token.national_id,
            "body_length": len(request.body),
            "client_subject": request.client_subject,
        }
        with self._lock:
            self.calls.append(call)
        return SandboxResponse.json(call)


def _thumbprint(der: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def _error(error: str, description: str, status: int = 400) -> SandboxResponse:
    return SandboxResponse.json({"error": error, "error_description": description}, status=status)


def _now_iso() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
