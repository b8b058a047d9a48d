"""HTTPS status probe (httpx): implements StatusGateway and maps transport failures to RemoteServiceError."""

from __future__ import annotations

import datetime as dt
import json
import logging
import ssl
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from adapters.net import (
    PooledClientOwner,
    SoapFault,
    client_ssl_context,
    http_status_error,
    parse_soap_fault,
    soap_fault_error,
    translate_transport_error,
)
from domain.errors import RemoteServiceError
from domain.remote import RemoteStatus

_log = logging.getLogger("lgc.net")

__all__ = ["HttpsStatusGateway", "SoapFault", "parse_soap_fault", "translate_transport_error"]


class HttpsStatusGateway(PooledClientOwner):
    """``StatusGateway`` over HTTPS: ``GET <base_url>/status`` answering ``{service, version, time}``.

    Knows only a URL and the CA to trust; one pooled httpx client, created on first use, thread-safe.
    """

    def __init__(
        self,
        base_url: str,
        ca_cert: Path | None,
        timeout_s: float = 10.0,
        *,
        client_cert: tuple[Path, Path] | None = None,
        label: str | None = None,
    ) -> None:
        """Configure the gateway; nothing is opened until the first call.

        Args:
            base_url: ``https://host:port[/prefix]`` of the service.
            ca_cert: PEM file of the CA to trust, or None for the system trust store.
            timeout_s: Connect, read, write and pool timeout, each, in seconds.
            client_cert: ``(cert_path, key_path)`` for mutual TLS, if the service requires it.
            label: How to name the service in messages; the URL's host and port by default.
        """
        self._base_url = base_url.rstrip("/")
        self._ca_cert = ca_cert
        self._timeout = httpx.Timeout(timeout_s)
        self._client_cert = client_cert
        self._label = label if label is not None else (urlsplit(base_url).netloc or base_url)
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def fetch_status(self) -> RemoteStatus:
        """Ask the service for its status.

        Returns:
            What the service reported.

        Raises:
            RemoteServiceError: Unreachable, too slow, TLS refused, HTTP/SOAP error or unreadable answer.
        """
        url = f"{self._base_url}/status"
        client = self._get_client()
        try:
            response = client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            _log.warning("GET %s failed: %s: %s", url, type(exc).__name__, exc)
            raise translate_transport_error(exc, self._label) from exc
        _log.debug("GET %s -> %d", url, response.status_code)
        if response.status_code != 200:
            raise self._http_error(response)
        return self._parse_status(response)

    # internals

    def _get_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(verify=self._ssl_context(), timeout=self._timeout)
            return self._client

    def _ssl_context(self) -> ssl.SSLContext:
        return client_ssl_context(self._ca_cert, self._client_cert, self._label)

    def _http_error(self, response: httpx.Response) -> RemoteServiceError:
        status = response.status_code
        content_type = response.headers.get("content-type", "")
        fault = parse_soap_fault(response.content) if "xml" in content_type else None
        if fault is not None:
            _log.warning(
                "SOAP fault from %s: HTTP %d, %s, code=%s, severite=%s, messageID=%s",
                self._label,
                status,
                fault.fault_code,
                fault.code,
                fault.severity,
                fault.message_id,
            )
            return soap_fault_error(fault, self._label)
        _log.warning("HTTP %d from %s", status, self._label)
        return http_status_error(status, self._label)

    def _parse_status(self, response: httpx.Response) -> RemoteStatus:
        try:
            payload = json.loads(response.content)
            if not isinstance(payload, dict):
                raise ValueError("not a JSON object")
            service, version, time_text = payload["service"], payload["version"], payload["time"]
            if not (isinstance(service, str) and isinstance(version, str) and isinstance(time_text, str)):
                raise ValueError("service, version and time must be strings")
            when = dt.datetime.fromisoformat(time_text)
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            _log.warning("Unreadable status from %s: %s", self._label, exc)
            raise RemoteServiceError(
                f"Le service {self._label} a renvoyé une réponse illisible. "
                "Si le problème persiste, contactez l'assistance.",
                retryable=False,
            ) from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)  # a naive time from a service is taken as UTC
        return RemoteStatus(service=service, version=version, time=when)
