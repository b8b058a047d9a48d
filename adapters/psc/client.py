"""OpenID Connect client of Pro Santé Connect (authorization code + PKCE for a native app, RFC 8252)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from adapters.status_probe import translate_transport_error
from domain.errors import RemoteServiceError
from domain.psc import (
    PSC_ACR,
    PSC_SCOPE,
    AuthorizationRequest,
    PscIdentity,
    PscSession,
    PscSignInRefused,
    PscTokens,
    parse_userinfo,
)

_log = logging.getLogger("lgc.psc")

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
"""Asymmetric signatures only: ``none`` and HMAC (which a public JWKS would let anyone forge) are refused."""

_MAX_RESPONSE = 1024 * 1024
_JWKS_REFRESH_MIN_S = 10.0  # an unknown ``kid`` re-reads the JWKS at most this often (key rotation)
_LABEL = "Pro Santé Connect"


@dataclass(frozen=True, slots=True)
class PscClientConfig:
    """How to reach Pro Santé Connect (or a stand-in, or any OpenID provider).

    Attributes:
        issuer: The expected ``iss`` (e.g. ``https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet``).
        client_id: The client registered with PSC.
        client_secret: Its secret for ``client_secret_basic``, or "" for a public client (PKCE only).
        discovery_url: The discovery document; ``<issuer>/.well-known/openid-configuration`` when "".
        ca_cert: PEM file of the CA to trust, or None for the system store.
        client_cert: ``(cert, key)`` PEM files for mutual TLS, if the provider requires it.
        timeout_s: Connect/read/write/pool timeout, each.
        clock_skew_s: Tolerance on ``exp``/``iat``/``nbf`` for a workstation clock slightly off.
        scope: Requested scopes.
        acr: ``acr_values`` sent and ``acr`` required in the ID token ("" to require nothing).
    """

    issuer: str
    client_id: str
    client_secret: str = ""
    discovery_url: str = ""
    ca_cert: Path | None = None
    client_cert: tuple[Path, Path] | None = None
    timeout_s: float = 15.0
    clock_skew_s: float = 120.0
    scope: str = PSC_SCOPE
    acr: str = PSC_ACR


class OidcProSanteConnect:
    """``ProSanteConnect`` over HTTPS with httpx; ID tokens verified with joserfc against the JWKS.

    Thread-safe; the discovery document and the JWKS are cached (the JWKS is re-read when a token names a
    key it does not hold: key rotation).
    """

    def __init__(
        self,
        config: PscClientConfig,
        *,
        now: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """Configure the client; nothing is opened until the first call.

        Args:
            config: Where the provider is and who we are.
            now: Current time in seconds since the epoch (tests move it).
            transport: An httpx transport (tests only).
        """
        self._config = config
        self._now = now
        self._transport = transport
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._missed_kids: dict[str, float] = {}

    # -- the port ---------------------------------------------------------------------------------------

    def begin(self, redirect_uri: str) -> AuthorizationRequest:
        """Build the authorization URL with state, nonce, PKCE S256, ``acr_values`` (see the port)."""
        meta = self.metadata()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        params = {
            "response_type": "code",
            "client_id": self._config.client_id,
            "redirect_uri": redirect_uri,
            "scope": self._config.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        if self._config.acr:
            params["acr_values"] = self._config.acr
        url = str(add_params_to_uri(self._endpoint(meta, "authorization_endpoint"), list(params.items())))
        return AuthorizationRequest(url, state, nonce, verifier, redirect_uri)

    def complete(self, request: AuthorizationRequest, callback: Mapping[str, str]) -> PscSession:
        """Check state, exchange the code, verify the ID token, read UserInfo (see the port)."""
        state = callback.get("state", "")
        if not hmac.compare_digest(state.encode(), request.state.encode()):
            raise PscSignInRefused(
                "La réponse de Pro Santé Connect ne correspond pas à la demande de connexion de ce poste "
                "(paramètre « state » différent) : connexion refusée. Recommencez la connexion.",
                reason="state",
            )
        if "error" in callback:
            raise _authorize_error(callback)
        code = callback.get("code", "")
        if not code:
            raise PscSignInRefused(
                "Pro Santé Connect n'a pas renvoyé de code d'autorisation : connexion refusée.", reason="no_code"
            )
        meta = self.metadata()
        answer = self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": request.redirect_uri,
                "code_verifier": request.code_verifier,
            },
            meta,
            refresh=False,
        )
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise PscSignInRefused("Pro Santé Connect n'a pas renvoyé de jeton d'identité.", reason="no_id_token")
        claims = self.verify_id_token(id_token, nonce=request.nonce, access_token=str(answer["access_token"]))
        identity = self._userinfo(str(answer["access_token"]), meta, expected_sub=str(claims["sub"]))
        return PscSession(identity, self._tokens(answer, id_token=id_token), claims)

    def refresh(self, session: PscSession) -> PscSession:
        """Renew the tokens; a new ID token, if any, is verified and must name the same person."""
        if not session.tokens.refresh_token:
            raise PscSignInRefused(
                "La session Pro Santé Connect ne peut pas être prolongée : reconnectez-vous.", reason="no_refresh"
            )
        meta = self.metadata()
        answer = self._token_request(
            {"grant_type": "refresh_token", "refresh_token": session.tokens.refresh_token, "scope": self._config.scope},
            meta,
            refresh=True,
        )
        id_token = answer.get("id_token")
        claims: Mapping[str, Any] = session.id_token_claims
        if isinstance(id_token, str):
            claims = self.verify_id_token(id_token, nonce=None, access_token=str(answer["access_token"]))
            if claims.get("sub") != session.identity.subject:
                raise PscSignInRefused(
                    "Le jeton renouvelé par Pro Santé Connect désigne une autre personne : session fermée.",
                    reason="sub_changed",
                )
        else:
            id_token = session.tokens.id_token
        tokens = self._tokens(answer, id_token=id_token, previous_refresh=session.tokens.refresh_token)
        return PscSession(session.identity, tokens, claims)

    def end_session_url(self, session: PscSession, post_logout_redirect_uri: str | None = None) -> str:
        """The ``end_session_endpoint`` URL with ``id_token_hint`` (and ``client_id``)."""
        meta = self.metadata()
        params = [("id_token_hint", session.tokens.id_token), ("client_id", self._config.client_id)]
        if post_logout_redirect_uri:
            params.append(("post_logout_redirect_uri", post_logout_redirect_uri))
        return str(add_params_to_uri(self._endpoint(meta, "end_session_endpoint"), params))

    def logout(self, session: PscSession) -> None:
        """Call end_session with ``id_token_hint`` (no redirect followed), then revoke the refresh token."""
        meta = self.metadata()
        url = self.end_session_url(session)
        response = self._http("GET", url)
        if response.status_code >= 400:
            _log.warning("PSC end_session answered HTTP %d", response.status_code)
            raise RemoteServiceError(
                f"Pro Santé Connect n'a pas confirmé la déconnexion (erreur HTTP {response.status_code}). "
                "La session locale est fermée.",
                retryable=response.status_code >= 500,
            )
        revocation = meta.get("revocation_endpoint")
        if isinstance(revocation, str) and session.tokens.refresh_token:
            self._http(
                "POST",
                revocation,
                data={"token": session.tokens.refresh_token, "token_type_hint": "refresh_token", **self._client_auth()},
                auth=self._basic_auth(),
            )

    # -- checks --------------------------------------------------------------------------------------

    def verify_id_token(self, token: str, *, nonce: str | None, access_token: str | None = None) -> dict[str, Any]:
        """Verify an ID token: algorithm, signature (JWKS), iss, aud/azp, exp/iat/nbf with skew, nonce, acr.

        Args:
            token: The compact JWS.
            nonce: The nonce sent, or None when no nonce is expected (refresh).
            access_token: When given and the token has ``at_hash``, check that it matches.

        Returns:
            The verified claims.

        Raises:
            PscSignInRefused: Any check fails (``reason`` names which).
        """
        header = _jose_header(token)
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            _log.warning("PSC ID token refused: algorithm %r", alg)
            raise PscSignInRefused(
                "Le jeton d'identité reçu n'est pas signé de façon acceptable (algorithme "
                f"« {alg} » refusé) : connexion refusée.",
                reason="algorithm",
            )
        keys = self._keys_for(header.get("kid"))
        try:
            decoded = jwt.decode(token, keys, algorithms=list(ALLOWED_ALGORITHMS))
        except JoseError as exc:
            _log.warning("PSC ID token signature refused: %s", type(exc).__name__)
            raise PscSignInRefused(
                "La signature du jeton d'identité n'a pas pu être vérifiée avec les clés publiées par "
                "Pro Santé Connect : connexion refusée.",
                reason="signature",
            ) from exc
        claims = dict(decoded.claims)
        self._check_claims(claims, nonce)
        at_hash = claims.get("at_hash")
        if access_token is not None and isinstance(at_hash, str) and at_hash != _at_hash(access_token, str(alg)):
            raise PscSignInRefused(
                "Le jeton d'identité ne correspond pas au jeton d'accès reçu : connexion refusée.", reason="at_hash"
            )
        return claims

    def _check_claims(self, claims: dict[str, Any], nonce: str | None) -> None:
        meta = self.metadata()
        skew = self._config.clock_skew_s
        now = self._now()
        if claims.get("iss") != meta.get("issuer") or claims.get("iss") != self._config.issuer:
            raise PscSignInRefused(
                "Le jeton d'identité n'a pas été émis par Pro Santé Connect (émetteur inattendu) : connexion refusée.",
                reason="issuer",
            )
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self._config.client_id not in audiences or (
            len(audiences) > 1 and claims.get("azp") != self._config.client_id
        ):
            raise PscSignInRefused(
                "Le jeton d'identité n'est pas destiné à ce logiciel (audience inattendue) : connexion refusée.",
                reason="audience",
            )
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise PscSignInRefused("Le jeton d'identité est incomplet (dates absentes).", reason="claims")
        if exp + skew < now:
            raise PscSignInRefused(
                "Le jeton d'identité reçu a expiré. Vérifiez la date et l'heure de ce poste, puis reconnectez-vous.",
                reason="expired",
            )
        nbf = claims.get("nbf")
        if iat - skew > now or (isinstance(nbf, int | float) and nbf - skew > now):
            raise PscSignInRefused(
                "Le jeton d'identité reçu est daté dans le futur : l'horloge de ce poste semble fausse. "
                "Corrigez la date et l'heure, puis reconnectez-vous.",
                reason="clock",
            )
        if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
            raise PscSignInRefused(
                "Le jeton d'identité ne correspond pas à la demande de connexion de ce poste (« nonce » différent) : "
                "connexion refusée.",
                reason="nonce",
            )
        if self._config.acr and claims.get("acr") != self._config.acr:
            raise PscSignInRefused(
                f"Le niveau d'authentification obtenu (« {claims.get('acr', 'aucun')} ») est insuffisant : "
                "une authentification e-CPS ou carte CPS est nécessaire.",
                reason="acr",
            )
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise PscSignInRefused("Le jeton d'identité ne désigne personne : connexion refusée.", reason="claims")

    # -- discovery and keys --------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (read once).

        Raises:
            RemoteServiceError: Unreachable, or not a discovery document of the configured issuer.
        """
        with self._lock:
            if self._metadata is not None:
                return self._metadata
        url = self._config.discovery_url or self._config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        payload = self._json(self._http("GET", url), "le document de découverte")
        if payload.get("issuer") != self._config.issuer:
            _log.error("PSC discovery issuer %r differs from configured %r", payload.get("issuer"), self._config.issuer)
            raise RemoteServiceError(
                "Le service Pro Santé Connect configuré annonce un autre émetteur que celui attendu. "
                "Vérifiez la configuration.",
                retryable=False,
            )
        with self._lock:
            self._metadata = payload
        return payload

    def _keys_for(self, kid: object) -> KeySet:
        with self._lock:
            keys = self._keys
            missed_at = self._missed_kids.get(kid) if isinstance(kid, str) else None
        if keys is not None and (not isinstance(kid, str) or _has_kid(keys, kid)):
            return keys
        if keys is not None and missed_at is not None and time.monotonic() - missed_at < _JWKS_REFRESH_MIN_S:
            # An unknown kid re-reads the JWKS once per interval: a forged kid must not hammer the provider.
            return keys
        uri = self._endpoint(self.metadata(), "jwks_uri")
        payload = self._json(self._http("GET", uri), "les clés publiques")
        try:
            fresh = KeySet.import_key_set(payload)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise RemoteServiceError(
                "Les clés publiques de Pro Santé Connect sont illisibles.", retryable=True
            ) from exc
        with self._lock:
            self._keys = fresh
            if isinstance(kid, str) and not _has_kid(fresh, kid):
                self._missed_kids[kid] = time.monotonic()
        return fresh

    # -- HTTP ----------------------------------------------------------------------------------------

    def _token_request(self, form: dict[str, str], meta: Mapping[str, Any], *, refresh: bool) -> dict[str, Any]:
        response = self._http(
            "POST",
            self._endpoint(meta, "token_endpoint"),
            data={**form, **self._client_auth()},
            auth=self._basic_auth(),
        )
        if response.status_code in (400, 401):
            raise _token_error(response, refresh=refresh)
        answer = self._json(response, "la réponse du point de jeton")
        if not isinstance(answer.get("access_token"), str) or str(answer.get("token_type", "")).lower() != "bearer":
            raise RemoteServiceError(
                "Pro Santé Connect a renvoyé une réponse de jeton inattendue (jeton d'accès absent).", retryable=False
            )
        return answer

    def _userinfo(self, access_token: str, meta: Mapping[str, Any], *, expected_sub: str) -> PscIdentity:
        response = self._http(
            "GET",
            self._endpoint(meta, "userinfo_endpoint"),
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if response.status_code == 401:
            raise PscSignInRefused(
                "Pro Santé Connect a refusé la lecture du profil du professionnel (jeton refusé).", reason="userinfo"
            )
        if response.headers.get("content-type", "").startswith("application/jwt"):
            claims = self._signed_userinfo(response.text)
        else:
            claims = self._json(response, "le profil du professionnel (UserInfo)")
        if claims.get("sub") != expected_sub:
            raise PscSignInRefused(
                "Le profil transmis par Pro Santé Connect ne correspond pas au jeton d'identité : connexion refusée.",
                reason="userinfo_sub",
            )
        return parse_userinfo(claims)

    def _signed_userinfo(self, token: str) -> dict[str, Any]:
        header = _jose_header(token)
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise PscSignInRefused("Le profil reçu n'est pas signé de façon acceptable.", reason="algorithm")
        try:
            return dict(
                jwt.decode(token, self._keys_for(header.get("kid")), algorithms=list(ALLOWED_ALGORITHMS)).claims
            )
        except JoseError as exc:
            raise PscSignInRefused("La signature du profil reçu est invalide.", reason="signature") from exc

    def _tokens(self, answer: Mapping[str, Any], *, id_token: str, previous_refresh: str = "") -> PscTokens:
        now = dt.datetime.fromtimestamp(self._now(), dt.UTC)
        expires_in = answer.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 300.0
        refresh_in = answer.get("refresh_expires_in")
        refresh_at = (
            now + dt.timedelta(seconds=float(refresh_in))
            if isinstance(refresh_in, int | float) and refresh_in > 0
            else None
        )
        refresh_token = answer.get("refresh_token")
        return PscTokens(
            access_token=str(answer["access_token"]),
            id_token=id_token,
            refresh_token=refresh_token if isinstance(refresh_token, str) else previous_refresh,
            expires_at=now + dt.timedelta(seconds=lifetime),
            refresh_expires_at=refresh_at,
        )

    def _client_auth(self) -> dict[str, str]:
        return {} if self._config.client_secret else {"client_id": self._config.client_id}

    def _basic_auth(self) -> httpx.BasicAuth | None:
        if not self._config.client_secret:
            return None
        return httpx.BasicAuth(self._config.client_id, self._config.client_secret)

    def _endpoint(self, meta: Mapping[str, Any], name: str) -> str:
        value = meta.get(name)
        if not isinstance(value, str) or urlsplit(value).scheme != "https":
            raise RemoteServiceError(
                f"Le service Pro Santé Connect n'annonce pas de point d'accès « {name} » sécurisé (https).",
                retryable=False,
            )
        return value

    def _http(
        self,
        method: str,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> httpx.Response:
        client = self._get_client()
        try:
            response = client.request(
                method,
                url,
                content=urlencode(data).encode() if data is not None else None,
                headers={
                    **({"Content-Type": "application/x-www-form-urlencoded"} if data is not None else {}),
                    **(headers or {}),
                },
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            _log.warning("%s %s failed: %s: %s", method, _redact(url), type(exc).__name__, exc)
            raise translate_transport_error(exc, _LABEL) from exc
        _log.debug("%s %s -> %d", method, _redact(url), response.status_code)
        if len(response.content) > _MAX_RESPONSE:
            raise RemoteServiceError(
                "Pro Santé Connect a renvoyé une réponse anormalement volumineuse.", retryable=False
            )
        return response

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code >= 500:
            raise RemoteServiceError(
                f"Pro Santé Connect rencontre une difficulté (erreur HTTP {response.status_code}). "
                "Réessayez plus tard.",
                retryable=True,
            )
        if response.status_code != 200:
            raise RemoteServiceError(
                f"Pro Santé Connect a refusé de fournir {what} (erreur HTTP {response.status_code}).", retryable=False
            )
        try:
            payload = json.loads(response.content)
        except ValueError as exc:
            raise RemoteServiceError(f"Pro Santé Connect a renvoyé {what} illisible.", retryable=False) from exc
        if not isinstance(payload, dict):
            raise RemoteServiceError(f"Pro Santé Connect a renvoyé {what} illisible.", retryable=False)
        return payload

    def _get_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    verify=self._ssl_context(),
                    timeout=httpx.Timeout(self._config.timeout_s),
                    follow_redirects=False,
                    transport=self._transport,
                )
            return self._client

    def _ssl_context(self) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(cafile=str(self._config.ca_cert) if self._config.ca_cert else None)
            if self._config.client_cert is not None:
                context.load_cert_chain(*self._config.client_cert)
        except (OSError, ssl.SSLError) as exc:
            raise RemoteServiceError(
                "Les certificats configurés pour Pro Santé Connect sont introuvables ou illisibles.", retryable=False
            ) from exc
        return context

    def close(self) -> None:
        """Close the pooled connections."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def _jose_header(token: str) -> dict[str, Any]:
    try:
        segment = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, IndexError) as exc:
        raise PscSignInRefused("Le jeton reçu de Pro Santé Connect est illisible.", reason="malformed") from exc
    if not isinstance(header, dict):
        raise PscSignInRefused("Le jeton reçu de Pro Santé Connect est illisible.", reason="malformed")
    return header


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)


def _at_hash(access_token: str, alg: str) -> str:
    digest = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}[alg[-3:]](access_token.encode())
    half = digest.digest()[: digest.digest_size // 2]
    return base64.urlsafe_b64encode(half).rstrip(b"=").decode()


def _authorize_error(callback: Mapping[str, str]) -> PscSignInRefused | Exception:
    from domain.psc import PscCancelled

    error = callback.get("error", "")
    _log.warning("PSC authorization error: %s", error)
    if error == "access_denied":
        return PscCancelled("Connexion Pro Santé Connect annulée.")
    return PscSignInRefused(
        f"Pro Santé Connect a refusé la demande de connexion (erreur « {error[:60]} »).", reason="authorize_error"
    )


def _token_error(response: httpx.Response, *, refresh: bool) -> PscSignInRefused:
    try:
        error = str(json.loads(response.content).get("error", ""))
    except (ValueError, AttributeError):
        error = ""
    _log.warning("PSC token endpoint refused: HTTP %d %s", response.status_code, error)
    if refresh:
        return PscSignInRefused(
            "La session Pro Santé Connect a pris fin (jeton de renouvellement révoqué ou expiré) : reconnectez-vous.",
            reason="refresh_revoked",
        )
    if error == "invalid_grant":
        return PscSignInRefused(
            "Le code de connexion a expiré ou a déjà été utilisé : recommencez la connexion.", reason="invalid_grant"
        )
    if error in ("invalid_client", "unauthorized_client"):
        return PscSignInRefused(
            "Pro Santé Connect ne reconnaît pas ce logiciel (client non autorisé). Vérifiez la configuration.",
            reason="invalid_client",
        )
    return PscSignInRefused(
        f"Pro Santé Connect a refusé l'échange du code (erreur « {error[:60] or response.status_code} »).",
        reason="token_error",
    )


def _redact(url: str) -> str:
    """The URL without its query string (codes, tokens, hints never reach the logs)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
