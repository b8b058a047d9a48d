"""Shared network plumbing of the HTTPS/SOAP adapters: TLS contexts, hardened XML parsing, error translation."""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
from lxml import etree

from domain.errors import RemoteServiceError

_log = logging.getLogger("lgc.net")

SOAP12_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SIRAM_NS = "urn:siram"
MAX_FAULT_TEXT = 300
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


def hardened_xml_parser() -> etree.XMLParser:
    """An lxml parser for documents from outside: no DTD, no entity expansion, no network, no huge tree.

    Returns:
        A new parser (lxml parsers are not thread-safe: one per call or per thread).
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
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
    try:
        root = etree.fromstring(body, hardened_xml_parser())
    except (etree.XMLSyntaxError, ValueError):
        return None
    return soap_fault_from_envelope(root)


def soap_fault_from_envelope(root: etree._Element) -> SoapFault | None:
    """Extract the Fault of an already parsed SOAP envelope, or None when it carries none."""
    fault = root.find(f"{{{SOAP12_ENV_NS}}}Body/{{{SOAP12_ENV_NS}}}Fault")
    if fault is not None:
        code_value = fault.findtext(f"{{{SOAP12_ENV_NS}}}Code/{{{SOAP12_ENV_NS}}}Value") or ""
        reason = fault.findtext(f"{{{SOAP12_ENV_NS}}}Reason/{{{SOAP12_ENV_NS}}}Text") or ""
    else:
        fault = root.find(f"{{{SOAP11_ENV_NS}}}Body/{{{SOAP11_ENV_NS}}}Fault")
        if fault is None:
            return None
        code_value = fault.findtext("faultcode") or ""
        reason = fault.findtext("faultstring") or ""
    erreur = next(fault.iter(f"{{{SIRAM_NS}}}Erreur"), None)
    return SoapFault(
        fault_code=code_value.strip().rpartition(":")[2],
        reason=reason.strip(),
        code=erreur.get("code") if erreur is not None else None,
        message_id=erreur.get("messageID") if erreur is not None else None,
        severity=erreur.get("severite") if erreur is not None else None,
        detail=((erreur.text or "").strip() or None) if erreur is not None else None,
    )


def soap_fault_error(fault: SoapFault, label: str) -> RemoteServiceError:
    """The port's error for a SOAP fault, with the ``siram:Erreur`` code and text in the French message."""
    text = (fault.detail or fault.reason or "erreur sans description")[:MAX_FAULT_TEXT]
    code = f" {fault.code}" if fault.code else ""
    retry = " Réessayez plus tard." if fault.server_side else ""
    return RemoteServiceError(
        f"Le service {label} a renvoyé l'erreur{code} : {text}{retry}",
        retryable=fault.server_side,
    )


def http_status_error(status: int, label: str) -> RemoteServiceError:
    """The port's error for an HTTP error status that carries no SOAP fault."""
    if status >= 500:
        return RemoteServiceError(
            f"Le service {label} rencontre une difficulté (erreur HTTP {status}). Réessayez plus tard.",
            retryable=True,
        )
    if status in {408, 429}:
        return RemoteServiceError(
            f"Le service {label} est surchargé (erreur HTTP {status}). Réessayez dans quelques instants.",
            retryable=True,
        )
    return RemoteServiceError(
        f"Le service {label} a refusé la demande (erreur HTTP {status}).",
        retryable=False,
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


def client_ssl_context(ca_cert: Path | None, client_cert: tuple[Path, Path] | None, label: str) -> ssl.SSLContext:
    """The TLS context of a client: the CA to trust and, for mutual TLS, the client certificate and key.

    Args:
        ca_cert: PEM file of the CA to trust, or None for the system trust store.
        client_cert: ``(cert_path, key_path)`` for mutual TLS, or None.
        label: How to name the service in messages.

    Raises:
        RemoteServiceError: A file is missing or unreadable (not retryable, French message).
    """
    try:
        context = ssl.create_default_context(cafile=str(ca_cert) if ca_cert is not None else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if client_cert is not None:
            cert_path, key_path = client_cert
            context.load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as exc:
        _log.error("Cannot load TLS material for %s: %s", label, exc)
        raise RemoteServiceError(
            f"Les certificats configurés pour le service {label} sont introuvables ou illisibles. "
            "Vérifiez la configuration.",
            retryable=False,
        ) from exc
    return context


class PooledClientOwner:
    """Owns one lazily created ``httpx.Client`` guarded by a lock: close and context-manager support.

    Subclasses set ``self._client = None`` and ``self._lock = threading.Lock()`` in ``__init__`` and create the
    client under the lock on first use.
    """

    _client: httpx.Client | None
    _lock: threading.Lock

    def close(self) -> None:
        """Close the pooled connections (reopened if the gateway is used again)."""
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
