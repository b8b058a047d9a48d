"""HTTPS status probe (httpx): implements StatusGateway and maps transport failures to RemoteServiceError."""

from __future__ import annotations

import datetime as dt
import json
import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import httpx
from lxml import etree

from domain.errors import RemoteServiceError
from domain.remote import RemoteStatus

_log = logging.getLogger("lgc.net")

_SOAP12_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
_SOAP11_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_SIRAM_NS = "urn:siram"
_MAX_FAULT_TEXT = 300
# OpenSSL alert names a server sends when it rejects (or did not get) our client certificate.
_CLIENT_CERT_REJECTED = (
    "CERTIFICATE_REQUIRED",
    "certificate required",
    "UNKNOWN_CA",
    "BAD_CERTIFICATE",
    "CERTIFICATE_UNKNOWN",
    "CERTIFICATE_EXPIRED",
    "CERTIFICATE_REVOKED",
)


@dataclass(frozen=True, slots=True)
class SoapFault:
    """The useful part of a SOAP Fault, with the CNAM ``siram:Erreur`` detail when present.

    Attributes:
        fault_code: ``Sender``/``Receiver`` (SOAP 1.2) or ``Client``/``Server`` (SOAP 1.1), prefix removed.
        reason: The fault reason text.
        code: ``siram:Erreur/@code`` (``SIRAM_100``, ``DESIR_560``…), else None.
        message_id: ``siram:Erreur/@messageID``, else None.
        severity: ``siram:Erreur/@severite``, else None.
        detail: Text of ``siram:Erreur``, else None.
    """

    fault_code: str
    reason: str
    code: str | None = None
    message_id: str | None = None
    severity: str | None = None
    detail: str | None = None

    @property
    def server_side(self) -> bool:
        """True when the fault blames the service rather than the request (trying again may help)."""
        return self.fault_code in {"Receiver", "Server"}


def parse_soap_fault(body: bytes) -> SoapFault | None:
    """Extract a SOAP 1.2 (or 1.1) Fault from a response body.

    Args:
        body: The raw response body.

    Returns:
        The fault, or None when the body is not a SOAP envelope carrying a Fault.
    """
    # No DTD, no entity expansion, no network: the body comes from outside.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    fault = root.find(f"{{{_SOAP12_ENV_NS}}}Body/{{{_SOAP12_ENV_NS}}}Fault")
    if fault is not None:
        code_value = fault.findtext(f"{{{_SOAP12_ENV_NS}}}Code/{{{_SOAP12_ENV_NS}}}Value") or ""
        reason = fault.findtext(f"{{{_SOAP12_ENV_NS}}}Reason/{{{_SOAP12_ENV_NS}}}Text") or ""
    else:
        fault = root.find(f"{{{_SOAP11_ENV_NS}}}Body/{{{_SOAP11_ENV_NS}}}Fault")
        if fault is None:
            return None
        code_value = fault.findtext("faultcode") or ""
        reason = fault.findtext("faultstring") or ""
    erreur = next(fault.iter(f"{{{_SIRAM_NS}}}Erreur"), None)
    return SoapFault(
        fault_code=code_value.strip().rpartition(":")[2],
        reason=reason.strip(),
        code=erreur.get("code") if erreur is not None else None,
        message_id=erreur.get("messageID") if erreur is not None else None,
        severity=erreur.get("severite") if erreur is not None else None,
        detail=((erreur.text or "").strip() or None) if erreur is not None else None,
    )


def translate_transport_error(exc: httpx.HTTPError, label: str) -> RemoteServiceError:
    """Turn an httpx transport exception into the port's error, with a French message.

    Args:
        exc: What httpx raised.
        label: How to name the service to the user (``INSi``, ``127.0.0.1:8443``…).

    Returns:
        The error to raise (``retryable`` set when trying again later may help).
    """
    chain = _exception_chain(exc)
    if isinstance(exc, httpx.TimeoutException):
        return RemoteServiceError(
            f"Le service {label} ne répond pas (délai dépassé). Réessayez dans quelques instants.",
            retryable=True,
        )
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return RemoteServiceError(
            f"Le certificat présenté par le service {label} n'est pas reconnu : la connexion sécurisée "
            "a été refusée. Vérifiez l'autorité de certification configurée.",
            retryable=False,
        )
    ssl_errors = [e for e in chain if isinstance(e, ssl.SSLError)]
    texts = " ".join(str(e) for e in chain)
    if any(marker in texts for marker in _CLIENT_CERT_REJECTED):
        return RemoteServiceError(
            f"Le service {label} a refusé le certificat de ce poste (authentification mutuelle). "
            "Vérifiez le certificat configuré.",
            retryable=False,
        )
    if isinstance(exc, httpx.ConnectError) and ssl_errors:
        return RemoteServiceError(
            f"La connexion sécurisée au service {label} n'a pas pu être établie. Vérifiez la configuration du service.",
            retryable=False,
        )
    if isinstance(exc, httpx.ConnectError):
        return RemoteServiceError(
            f"Le service {label} est injoignable (connexion refusée ou impossible). "
            "Vérifiez la connexion réseau, puis réessayez.",
            retryable=True,
        )
    if isinstance(exc, httpx.TransportError):
        # ReadError, WriteError, RemoteProtocolError…: the peer dropped the connection mid-exchange.
        return RemoteServiceError(
            f"La connexion au service {label} a été interrompue. Réessayez dans quelques instants.",
            retryable=True,
        )
    return RemoteServiceError(
        f"La requête vers le service {label} n'a pas pu être envoyée. Vérifiez l'adresse configurée.",
        retryable=False,
    )


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


class HttpsStatusGateway:
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

    def close(self) -> None:
        """Close the pooled connections (the gateway reopens them if used again)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # internals

    def _get_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(verify=self._ssl_context(), timeout=self._timeout)
            return self._client

    def _ssl_context(self) -> ssl.SSLContext:
        try:
            if self._ca_cert is None:
                context = ssl.create_default_context()
            else:
                context = ssl.create_default_context(cafile=str(self._ca_cert))
            if self._client_cert is not None:
                cert_path, key_path = self._client_cert
                context.load_cert_chain(cert_path, key_path)
        except (OSError, ssl.SSLError) as exc:
            _log.error("Cannot load TLS material for %s: %s", self._label, exc)
            raise RemoteServiceError(
                f"Les certificats configurés pour le service {self._label} sont introuvables ou illisibles. "
                "Vérifiez la configuration.",
                retryable=False,
            ) from exc
        return context

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
            text = (fault.detail or fault.reason or "erreur sans description")[:_MAX_FAULT_TEXT]
            code = f" {fault.code}" if fault.code else ""
            retry = " Réessayez plus tard." if fault.server_side else ""
            return RemoteServiceError(
                f"Le service {self._label} a renvoyé l'erreur{code} : {text}{retry}",
                retryable=fault.server_side,
            )
        _log.warning("HTTP %d from %s", status, self._label)
        if status >= 500:
            return RemoteServiceError(
                f"Le service {self._label} rencontre une difficulté (erreur HTTP {status}). Réessayez plus tard.",
                retryable=True,
            )
        if status in {408, 429}:
            return RemoteServiceError(
                f"Le service {self._label} est surchargé (erreur HTTP {status}). Réessayez dans quelques instants.",
                retryable=True,
            )
        return RemoteServiceError(
            f"Le service {self._label} a refusé la demande (erreur HTTP {status}).",
            retryable=False,
        )

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
