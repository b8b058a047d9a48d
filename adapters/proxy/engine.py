"""Proxy e-santé engine: PSC sessions (CIBA or delegated token), RFC 8693 exchange per backend, mTLS pass-through."""

from __future__ import annotations

import base64
import collections
import datetime as dt
import hashlib
import json
import logging
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography import x509

from adapters.psc.client import OidcProSanteConnect, PscClientConfig
from adapters.status_probe import translate_transport_error
from domain.errors import AuthenticationRequired, InvalidInput, NotFound, RemoteServiceError
from domain.psc import PSC_ACR, PSC_SCOPE, PscSignInRefused

_log = logging.getLogger("lgc.proxy")

GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN
GRANT_CIBA = "urn:openid:params:grant-type:ciba"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN
_FORWARDED_HEADERS = ("content-type", "accept", "accept-language", "soapaction", "if-match", "if-none-match")
_RETURNED_HEADERS = ("content-type", "etag", "location", "last-modified", "www-authenticate")
_MAX_TRACES = 10_000
_EXPIRY_MARGIN_S = 30.0


@dataclass(frozen=True, slots=True)
class BackendConfig:
    """A backend of the Espace de confiance.

    Attributes:
        name: ``/send/<name>/…``.
        url: Base URL of its API.
        token_endpoint: Its token-exchange endpoint.
        audience: ``audience`` of the exchange ("" for the name).
        ca_cert: CA to trust (None for the system store).
    """

    name: str
    url: str
    token_endpoint: str
    audience: str = ""
    ca_cert: Path | None = None


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """How the proxy reaches PSC and the backends.

    Attributes:
        psc_issuer: PSC issuer (discovery, CIBA, introspection, refresh).
        psc_ca_cert: CA to trust for PSC.
        client_id: The proxy's client at PSC and at the backends.
        client_secret: Its PSC secret ("" when PSC authenticates it by certificate).
        client_cert: ``(cert, key)`` of the proxy: mutual TLS; its hash binds the exchanged tokens.
        backends: The backends by name.
        timeout_s: Network timeout.
        ciba_timeout_s: How long the practitioner has to approve on the e-CPS app.
    """

    psc_issuer: str
    psc_ca_cert: Path | None
    client_id: str
    client_secret: str
    client_cert: tuple[Path, Path]
    backends: Mapping[str, BackendConfig]
    timeout_s: float = 15.0
    ciba_timeout_s: float = 120.0


@dataclass
class _Session:
    national_id: str
    access_token: str
    refresh_token: str
    expires_at: float
    created_at: float
    mode: str
    backend_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A backend's answer, as the proxy returns it."""

    status: int
    headers: dict[str, str]
    body: bytes


class ProxyEngine:
    """The Proxy e-santé logic (no HTTP server here: see ``adapters.proxy.server``). Thread-safe."""

    def __init__(self, config: ProxyConfig, *, now: Callable[[], float] = time.time) -> None:
        """Configure the engine; connections open on first use."""
        self._config = config
        self._now = now
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._traces: collections.deque[dict[str, Any]] = collections.deque(maxlen=_MAX_TRACES)
        self._psc = OidcProSanteConnect(
            PscClientConfig(
                issuer=config.psc_issuer,
                client_id=config.client_id,
                client_secret=config.client_secret,
                ca_cert=config.psc_ca_cert,
                client_cert=None if config.client_secret else config.client_cert,
                timeout_s=config.timeout_s,
            ),
            now=now,
        )
        self._psc_http: httpx.Client | None = None
        self._backend_http: dict[str, httpx.Client] = {}
        self._cert_thumbprint = _thumbprint(config.client_cert[0])

    # -- sessions ------------------------------------------------------------------------------------

    def connect_ciba(self, login_hint: str, binding_message: str = "") -> str:
        """Authenticate the practitioner by CIBA (approval on the e-CPS app); return the proxy session id.

        Raises:
            InvalidInput: No login hint.
            PscSignInRefused: PSC refused, or the practitioner did not approve in time.
            RemoteServiceError: PSC unreachable.
        """
        hint = login_hint.strip()
        if not hint or len(hint) > 64:
            raise InvalidInput(
                {"login_hint": "Identifiant national du professionnel (login_hint) manquant ou invalide."}
            )
        meta = self._psc.metadata()
        form = {"scope": PSC_SCOPE, "acr_values": PSC_ACR, "login_hint": hint}
        if binding_message:
            form["binding_message"] = binding_message[:64]
        started = self._post_psc(_endpoint(meta, "backchannel_authentication_endpoint"), form)
        if started.status_code != 200:
            self._trace("connect", outcome="refus", detail={"mode": "ciba", "erreur": _oauth_error(started)})
            raise PscSignInRefused(
                f"Pro Santé Connect a refusé la demande d'authentification CIBA ({_oauth_error(started)}).",
                reason="ciba",
            )
        request = _json(started)
        auth_req_id = str(request.get("auth_req_id", ""))
        interval = float(request.get("interval", 2) or 2)
        deadline = time.monotonic() + min(float(request.get("expires_in", 120) or 120), self._config.ciba_timeout_s)
        while True:
            answer = self._post_psc(
                _endpoint(meta, "token_endpoint"), {"grant_type": GRANT_CIBA, "auth_req_id": auth_req_id}
            )
            if answer.status_code == 200:
                break
            error = _oauth_error(answer)
            if error == "slow_down":
                interval += 5
            elif error != "authorization_pending":
                self._trace("connect", outcome="refus", detail={"mode": "ciba", "erreur": error})
                raise PscSignInRefused(f"Authentification CIBA refusée par Pro Santé Connect ({error}).", reason="ciba")
            if time.monotonic() + interval > deadline:
                self._trace("connect", outcome="expire", detail={"mode": "ciba"})
                raise PscSignInRefused(
                    "Le professionnel n'a pas validé la connexion sur son e-CPS dans le délai imparti.", reason="ciba"
                )
            time.sleep(interval)
        tokens = _json(answer)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise PscSignInRefused(
                "Pro Santé Connect n'a pas renvoyé de jeton d'identité (CIBA).", reason="no_id_token"
            )
        claims = self._psc.verify_id_token(id_token, nonce=None, access_token=str(tokens["access_token"]))
        national_id = str(claims.get("preferred_username") or claims.get("sub"))
        return self._open(national_id, tokens, mode="ciba")

    def connect_delegated(self, access_token: str, refresh_token: str = "") -> str:
        """Open a proxy session with a PSC access token the application already holds (checked by introspection).

        Raises:
            AuthenticationRequired: The token is not active at PSC.
        """
        if not access_token:
            raise InvalidInput({"access_token": "Jeton d'accès Pro Santé Connect manquant."})
        claims = self._introspect(access_token)
        if not claims.get("active"):
            self._trace("connect", outcome="refus", detail={"mode": "delegue", "erreur": "jeton inactif"})
            raise AuthenticationRequired("Le jeton Pro Santé Connect transmis n'est pas (ou plus) valide.")
        national_id = str(claims.get("preferred_username") or claims.get("sub") or "")
        expires_in = float(claims.get("exp", self._now() + 60)) - self._now()
        tokens = {"access_token": access_token, "refresh_token": refresh_token, "expires_in": expires_in}
        return self._open(national_id, tokens, mode="delegue")

    def _open(self, national_id: str, tokens: Mapping[str, Any], *, mode: str) -> str:
        session_id = secrets.token_urlsafe(24)
        now = self._now()
        session = _Session(
            national_id=national_id,
            access_token=str(tokens["access_token"]),
            refresh_token=str(tokens.get("refresh_token") or ""),
            expires_at=now + float(tokens.get("expires_in", 300) or 300),
            created_at=now,
            mode=mode,
        )
        with self._lock:
            self._sessions[session_id] = session
        self._trace("connect", session_id=session_id, national_id=national_id, detail={"mode": mode})
        return session_id

    def disconnect(self, session_id: str) -> None:
        """Close a session: forget its tokens and revoke its PSC refresh token.

        Raises:
            NotFound: Unknown session.
        """
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None:
            raise NotFound("Session du proxy inconnue ou déjà fermée.")
        meta = self._psc.metadata()
        revocation = meta.get("revocation_endpoint")
        if isinstance(revocation, str) and session.refresh_token:
            try:
                self._post_psc(revocation, {"token": session.refresh_token, "token_type_hint": "refresh_token"})
            except RemoteServiceError:
                _log.warning("PSC revocation failed at disconnect")
        self._trace("disconnect", session_id=session_id, national_id=session.national_id)

    def session_info(self, session_id: str) -> dict[str, Any]:
        """What the proxy knows of a session (no token)."""
        session = self._session(session_id)
        return {
            "praticien": session.national_id,
            "mode": session.mode,
            "expire": _iso(session.expires_at),
            "services": sorted(session.backend_tokens),
        }

    # -- exchange and pass-through ---------------------------------------------------------------------

    def backend_token(self, session_id: str, backend: str) -> str:
        """The session's token for ``backend`` (RFC 8693 exchange of the PSC token, cached until it expires).

        Raises:
            NotFound: Unknown session or backend.
            AuthenticationRequired: The PSC session ended.
            RemoteServiceError: The backend refused or is unreachable.
        """
        session = self._session(session_id)
        config = self._backend(backend)
        with session.lock:
            cached = session.backend_tokens.get(backend)
            if cached is not None and cached[1] - _EXPIRY_MARGIN_S > self._now():
                return cached[0]
            subject = self._psc_token(session_id, session)
            form = {
                "grant_type": GRANT_TOKEN_EXCHANGE,
                "subject_token": subject,
                "subject_token_type": ACCESS_TOKEN_TYPE,
                "subject_issuer": "psc",
                "requested_token_type": ACCESS_TOKEN_TYPE,
                "audience": config.audience or config.name,
                "client_id": self._config.client_id,
            }
            response = self._request(
                config.name, "POST", config.token_endpoint, content=urlencode(form).encode(), form=True
            )
            if response.status_code != 200:
                error = _oauth_error(response)
                self._trace(
                    "echange", session_id, session.national_id, backend, outcome="refus", status=response.status_code
                )
                raise RemoteServiceError(
                    f"Le service {backend} a refusé l'échange du jeton Pro Santé Connect ({error}).",
                    retryable=response.status_code >= 500,
                )
            answer = _json(response)
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                raise RemoteServiceError(f"Le service {backend} n'a pas renvoyé de jeton.", retryable=False)
            cnf = answer.get("cnf")
            bound = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
            if bound is not None and bound != self._cert_thumbprint:
                raise RemoteServiceError(
                    f"Le jeton du service {backend} est lié à un autre certificat que celui du proxy.", retryable=False
                )
            lifetime = float(answer.get("expires_in", 300) or 300)
            session.backend_tokens[backend] = (token, self._now() + lifetime)
        self._trace(
            "echange", session_id, session.national_id, backend, detail={"lie_au_certificat": bound is not None}
        )
        return token

    def send(
        self,
        session_id: str,
        backend: str,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Forwarded:
        """Forward one request to ``backend`` with the session's exchanged token, over mutual TLS.

        A 401 from the backend triggers one new exchange and one retry.

        Raises:
            NotFound: Unknown session or backend.
            AuthenticationRequired: The PSC session ended.
            RemoteServiceError: The backend is unreachable.
        """
        config = self._backend(backend)
        session = self._session(session_id)
        if ".." in path.split("/"):
            raise InvalidInput("Chemin de service invalide.")
        url = config.url.rstrip("/") + "/" + path.lstrip("/")
        forwarded = {k: v for k, v in headers.items() if k.lower() in _FORWARDED_HEADERS}
        response: httpx.Response | None = None
        for attempt in (1, 2):
            token = self.backend_token(session_id, backend)
            response = self._request(
                backend, method, url, content=body, headers={**forwarded, "Authorization": f"Bearer {token}"}
            )
            if response.status_code != 401 or attempt == 2:
                break
            with session.lock:
                session.backend_tokens.pop(backend, None)
        assert response is not None
        self._trace(
            "send",
            session_id,
            session.national_id,
            backend,
            status=response.status_code,
            detail={"methode": method, "chemin": "/" + path.lstrip("/").split("?")[0]},
        )
        kept = {k: v for k, v in response.headers.items() if k.lower() in _RETURNED_HEADERS}
        return Forwarded(response.status_code, kept, response.content)

    # -- traces --------------------------------------------------------------------------------------

    def traces(self, start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Traces of connect/disconnect/exchange/send between ``start`` and ``end`` (oldest first)."""
        with self._lock:
            items = list(self._traces)
        return [t for t in items if (start is None or t["_at"] >= start) and (end is None or t["_at"] <= end)]

    def _trace(
        self,
        operation: str,
        session_id: str = "",
        national_id: str = "",
        backend: str = "",
        *,
        outcome: str = "ok",
        status: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        at = dt.datetime.fromtimestamp(self._now(), dt.UTC)
        trace: dict[str, Any] = {
            "_at": at,
            "horodatage": at.isoformat(timespec="milliseconds"),
            "operation": operation,
            "resultat": outcome,
            "session": session_id[:8],
            "praticien": national_id,
            "service": backend,
        }
        if status is not None:
            trace["statut_http"] = status
        if detail:
            trace.update(detail)
        with self._lock:
            self._traces.append(trace)
        _log.info("Proxy %s %s %s %s", operation, backend or "-", outcome, status if status is not None else "")

    # -- internals -----------------------------------------------------------------------------------

    def _session(self, session_id: str) -> _Session:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise NotFound("Session du proxy inconnue ou fermée : reconnectez-vous (POST /connect).")
        return session

    def _backend(self, name: str) -> BackendConfig:
        config = self._config.backends.get(name)
        if config is None:
            raise NotFound(f"Service « {name[:40]} » inconnu du proxy.")
        return config

    def _psc_token(self, session_id: str, session: _Session) -> str:
        if session.expires_at - _EXPIRY_MARGIN_S > self._now():
            return session.access_token
        if not session.refresh_token:
            self._end(session_id, session, "jeton PSC expiré")
        meta = self._psc.metadata()
        answer = self._post_psc(
            _endpoint(meta, "token_endpoint"), {"grant_type": "refresh_token", "refresh_token": session.refresh_token}
        )
        if answer.status_code != 200:
            self._end(session_id, session, "renouvellement refusé")
        tokens = _json(answer)
        session.access_token = str(tokens["access_token"])
        session.refresh_token = str(tokens.get("refresh_token") or session.refresh_token)
        session.expires_at = self._now() + float(tokens.get("expires_in", 300) or 300)
        session.backend_tokens.clear()
        return session.access_token

    def _end(self, session_id: str, session: _Session, why: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
        self._trace("disconnect", session_id, session.national_id, outcome="session_terminee", detail={"raison": why})
        raise AuthenticationRequired(f"La session Pro Santé Connect du proxy a pris fin ({why}) : reconnectez-vous.")

    def _introspect(self, token: str) -> dict[str, Any]:
        meta = self._psc.metadata()
        return _json(self._post_psc(_endpoint(meta, "introspection_endpoint"), {"token": token}))

    def _post_psc(self, url: str, form: Mapping[str, str]) -> httpx.Response:
        client = self._psc_client()
        data = dict(form)
        auth: httpx.Auth | None = None
        if self._config.client_secret:
            auth = httpx.BasicAuth(self._config.client_id, self._config.client_secret)
        else:
            data["client_id"] = self._config.client_id
        try:
            return client.post(
                url,
                content=urlencode(data).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            raise translate_transport_error(exc, "Pro Santé Connect") from exc

    def _request(
        self,
        backend: str,
        method: str,
        url: str,
        *,
        content: bytes,
        headers: Mapping[str, str] | None = None,
        form: bool = False,
    ) -> httpx.Response:
        client = self._backend_client(backend)
        all_headers = dict(headers or {})
        if form:
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            return client.request(method, url, content=content or None, headers=all_headers)
        except httpx.HTTPError as exc:
            _log.warning("Proxy %s %s failed: %s", method, backend, type(exc).__name__)
            raise translate_transport_error(exc, backend) from exc

    def _psc_client(self) -> httpx.Client:
        with self._lock:
            if self._psc_http is None:
                self._psc_http = httpx.Client(
                    verify=self._context(self._config.psc_ca_cert, with_cert=not self._config.client_secret),
                    timeout=httpx.Timeout(self._config.timeout_s),
                )
            return self._psc_http

    def _backend_client(self, backend: str) -> httpx.Client:
        with self._lock:
            client = self._backend_http.get(backend)
            if client is None:
                config = self._backend(backend)
                client = httpx.Client(
                    verify=self._context(config.ca_cert, with_cert=True), timeout=httpx.Timeout(self._config.timeout_s)
                )
                self._backend_http[backend] = client
            return client

    def _context(self, ca_cert: Path | None, *, with_cert: bool) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(cafile=str(ca_cert) if ca_cert else None)
            if with_cert:
                context.load_cert_chain(*self._config.client_cert)
        except (OSError, ssl.SSLError) as exc:
            raise RemoteServiceError(
                "Le certificat du proxy ou l'autorité de certification configurés sont introuvables ou illisibles.",
                retryable=False,
            ) from exc
        return context

    def close(self) -> None:
        """Close every connection and forget every session."""
        with self._lock:
            clients = [c for c in [self._psc_http, *self._backend_http.values()] if c is not None]
            self._psc_http, self._backend_http = None, {}
            self._sessions.clear()
        for client in clients:
            client.close()
        self._psc.close()


def _thumbprint(cert_path: Path) -> str:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise RemoteServiceError("Le certificat du proxy est introuvable ou illisible.", retryable=False) from exc
    from cryptography.hazmat.primitives.serialization import Encoding

    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _endpoint(meta: Mapping[str, Any], name: str) -> str:
    value = meta.get(name)
    if not isinstance(value, str) or not value.startswith("https://"):
        raise RemoteServiceError(f"Pro Santé Connect n'annonce pas de point d'accès « {name} ».", retryable=False)
    return value


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = json.loads(response.content)
    except ValueError as exc:
        raise RemoteServiceError("Réponse illisible d'un service de l'Espace de confiance.", retryable=False) from exc
    if not isinstance(payload, dict):
        raise RemoteServiceError("Réponse illisible d'un service de l'Espace de confiance.", retryable=False)
    return payload


def _oauth_error(response: httpx.Response) -> str:
    try:
        return str(json.loads(response.content).get("error", f"HTTP {response.status_code}"))[:60]
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")
