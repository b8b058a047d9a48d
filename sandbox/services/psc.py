"""Stand-in of Pro Santé Connect: an OpenID provider with e-CPS/CPS test practitioners (no mutual TLS needed).

Keycloak-like paths under ``/auth/realms/esante-wallet``: discovery (also under PSC's
``wallet-openid-configuration`` name), authorize (an HTML page choosing a test practitioner and e-CPS or CPS
card), token (authorization code + PKCE S256, refresh, RFC 8693 token exchange, CIBA), userinfo (PSC claims
with SubjectRefPro), JWKS with key rotation, revocation, introspection, end_session, CIBA backchannel.
A client certificate, when the harness asks for one, binds the tokens it gets (``cnf`` ``x5t#S256``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from sandbox.harness import SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from joserfc.jwk import RSAKey

_log = logging.getLogger("lgc.sandbox")

REALM_PATH = "/auth/realms/esante-wallet"
OIDC = REALM_PATH + "/protocol/openid-connect"
DESKTOP_CLIENT_ID = "lgc-desktop"
"""Public client of the desktop application (PKCE, loopback redirect on any port of 127.0.0.1)."""
PROXY_CLIENT_ID = "lgc-proxy"
"""Confidential client of the Proxy e-santé (CIBA, token exchange): secret or client certificate."""
PROXY_CLIENT_SECRET = "secret-bac-a-sable-proxy"  # noqa: S105 - a published test value of the stand-in
GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN
GRANT_CIBA = "urn:openid:params:grant-type:ciba"
TOKEN_TYPE_ACCESS = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN
_CODE_TTL_S = 60
_MAX_FORM = 64 * 1024
_LOOPBACK_REDIRECT = re.compile(r"^http://127\.0\.0\.1:\d{1,5}/[\w/.~-]*$")

ID_TOKEN_TAMPERINGS = (
    "",
    "alg_none",
    "wrong_key",
    "wrong_audience",
    "wrong_issuer",
    "expired",
    "future",
    "wrong_nonce",
    "low_acr",
)
"""Ways the stand-in can be told to issue a bad ID token (attack tests): "" issues good ones."""


@dataclass(frozen=True, slots=True)
class TestPractitioner:
    """A practitioner of the stand-in, with PSC-shaped exercises (SubjectRefPro)."""

    __test__ = False  # not a pytest test class

    national_id: str
    given_name: str
    family_name: str
    civility: str
    exercises: tuple[dict[str, Any], ...]
    email: str = ""

    @property
    def label(self) -> str:
        """How the authorize page names them."""
        professions = {e.get("codeProfession", "") for e in self.exercises}
        names = ", ".join(sorted(_PROFESSION_NAMES.get(code, code) for code in professions))
        rpps = f"RPPS {self.national_id[1:]}" if self.national_id.startswith("8") else "sans RPPS"
        return f"{self.given_name} {self.family_name} — {names} — {rpps}"


_PROFESSION_NAMES = {
    "60": "infirmier(ère)",
    "50": "sage-femme",
    "70": "masseur-kinésithérapeute",
    "91": "orthophoniste",
    "92": "orthoptiste",
    "80": "pédicure-podologue",
    "10": "médecin",
}
_CABINET = {
    "raisonSocialeSite": "Cabinet paramédical des Tilleuls",
    "identifiantTechniqueDeLaStructure": "R10100000000001",
    "numeroSiretSite": "12345678900017",
    "codePostal": "51100",
    "libelleCommune": "Reims",
    "codeSecteurDactivite": "SA07",
    "codeModeExercice": "L",
}
_CENTRE = {
    "raisonSocialeSite": "Centre de santé infirmier Saint-Roch",
    "identifiantTechniqueDeLaStructure": "F510000000",
    "numeroFinessSite": "510000000",
    "codePostal": "51100",
    "libelleCommune": "Reims",
    "codeSecteurDactivite": "SA05",
    "codeModeExercice": "S",
}


def _exercise(
    profession: str, given: str, family: str, *activities: dict[str, str], savoir: str = ""
) -> dict[str, Any]:
    return {
        "codeProfession": profession,
        "codeCategorieProfessionnelle": "C",
        "codeCiviliteDexercice": "",
        "prenomDexercice": given,
        "nomDexercice": family,
        "codeTypeSavoirFaire": "S" if savoir else "",
        "codeSavoirFaire": savoir,
        "activities": [{"codeRole": "FON-01", "codePays": "99100", **a} for a in activities],
    }


def default_practitioners() -> tuple[TestPractitioner, ...]:
    """The demo users who have an RPPS (app/demo.py), one per profession, plus edge cases.

    Edge cases: Paul MERCIER works in the cabinet *and* the centre de santé (two situations d'exercice);
    Hugo LAMBERT has no local account yet (created at first sign-in); Agnès NOEL has no RPPS (refused).
    """
    from app.demo import DEMO_USERS

    result: list[TestPractitioner] = []
    for login, name, _role, profession, rpps, _admin, where in DEMO_USERS:
        if not rpps or profession is None:
            continue
        person = name.split(" (")[0]
        given, _, family = person.partition(" ")
        code = profession.value.split("-")[0]
        savoir = "IPA" if profession.value.endswith("IPA") else ""
        place = _CENTRE if where == 1 else _CABINET
        activities = [place]
        if login == "csi-ide1":
            activities = [_CENTRE, {**_CABINET, "codeModeExercice": "L"}]
        result.append(
            TestPractitioner(
                "8" + rpps,
                given,
                family,
                "M" if given in {"Thomas", "Marc", "Paul"} else "MME",
                (_exercise(code, given, family, *activities, savoir=savoir),),
                f"{login}@test.lgc.invalid",
            )
        )
    result.append(
        TestPractitioner(
            "810101010199", "Hugo", "LAMBERT", "M", (_exercise("60", "Hugo", "LAMBERT", _CABINET),), "hl@test.invalid"
        )
    )
    result.append(
        TestPractitioner("0512345678", "Agnès", "NOEL", "MME", (_exercise("60", "Agnès", "NOEL", _CABINET),), "")
    )
    return tuple(result)


@dataclass
class _Grant:
    """What a code, a refresh token or a CIBA request stands for."""

    client_id: str
    practitioner: TestPractitioner
    scope: str
    session_id: str
    nonce: str = ""
    redirect_uri: str = ""
    code_challenge: str = ""
    method: str = "ecps"
    issued_at: float = 0.0
    used: bool = False
    revoked: bool = False
    access_jtis: list[str] = field(default_factory=list)


class PscService:
    """The Pro Santé Connect stand-in (see the module docstring). Thread-safe.

    Attributes tests may change: ``tamper_id_token`` (one of :data:`ID_TOKEN_TAMPERINGS`),
    ``clock_offset_s`` (the provider's clock ahead (+) or behind (-)), ``access_ttl_s``, ``refresh_ttl_s``,
    ``ciba_delay_s`` (how long the practitioner takes to approve on the e-CPS app).
    """

    name = "psc"

    def __init__(self, practitioners: tuple[TestPractitioner, ...] | None = None) -> None:
        """Create the provider (its signing key is generated on first use)."""
        self.practitioners = practitioners if practitioners is not None else default_practitioners()
        self.tamper_id_token = ""
        self.clock_offset_s = 0.0
        self.access_ttl_s = 300
        self.refresh_ttl_s = 1800
        self.ciba_delay_s = 0.0
        self._lock = threading.Lock()
        self._keys: list[RSAKey] = []
        self._pending: dict[str, dict[str, str]] = {}
        self._codes: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}
        self._access: dict[str, dict[str, Any]] = {}  # jti -> claims (revocation, introspection)
        self._ciba: dict[str, tuple[_Grant, float]] = {}
        self._ended_sessions: set[str] = set()
        self.events: list[str] = []

    # -- keys ----------------------------------------------------------------------------------------

    def rotate_keys(self) -> str:
        """Sign with a new key from now on; the previous one stays published (tokens in flight). Returns its kid."""
        from joserfc.jwk import RSAKey  # imported on first use: the sandbox starts with the application

        key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"})
        with self._lock:
            self._keys = [*self._keys[-1:], key]
        _log.info("Sandbox psc: signing key rotated to %s", key.kid)
        return str(key.kid)

    def _signing_key(self) -> RSAKey:
        with self._lock:
            if self._keys:
                return self._keys[-1]
        self.rotate_keys()
        with self._lock:
            return self._keys[-1]

    def jwks(self) -> dict[str, Any]:
        """The published public keys."""
        self._signing_key()
        with self._lock:
            return {"keys": [k.as_dict(private=False) for k in self._keys]}

    def now(self) -> float:
        """The provider's clock (shifted by ``clock_offset_s``)."""
        return time.time() + self.clock_offset_s

    # -- routing -------------------------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request."""
        route = request.route
        issuer = self.issuer(request)
        if route in (
            REALM_PATH + "/.well-known/openid-configuration",
            REALM_PATH + "/.well-known/wallet-openid-configuration",
        ):
            return SandboxResponse.json(self.discovery(issuer))
        handlers: dict[str, Callable[[SandboxRequest, str], SandboxResponse]] = {
            OIDC + "/auth": self._authorize,
            OIDC + "/auth/login": self._login,
            OIDC + "/token": self._token,
            OIDC + "/userinfo": self._userinfo,
            OIDC + "/certs": lambda r, i: SandboxResponse.json(self.jwks()),
            OIDC + "/token/introspect": self._introspect,
            OIDC + "/revoke": self._revoke,
            OIDC + "/logout": self._logout,
            OIDC + "/ext/ciba/auth": self._ciba_auth,
            "/test/rotate-keys": lambda r, i: SandboxResponse.json({"kid": self.rotate_keys()}),
        }
        if route == "/status":
            return SandboxResponse.json(
                {"service": self.name, "version": "bac-a-sable", "time": _iso(time.time() + self.clock_offset_s)}
            )
        handler = handlers.get(route)
        if handler is None:
            return SandboxResponse.json({"error": "introuvable", "path": route}, status=404)
        return handler(request, issuer)

    @staticmethod
    def issuer(request: SandboxRequest) -> str:
        """``https://<host as the client named it>/auth/realms/esante-wallet``."""
        host = request.header("host", "127.0.0.1") or "127.0.0.1"
        return f"https://{host}{REALM_PATH}"

    @staticmethod
    def discovery(issuer: str) -> dict[str, Any]:
        """The discovery document."""
        base = issuer + "/protocol/openid-connect"
        return {
            "issuer": issuer,
            "authorization_endpoint": base + "/auth",
            "token_endpoint": base + "/token",
            "userinfo_endpoint": base + "/userinfo",
            "jwks_uri": base + "/certs",
            "end_session_endpoint": base + "/logout",
            "revocation_endpoint": base + "/revoke",
            "introspection_endpoint": base + "/token/introspect",
            "backchannel_authentication_endpoint": base + "/ext/ciba/auth",
            "backchannel_token_delivery_modes_supported": ["poll"],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", GRANT_TOKEN_EXCHANGE, GRANT_CIBA],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "scope_all"],
            "acr_values_supported": ["eidas1"],
            "token_endpoint_auth_methods_supported": [
                "none",
                "client_secret_basic",
                "client_secret_post",
                "tls_client_auth",
            ],
            "tls_client_certificate_bound_access_tokens": True,
            "claims_supported": ["sub", "SubjectNameID", "SubjectRefPro", "given_name", "family_name", "acr"],
        }

    # -- authorize -----------------------------------------------------------------------------------

    def _authorize(self, request: SandboxRequest, issuer: str) -> SandboxResponse:
        params = {k: v[0] for k, v in request.query.items()}
        client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
        if client_id != DESKTOP_CLIENT_ID or not _LOOPBACK_REDIRECT.match(redirect_uri):
            # Never redirect to an unregistered URI (RFC 6749 §4.1.2.1): tell the user instead.
            return _page("Demande refusée", "<p>Client ou adresse de retour non enregistrés auprès de PSC.</p>", 400)
        problem = ""
        if params.get("response_type") != "code":
            problem = "unsupported_response_type"
        elif "openid" not in params.get("scope", "").split():
            problem = "invalid_scope"
        elif params.get("code_challenge_method") != "S256" or len(params.get("code_challenge", "")) < 43:
            problem = "invalid_request"
        if problem:
            return _redirect(redirect_uri, {"error": problem, "state": params.get("state", "")})
        request_id = secrets.token_urlsafe(16)
        with self._lock:
            self._pending[request_id] = params
        rows = "".join(
            f"<tr><td>{html.escape(p.label)}</td><td>"
            f'<button name="choice" value="{html.escape(p.national_id)}:ecps">e-CPS (application mobile)</button> '
            f'<button name="choice" value="{html.escape(p.national_id)}:cps">Carte CPS</button></td></tr>'
            for p in self.practitioners
        )
        body = (
            "<p>Bac à sable de test : choisissez le professionnel et le moyen d'authentification "
            "(aucune vraie carte n'est lue).</p>"
            f'<form method="post" action="{OIDC}/auth/login">'
            f'<input type="hidden" name="request_id" value="{request_id}">'
            f"<table>{rows}</table>"
            '<p><button name="choice" value="cancel">Annuler</button></p></form>'
        )
        return _page("Pro Santé Connect — connexion (TEST)", body)

    def _login(self, request: SandboxRequest, issuer: str) -> SandboxResponse:
        form = _form(request)
        with self._lock:
            params = self._pending.pop(form.get("request_id", ""), None)
        if params is None or request.method != "POST":
            return _page("Demande expirée", "<p>Cette demande de connexion a expiré : recommencez depuis LGC.</p>", 400)
        choice = form.get("choice", "")
        redirect_uri, state = params["redirect_uri"], params.get("state", "")
        if choice == "cancel":
            return _redirect(redirect_uri, {"error": "access_denied", "state": state})
        national_id, _, method = choice.partition(":")
        practitioner = self._practitioner(national_id)
        if practitioner is None or method not in ("ecps", "cps"):
            return _page("Choix invalide", "<p>Professionnel inconnu.</p>", 400)
        code = secrets.token_urlsafe(32)
        grant = _Grant(
            client_id=params["client_id"],
            practitioner=practitioner,
            scope=params.get("scope", "openid"),
            session_id=secrets.token_hex(8),
            nonce=params.get("nonce", ""),
            redirect_uri=redirect_uri,
            code_challenge=params.get("code_challenge", ""),
            method=method,
            issued_at=self.now(),
        )
        with self._lock:
            self._codes[code] = grant
            self.events.append(f"login {national_id} {method}")
        return _redirect(redirect_uri, {"code": code, "state": state, "iss": issuer})

    def _practitioner(self, national_id: str) -> TestPractitioner | None:
        return next((p for p in self.practitioners if p.national_id == national_id), None)

    # -- token ---------------------------------------------------------------------------------------

    def _token(self, request: SandboxRequest, issuer: str) -> SandboxResponse:
        if request.method != "POST":
            return _oauth_error("invalid_request", "POST attendu", 405)
        form = _form(request)
        client_id = self._authenticate_client(request, form)
        if client_id is None:
            return _oauth_error("invalid_client", "client inconnu ou mal authentifié", 401)
        grant_type = form.get("grant_type", "")
        cnf = _cnf(request)
        if grant_type == "authorization_code":
            return self._code_grant(form, client_id, issuer, cnf)
        if grant_type == "refresh_token":
            return self._refresh_grant(form, client_id, issuer, cnf)
        if grant_type == GRANT_TOKEN_EXCHANGE:
            return self._exchange_grant(form, client_id, issuer, cnf)
        if grant_type == GRANT_CIBA:
            return self._ciba_grant(form, client_id, issuer, cnf)
        return _oauth_error("unsupported_grant_type", grant_type[:60])

    def _authenticate_client(self, request: SandboxRequest, form: Mapping[str, str]) -> str | None:
        basic = request.header("authorization", "") or ""
        if basic.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if client_id == DESKTOP_CLIENT_ID:
            return client_id
        if client_id == PROXY_CLIENT_ID and (
            hmac.compare_digest(secret, PROXY_CLIENT_SECRET) or request.client_cert_der is not None
        ):
            return client_id
        return None

    def _code_grant(self, form: Mapping[str, str], client_id: str, issuer: str, cnf: str | None) -> SandboxResponse:
        code = form.get("code", "")
        with self._lock:
            grant = self._codes.get(code)
            replay = grant is not None and grant.used
            if grant is not None:
                grant.used = True
                if replay:
                    # RFC 6749 §4.1.2: a replayed code revokes what it produced.
                    grant.revoked = True
                    for jti in grant.access_jtis:
                        self._access.pop(jti, None)
                    for other in self._refresh.values():
                        if other.session_id == grant.session_id:
                            other.revoked = True
        if grant is None or replay:
            self._event("code refused (unknown or replayed)")
            return _oauth_error("invalid_grant", "code inconnu ou déjà utilisé")
        if self.now() - grant.issued_at > _CODE_TTL_S:
            return _oauth_error("invalid_grant", "code expiré")
        if grant.client_id != client_id or form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error("invalid_grant", "client ou redirect_uri différents")
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not verifier or not hmac.compare_digest(challenge, grant.code_challenge):
            return _oauth_error("invalid_grant", "PKCE : code_verifier incorrect")
        return self._issue(grant, issuer, cnf, with_id_token=True, nonce=grant.nonce)

    def _refresh_grant(self, form: Mapping[str, str], client_id: str, issuer: str, cnf: str | None) -> SandboxResponse:
        with self._lock:
            grant = self._refresh.get(form.get("refresh_token", ""))
        if (
            grant is None
            or grant.revoked
            or grant.client_id != client_id
            or grant.session_id in self._ended_sessions
            or self.now() - grant.issued_at > self.refresh_ttl_s
        ):
            self._event("refresh refused")
            return _oauth_error("invalid_grant", "jeton de renouvellement invalide, révoqué ou expiré")
        return self._issue(grant, issuer, cnf, with_id_token=True, nonce="", refresh_token=form["refresh_token"])

    def _exchange_grant(self, form: Mapping[str, str], client_id: str, issuer: str, cnf: str | None) -> SandboxResponse:
        if form.get("subject_token_type") != TOKEN_TYPE_ACCESS:
            return _oauth_error("invalid_request", "subject_token_type non pris en charge")
        claims = self.introspect(form.get("subject_token", ""))
        if not claims.get("active"):
            return _oauth_error("invalid_grant", "jeton PSC invalide, expiré ou révoqué")
        practitioner = self._practitioner(str(claims.get("preferred_username", "")))
        if practitioner is None:
            return _oauth_error("invalid_grant", "professionnel inconnu")
        audience = form.get("audience", "") or client_id
        grant = _Grant(client_id, practitioner, str(claims.get("scope", "")), str(claims.get("sid", "")))
        token, _jti, _claims = self._access_token(grant, issuer, cnf, audience=audience)
        self._event(f"token exchange for {audience}")
        answer = {
            "access_token": token,
            "issued_token_type": TOKEN_TYPE_ACCESS,
            "token_type": "Bearer",
            "expires_in": self.access_ttl_s,
        }
        return SandboxResponse.json(answer)

    def _issue(
        self,
        grant: _Grant,
        issuer: str,
        cnf: str | None,
        *,
        with_id_token: bool,
        nonce: str,
        refresh_token: str = "",
    ) -> SandboxResponse:
        token, jti, _ = self._access_token(grant, issuer, cnf, audience=grant.client_id)
        refresh = refresh_token or secrets.token_urlsafe(32)
        with self._lock:
            grant.access_jtis.append(jti)
            if not refresh_token:
                self._refresh[refresh] = _Grant(
                    grant.client_id,
                    grant.practitioner,
                    grant.scope,
                    grant.session_id,
                    method=grant.method,
                    issued_at=self.now(),
                )
        answer: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.access_ttl_s,
            "refresh_token": refresh,
            "refresh_expires_in": self.refresh_ttl_s,
            "scope": grant.scope,
            "session_state": grant.session_id,
        }
        if with_id_token:
            answer["id_token"] = self._id_token(grant, issuer, nonce, token)
        self._event(f"tokens issued to {grant.client_id} for {grant.practitioner.national_id}")
        return SandboxResponse.json(answer)

    def _access_token(
        self, grant: _Grant, issuer: str, cnf: str | None, *, audience: str
    ) -> tuple[str, str, dict[str, Any]]:
        now = int(self.now())
        jti = secrets.token_hex(12)
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": _sub(grant.practitioner),
            "aud": audience,
            "azp": grant.client_id,
            "exp": now + self.access_ttl_s,
            "iat": now,
            "jti": jti,
            "typ": "Bearer",
            "scope": grant.scope,
            "sid": grant.session_id,
            "acr": "eidas1",
            "preferred_username": grant.practitioner.national_id,
        }
        if cnf:
            claims["cnf"] = {"x5t#S256": cnf}
        from joserfc import jwt

        key = self._signing_key()
        token = jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)
        with self._lock:
            self._access[jti] = claims
        return token, jti, claims

    def _id_token(self, grant: _Grant, issuer: str, nonce: str, access_token: str) -> str:
        from joserfc import jwt
        from joserfc.jwk import RSAKey

        now = int(self.now())
        tamper = self.tamper_id_token
        claims: dict[str, Any] = {
            "iss": issuer if tamper != "wrong_issuer" else "https://faux-psc.invalid/auth/realms/esante-wallet",
            "sub": _sub(grant.practitioner),
            "aud": grant.client_id if tamper != "wrong_audience" else "un-autre-logiciel",
            "azp": grant.client_id,
            "exp": now + self.access_ttl_s if tamper != "expired" else now - 3600,
            "iat": now if tamper != "future" else now + 3600,
            "auth_time": int(grant.issued_at) or now,
            "acr": "eidas1" if tamper != "low_acr" else "eidas0",
            "sid": grant.session_id,
            "at_hash": _at_hash(access_token),
            "preferred_username": grant.practitioner.national_id,
            "given_name": grant.practitioner.given_name,
            "family_name": grant.practitioner.family_name,
        }
        if nonce:
            claims["nonce"] = nonce if tamper != "wrong_nonce" else "nonce-falsifie"
        if tamper == "alg_none":
            head = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            return f"{head}.{_b64(json.dumps(claims).encode())}."
        key = self._signing_key()
        if tamper == "wrong_key":
            key = RSAKey.generate_key(2048, parameters={"kid": str(key.kid), "alg": "RS256"})
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)

    # -- userinfo, introspection, revocation, logout ---------------------------------------------------

    def _userinfo(self, request: SandboxRequest, issuer: str) -> SandboxResponse:
        auth = request.header("authorization", "") or ""
        claims = self.introspect(auth[7:] if auth.lower().startswith("bearer ") else "")
        if not claims.get("active"):
            return SandboxResponse(401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b"")
        practitioner = self._practitioner(str(claims.get("preferred_username", "")))
        if practitioner is None:
            return SandboxResponse(401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b"")
        return SandboxResponse.json(userinfo_claims(practitioner))

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 answer for ``token`` (an access token issued here): ``{"active": false}`` when unusable."""
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        try:
            decoded = jwt.decode(token, KeySet.import_key_set(self.jwks()), algorithms=["RS256"])  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            return {"active": False}
        claims = dict(decoded.claims)
        with self._lock:
            known = claims.get("jti") in self._access
            ended = claims.get("sid") in self._ended_sessions
        if not known or ended or float(claims.get("exp", 0)) < self.now():
            return {"active": False}
        return {
            "active": True,
            "client_id": claims.get("azp"),
            "token_type": "Bearer",
            "username": claims.get("sub"),
            **claims,
        }

    def _introspect(self, request: SandboxRequest, issuer: str) -> SandboxResponse:
        form = _form(request)
        if self._authenticate_client(request, form) is None:
            return _oauth_error("invalid_client", "client inconnu", 401)
        return SandboxResponse.json(self.introspect(form.get("token", "")))

    def _revoke(self, request: SandboxRequest, issuer: str) -> SandboxResponse:
        form = _form(request)
        if self._authenticate_client(request, form) is None:
            return _oauth_error("invalid_client", "client inconnu", 401)
        self.revoke(form.get("token", ""))
        return SandboxResponse(200, {}, b"")

    def revoke(self, token: str) -> None:
        """Revoke a refresh token (and its session's access tokens) or an access token (RFC 7009)."""
        with self._lock:
            grant = self._refresh.get(token)
            if grant is not None:
                grant.revoked = True
                for jti in [j for j, c in self._access.items() if c.get("sid") == grant.session_id]:
                    self._access.pop(jti, None)
        if grant is None:
            claims = self.introspect(token)
            with self._lock:
                self._access.pop(str(claims.get("jti", "")), None)
        self._event("token revoked")

    def revoke_all_refresh_tokens(self) -> int:
        """Revoke every refresh token (an administrator closing every PSC session); return how many."""
        with self._lock:
            for grant in self._refresh.values():
                grant.revoked = True
            return len(self._refresh)

    def _logout(self, request: SandboxRequest, issuer: str) -> SandboxResponse:
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        params = {k: v[0] for k, v in request.query.items()}
        hint = params.get("id_token_hint", "")
        try:
            claims = jwt.decode(hint, KeySet.import_key_set(self.jwks()), algorithms=["RS256"]).claims  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            return _page("Déconnexion impossible", "<p>id_token_hint manquant ou invalide.</p>", 400)
        sid = str(claims.get("sid", ""))
        with self._lock:
            self._ended_sessions.add(sid)
            for grant in self._refresh.values():
                if grant.session_id == sid:
                    grant.revoked = True
        self._event(f"logout {claims.get('preferred_username')}")
        target = params.get("post_logout_redirect_uri", "")
        if target and _LOOPBACK_REDIRECT.match(target):
            return _redirect(target, {"state": params["state"]} if "state" in params else {})
        return _page("Déconnecté", "<p>Vous êtes déconnecté de Pro Santé Connect.</p>")

    # -- CIBA ----------------------------------------------------------------------------------------

    def _ciba_auth(self, request: SandboxRequest, issuer: str) -> SandboxResponse:
        form = _form(request)
        client_id = self._authenticate_client(request, form)
        if client_id != PROXY_CLIENT_ID:
            return _oauth_error("unauthorized_client", "CIBA réservé au proxy", 401)
        if "openid" not in form.get("scope", "").split():
            return _oauth_error("invalid_scope", "openid attendu")
        practitioner = self._practitioner(form.get("login_hint", ""))
        if practitioner is None:
            return _oauth_error("unknown_user_id", "professionnel inconnu de PSC")
        auth_req_id = secrets.token_urlsafe(24)
        grant = _Grant(client_id, practitioner, form.get("scope", ""), secrets.token_hex(8), issued_at=self.now())
        with self._lock:
            self._ciba[auth_req_id] = (grant, time.monotonic() + self.ciba_delay_s)
        self._event(f"ciba request for {practitioner.national_id}")
        return SandboxResponse.json({"auth_req_id": auth_req_id, "expires_in": 120, "interval": 1})

    def _ciba_grant(self, form: Mapping[str, str], client_id: str, issuer: str, cnf: str | None) -> SandboxResponse:
        with self._lock:
            entry = self._ciba.get(form.get("auth_req_id", ""))
        if entry is None or entry[0].client_id != client_id:
            return _oauth_error("invalid_grant", "auth_req_id inconnu")
        grant, ready_at = entry
        if time.monotonic() < ready_at:
            return _oauth_error("authorization_pending", "validation e-CPS en attente")
        with self._lock:
            self._ciba.pop(form.get("auth_req_id", ""), None)
        return self._issue(grant, issuer, cnf, with_id_token=True, nonce="")

    def _event(self, text: str) -> None:
        with self._lock:
            self.events.append(text)
        _log.info("Sandbox psc: %s", text)


def userinfo_claims(p: TestPractitioner) -> dict[str, Any]:
    """PSC UserInfo claims of a practitioner (segur-reference §8.2)."""
    rpps = p.national_id[1:] if p.national_id.startswith("8") else ""
    return {
        "sub": _sub(p),
        "SubjectNameID": p.national_id,
        "preferred_username": p.national_id,
        "given_name": p.given_name,
        "family_name": p.family_name,
        "email_verified": bool(p.email),
        "SubjectOrganization": p.exercises[0]["activities"][0].get("raisonSocialeSite", ""),
        "SubjectRole": ["10^1.2.250.1.213.1.1.5.5"],
        "otherIds": [{"identifiant": rpps, "origine": "RPPS", "qualite": 1}] if rpps else [],
        "Palier_Authentification": "APPPRIP3^1.2.250.1.213.1.5.1.1.1",
        "SubjectRefPro": {"codeCivilite": p.civility, "exercices": list(p.exercises)},
    }


def scripted_login(
    client: Any, authorize_url: str, national_id: str, method: str = "ecps", *, follow_loopback: bool = True
) -> str:
    """Play the user in a browser: open the authorize page, pick a practitioner and e-CPS/CPS, follow the redirect.

    Args:
        client: An ``httpx.Client`` trusting the sandbox CA (not following redirects).
        authorize_url: The URL the application would open in the browser.
        national_id: Which test practitioner to pick (``8`` + RPPS); ``cancel`` presses "Annuler".
        method: ``ecps`` or ``cps``.
        follow_loopback: Also GET the redirect (the loopback listener), as the browser would.

    Returns:
        The redirect URL the provider answered with.
    """
    page = client.get(authorize_url)
    page.raise_for_status()
    found = re.search(r'name="request_id" value="([^"]+)"', page.text)
    if found is None:
        raise ValueError("no sign-in form on the authorize page")
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None
    base = urlsplit(authorize_url)
    choice = "cancel" if national_id == "cancel" else f"{national_id}:{method}"
    answer = client.post(
        f"{base.scheme}://{base.netloc}{html.unescape(action.group(1))}",
        data={"request_id": found.group(1), "choice": choice},
    )
    location = str(answer.headers.get("location", ""))
    if answer.status_code != 302 or not location:
        raise ValueError(f"the provider did not redirect (HTTP {answer.status_code})")
    if follow_loopback:
        client.get(location)
    return location


def _sub(p: TestPractitioner) -> str:
    return f"f:psc-bac-a-sable:{p.national_id}"


def _at_hash(token: str) -> str:
    return _b64(hashlib.sha256(token.encode()).digest()[:16])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _cnf(request: SandboxRequest) -> str | None:
    der = request.client_cert_der
    return _b64(hashlib.sha256(der).digest()) if der else None


def _form(request: SandboxRequest) -> dict[str, str]:
    if len(request.body) > _MAX_FORM:
        return {}
    parsed = parse_qs(request.body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items()}


def _redirect(uri: str, params: Mapping[str, str]) -> SandboxResponse:
    separator = "&" if urlsplit(uri).query else "?"
    target = uri + (separator + urlencode(params) if params else "")
    return SandboxResponse(302, {"Location": target, "Cache-Control": "no-store"}, b"")


def _oauth_error(error: str, description: str, status: int = 400) -> SandboxResponse:
    return SandboxResponse.json({"error": error, "error_description": description}, status=status)


def _page(title: str, body: str, status: int = 200) -> SandboxResponse:
    document = (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif;margin:2em">'
        '<p style="background:#fff3b0;padding:4px"><b>BAC À SABLE</b> — Pro Santé Connect simulé, '
        "aucune donnée réelle.</p>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return SandboxResponse(status, {"Content-Type": "text/html; charset=utf-8"}, document.encode("utf-8"))


def _iso(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")
