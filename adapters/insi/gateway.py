"""SoapInsiGateway: the INSi teleservice over SOAP 1.2 (httpx), CPx/PSC assertion or organisation mutual TLS."""

from __future__ import annotations

import logging
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from adapters.insi.messages import (
    AssertionIssuer,
    AuthMode,
    BuiltRequest,
    InsiSoapFault,
    InsiSoftware,
    build_traits_request,
    build_vitale_request,
    parse_answer,
    unreadable,
)
from adapters.net import (
    PooledClientOwner,
    client_ssl_context,
    http_status_error,
    parse_soap_fault,
    soap_fault_error,
    translate_transport_error,
)
from domain.errors import AuthenticationRequired, InvalidInput, RemoteServiceError
from domain.insi import InsiAnswer, InsiCallContext, InsiQueryKind, InsiTraitsQuery, VitaleBeneficiary

_log = logging.getLogger("lgc.insi")

MAX_RESPONSE_BYTES = 2 * 1024 * 1024
"""An INSi answer is a few kilobytes; anything beyond 2 MB is refused unread."""

# siram:Erreur codes and HTTP statuses that mean "the card, the assertion or the certificate was refused".
_AUTH_HTTP_STATUSES = {401, 403}


@dataclass(frozen=True, slots=True)
class InsiAuth:
    """How the calls are authenticated.

    ``cps``: the practitioner's CPx card or Pro Santé Connect, through the SAML "assertion PS" in
    ``wsse:Security`` (server-authenticated TLS only). ``organisation``: the IGC-Santé organisation certificate
    (``INSI-AUTO``/``INSI-MANU``, centres de santé, INS/val.14) presented over mutual TLS.
    """

    mode: AuthMode = "cps"
    client_cert: Path | None = None
    client_key: Path | None = None

    @classmethod
    def cps(cls) -> InsiAuth:
        """CPx / Pro Santé Connect mode."""
        return cls("cps")

    @classmethod
    def organisation(cls, client_cert: Path, client_key: Path) -> InsiAuth:
        """Organisation certificate over mutual TLS."""
        return cls("organisation", client_cert, client_key)


class SoapInsiGateway(PooledClientOwner):
    """``InsiGateway`` over SOAP 1.2, per the CNAM WSDL DESIR_ICIR_EXP 1.5.0.

    Knows only a URL, the CA to trust and the authentication material. One pooled httpx client (and one TLS
    context) created on first use; thread-safe. Every request is validated against the XSD before it is
    sent; every answer is read with a size limit and parsed without DTD, entities or network access.
    """

    def __init__(
        self,
        endpoint_url: str,
        *,
        ca_cert: Path | None,
        timeout_s: float = 15.0,
        auth: InsiAuth | None = None,
        software: InsiSoftware | None = None,
        label: str = "INSi",
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        """Configure the gateway; nothing is opened until the first call.

        Args:
            endpoint_url: ``https://…/lps`` of the teleservice (or of its stand-in).
            ca_cert: PEM file of the CA to trust, or None for the system trust store.
            timeout_s: Connect, read, write and pool timeout, each, in seconds; the whole answer must also
                arrive within twice this time.
            auth: CPx/PSC (default) or organisation certificate over mutual TLS.
            software: How the software names itself in ``ContexteLPS``.
            label: How to name the service in messages.
            max_response_bytes: Answers larger than this are refused.

        Raises:
            InvalidInput: organisation mode without a certificate and key.
        """
        self._url = endpoint_url
        self._ca_cert = ca_cert
        self._timeout_s = timeout_s
        self._auth = auth or InsiAuth.cps()
        if self._auth.mode == "organisation" and (self._auth.client_cert is None or self._auth.client_key is None):
            raise InvalidInput(
                "INSi en mode certificat d'organisation : indiquez le certificat et la clé privée de la structure."
            )
        base = software or InsiSoftware()
        self._software = base if base.instance else InsiSoftware(base.idam, base.name, base.version, str(uuid.uuid4()))
        self._label = label
        self._max_bytes = max_response_bytes
        self._client: httpx.Client | None = None
        self._issuer: AssertionIssuer | None = None
        self._lock = threading.Lock()

    @property
    def auth_mode(self) -> AuthMode:
        """``cps`` or ``organisation``."""
        return self._auth.mode

    # -- the port -------------------------------------------------------------------------------------

    def search_by_traits(self, query: InsiTraitsQuery, context: InsiCallContext) -> InsiAnswer:
        """rechercherInsAvecTraitsIdentite.

        Raises:
            InvalidInput: the traits cannot be sent; AuthenticationRequired: no card/assertion, or refused;
            RemoteServiceError: timeout, transport failure, SOAP fault, unreadable answer (French message).
        """
        client, issuer = self._prepare(context)
        request = build_traits_request(query, context, self._software, issuer)
        return self._exchange(client, request, InsiQueryKind.TRAITS)

    def search_by_vitale(self, beneficiary: VitaleBeneficiary, context: InsiCallContext) -> InsiAnswer:
        """rechercherInsAvecCarteVitale (same errors as :meth:`search_by_traits`)."""
        client, issuer = self._prepare(context)
        request = build_vitale_request(beneficiary, context, self._software, issuer)
        return self._exchange(client, request, InsiQueryKind.VITALE)

    # -- internals ------------------------------------------------------------------------------------

    def _prepare(self, context: InsiCallContext) -> tuple[httpx.Client, AssertionIssuer]:
        if self._auth.mode == "cps" and not context.practitioner_id:
            raise AuthenticationRequired(
                "Interroger INSi demande la carte CPS (ou e-CPS / Pro Santé Connect) d'un professionnel : "
                "l'utilisateur connecté n'en a pas. Connectez-vous avec votre carte, ou configurez le certificat "
                "d'organisation de la structure."
            )
        with self._lock:
            if self._client is None:
                context_tls = self._ssl_context()
                self._client = httpx.Client(
                    verify=context_tls,
                    timeout=httpx.Timeout(self._timeout_s),
                    headers={"User-Agent": f"{self._software.name}/{self._software.version}"},
                )
            if self._issuer is None:
                self._issuer = AssertionIssuer(self._auth.mode, self._organisation_subject())
            return self._client, self._issuer

    def _ssl_context(self) -> ssl.SSLContext:
        cert = None
        if self._auth.mode == "organisation" and self._auth.client_cert and self._auth.client_key:
            cert = (self._auth.client_cert, self._auth.client_key)
        return client_ssl_context(self._ca_cert, cert, self._label)

    def _organisation_subject(self) -> str:
        if self._auth.mode != "organisation" or self._auth.client_cert is None:
            return ""
        from cryptography import x509

        try:
            certificate = x509.load_pem_x509_certificate(self._auth.client_cert.read_bytes())
        except (OSError, ValueError) as exc:
            raise RemoteServiceError(
                f"Le certificat d'organisation configuré pour le service {self._label} est illisible.",
                retryable=False,
            ) from exc
        return certificate.subject.rfc4514_string()

    def _exchange(self, client: httpx.Client, request: BuiltRequest, kind: InsiQueryKind) -> InsiAnswer:
        headers = {
            "Content-Type": f'application/soap+xml; charset=utf-8; action="{request.action}"',
            "Accept": "application/soap+xml, text/xml",
        }
        started = time.monotonic()
        status, content_type, data = self._post(client, request, headers)
        elapsed_ms = (time.monotonic() - started) * 1000
        _log.info(
            "INSi %s %s -> HTTP %d, %d bytes, %.0f ms", kind.value, request.message_id, status, len(data), elapsed_ms
        )
        if status in _AUTH_HTTP_STATUSES:
            raise AuthenticationRequired(
                f"Le service {self._label} a refusé l'authentification (erreur HTTP {status}) : vérifiez la carte "
                "CPS ou le certificat d'organisation."
            )
        if status != 200:
            fault = parse_soap_fault(data) if "xml" in content_type else None
            if fault is not None:
                self._log_fault(status, fault.fault_code, fault.code, fault.severity, fault.message_id)
                raise soap_fault_error(fault, self._label)
            _log.warning("HTTP %d from %s", status, self._label)
            raise http_status_error(status, self._label)
        try:
            parsed = parse_answer(data, self._label)
        except InsiSoapFault as exc:
            fault = exc.fault
            self._log_fault(status, fault.fault_code, fault.code, fault.severity, fault.message_id)
            raise soap_fault_error(fault, self._label) from None
        return InsiAnswer(
            code=parsed.code,
            label=parsed.label,
            identity=parsed.identity,
            message_id=request.message_id,
            kind=kind,
        )

    def _post(self, client: httpx.Client, request: BuiltRequest, headers: dict[str, str]) -> tuple[int, str, bytes]:
        deadline = time.monotonic() + 2 * self._timeout_s
        try:
            with client.stream("POST", self._url, content=request.body, headers=headers) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self._max_bytes:
                    raise self._too_large(int(declared))
                chunks: list[bytes] = []
                total = 0
                for chunk in response.iter_bytes():
                    total += len(chunk)
                    if total > self._max_bytes:
                        raise self._too_large(total)
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("answer trickling in beyond the deadline")
                    chunks.append(chunk)
                return response.status_code, response.headers.get("content-type", ""), b"".join(chunks)
        except httpx.HTTPError as exc:
            _log.warning("POST %s (%s) failed: %s: %s", self._url, request.message_id, type(exc).__name__, exc)
            raise translate_transport_error(exc, self._label) from exc

    def _too_large(self, size: int) -> RemoteServiceError:
        _log.warning("INSi answer refused: %d bytes or more (limit %d)", size, self._max_bytes)
        limit_mb = self._max_bytes / (1024 * 1024)
        return unreadable(self._label, f"réponse trop volumineuse, plus de {limit_mb:g} Mo : elle a été ignorée")

    def _log_fault(self, status: int, fault_code: str, code: str | None, severity: str | None, mid: str | None) -> None:
        _log.warning(
            "SOAP fault from %s: HTTP %d, %s, code=%s, severite=%s, messageID=%s",
            self._label,
            status,
            fault_code,
            code,
            severity,
            mid,
        )
