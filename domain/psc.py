"""Pro Santé Connect: the practitioner's national identity, situations d'exercice, sessions and ports."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.errors import AuthenticationRequired, DomainError
from domain.practice import Profession

PSC_SCOPE = "openid scope_all"
"""Scopes Pro Santé Connect expects (segur-reference §8.1)."""

PSC_ACR = "eidas1"
"""The ``acr_values`` sent and the ``acr`` required in the ID token (SC.PSC.08)."""

RPPS_PREFIX = "8"
"""A national id (``SubjectNameID``) of ``8`` followed by 11 digits is an RPPS number."""


class PscSignInRefused(AuthenticationRequired):
    """Pro Santé Connect sign-in did not succeed: the message says why, in French, for the user.

    Attributes:
        reason: A short machine code for traces and tests (``state``, ``nonce``, ``signature``…).
    """

    def __init__(self, message_fr: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message_fr)


class PscCancelled(DomainError):
    """The user closed or abandoned the Pro Santé Connect page (nothing is wrong)."""


@dataclass(frozen=True, slots=True)
class PracticeSituation:
    """One situation d'exercice: an exercise (profession) in one activity (a structure).

    Attributes:
        profession_code: TRE_G15 ``codeProfession`` (``60`` infirmier, ``50`` sage-femme…).
        category_code: ``codeCategorieProfessionnelle`` (``C`` civil, ``E`` étudiant…).
        name: ``prenomDexercice nomDexercice``.
        expertise_code: ``codeSavoirFaire`` (a speciality or IPA mention), or "".
        mode_code: ``codeModeExercice`` (``L`` libéral, ``S`` salarié, ``B`` bénévole).
        sector_code: ``codeSecteurDactivite`` (``SA07`` cabinet, ``SA05`` centre de santé…).
        role_code: ``codeRole`` (function in the structure).
        structure_id: ``identifiantTechniqueDeLaStructure``.
        structure_name: ``raisonSocialeSite``.
        siret: ``numeroSiretSite`` or "".
        finess: ``numeroFinessSite`` or "".
        city: ``codePostal`` and commune, when given.
    """

    profession_code: str
    category_code: str
    name: str
    expertise_code: str
    mode_code: str
    sector_code: str
    role_code: str
    structure_id: str
    structure_name: str
    siret: str = ""
    finess: str = ""
    city: str = ""

    @property
    def profession(self) -> Profession | None:
        """The DSR profile, when the profession is one of the corridor's."""
        if self.profession_code == "60" and self.expertise_code.upper().startswith("IPA"):
            return Profession.ADVANCED_PRACTICE_NURSE
        try:
            return Profession(self.profession_code)
        except ValueError:
            return None

    @property
    def label_fr(self) -> str:
        """One line for the choice dialog: profession, mode, structure."""
        profession = self.profession.label_fr if self.profession else f"Profession {self.profession_code}"
        mode = {"L": "libéral", "S": "salarié", "B": "bénévole"}.get(self.mode_code, self.mode_code or "—")
        where = self.structure_name or "structure non renseignée"
        extra = f" — {self.city}" if self.city else ""
        return f"{profession} ({mode}) — {where}{extra}"


@dataclass(frozen=True, slots=True)
class PscIdentity:
    """Who Pro Santé Connect says the user is (UserInfo), reduced to what LGC uses.

    Attributes:
        subject: The ``sub`` claim (opaque, stable per account).
        national_id: ``SubjectNameID`` (``8`` + RPPS for professionals in the RPPS).
        given_name: ``given_name``.
        family_name: ``family_name``.
        civility: ``SubjectRefPro.codeCivilite``.
        situations: Every (exercise, activity) pair, in the order PSC gives them.
        raw_claims: The UserInfo claims as received (for the VIHF built later), kept in memory only.
    """

    subject: str
    national_id: str
    given_name: str
    family_name: str
    civility: str = ""
    situations: tuple[PracticeSituation, ...] = ()
    raw_claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def rpps(self) -> str:
        """The 11-digit RPPS number, or "" when the account has none (ADELI-only, student…)."""
        nid = self.national_id
        if len(nid) == 12 and nid.startswith(RPPS_PREFIX) and nid.isdigit():
            return nid[1:]
        return ""

    @property
    def display_name(self) -> str:
        """``Prénom NOM`` as shown in the title bar."""
        return f"{self.given_name} {self.family_name.upper()}".strip()


@dataclass(frozen=True, slots=True)
class PscTokens:
    """Tokens of one PSC session. In memory only: never written to disk (SC.PSC, segur-reference §15).

    Attributes:
        access_token: The bearer token for PSC-protected APIs.
        id_token: The signed ID token (kept for ``id_token_hint`` at logout).
        refresh_token: To renew the access token while the application is in use, or "".
        expires_at: When the access token expires.
        refresh_expires_at: When the refresh token expires, if the provider says.
    """

    access_token: str = field(repr=False)
    id_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: dt.datetime
    refresh_expires_at: dt.datetime | None = None

    def expires_within(self, now: dt.datetime, margin: dt.timedelta) -> bool:
        """True when the access token expires before ``now + margin``."""
        return self.expires_at <= now + margin


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """One authorization-code request in flight: what the browser opens and what the answer must match.

    Attributes:
        url: The authorization URL for the system browser.
        state: Anti-CSRF value the redirect must echo.
        nonce: Value the ID token must carry.
        code_verifier: PKCE verifier (S256 challenge sent).
        redirect_uri: The loopback URI the provider redirects to.
    """

    url: str
    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    redirect_uri: str


@dataclass(frozen=True, slots=True)
class PscSession:
    """A signed-in Pro Santé Connect session: the identity and its tokens."""

    identity: PscIdentity
    tokens: PscTokens
    id_token_claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


class ProSanteConnect(Protocol):
    """The OpenID Connect client of Pro Santé Connect (authorization code + PKCE, native app)."""

    def begin(self, redirect_uri: str) -> AuthorizationRequest:
        """Prepare an authorization request (state, nonce, PKCE) for ``redirect_uri``.

        Raises:
            RemoteServiceError: The provider's discovery document cannot be read.
        """
        ...

    def complete(self, request: AuthorizationRequest, callback: Mapping[str, str]) -> PscSession:
        """Check the redirect, exchange the code, verify the ID token and read UserInfo.

        Raises:
            PscSignInRefused: state, error answer, ID token or UserInfo refused (French message, reason).
            RemoteServiceError: The provider is unreachable or answered something unexpected.
        """
        ...

    def refresh(self, session: PscSession) -> PscSession:
        """Renew the tokens with the refresh token.

        Raises:
            PscSignInRefused: The refresh token was revoked or expired (sign in again).
            RemoteServiceError: The provider is unreachable.
        """
        ...

    def end_session_url(self, session: PscSession, post_logout_redirect_uri: str | None = None) -> str:
        """The provider's logout URL with ``id_token_hint`` (for the browser)."""
        ...

    def logout(self, session: PscSession) -> None:
        """End the session at the provider (end_session with ``id_token_hint``, then revoke the refresh token).

        Raises:
            RemoteServiceError: The provider is unreachable (the local session ends anyway).
        """
        ...


class RedirectReceiver(Protocol):
    """A one-shot loopback HTTP listener on 127.0.0.1 receiving the authorization redirect (RFC 8252 §7.3)."""

    @property
    def redirect_uri(self) -> str:
        """``http://127.0.0.1:<port>/<path>``, valid once the receiver is started."""
        ...

    def wait(self, timeout_s: float, cancelled: threading.Event | None = None) -> dict[str, str]:
        """Block until the browser is redirected (or ``timeout_s``); return the query parameters.

        Raises:
            PscCancelled: Nothing arrived in time, ``cancel()`` was called or ``cancelled`` was set.
        """
        ...

    def cancel(self) -> None:
        """Stop waiting (the user closed the sign-in dialog)."""
        ...

    def close(self) -> None:
        """Release the port."""
        ...


class RedirectReceiverFactory(Protocol):
    """Starts a new one-shot receiver per sign-in attempt."""

    def __call__(self) -> RedirectReceiver: ...


class Browser(Protocol):
    """Opens a URL in the system browser (the UI provides one that goes through Qt)."""

    def open(self, url: str) -> None:
        """Open ``url``; return without waiting for the user."""
        ...


@dataclass(frozen=True, slots=True)
class PscLink:
    """The link between a PSC identity and a local account (SC.PSC.02/15).

    Attributes:
        national_id: ``SubjectNameID``.
        subject: The ``sub`` claim seen at the last sign-in.
        user_id: The local account.
        linked_at: When the link was made.
        last_sign_in: Last successful PSC sign-in.
    """

    national_id: str
    subject: str
    user_id: int
    linked_at: dt.datetime
    last_sign_in: dt.datetime | None = None


class PscLinkRepository(Protocol):
    """Storage of the PSC ↔ local account links."""

    def by_national_id(self, national_id: str) -> PscLink | None:
        """The link of a PSC identity, if any."""
        ...

    def by_user(self, user_id: int) -> PscLink | None:
        """The link of a local account, if any."""
        ...

    def save(self, link: PscLink) -> None:
        """Add or update the link of ``link.national_id``."""
        ...


class EsanteProxy(Protocol):
    """The Proxy e-santé service (``lgc proxy``): an HTTP API on 127.0.0.1 (segur-reference §8.3)."""

    @property
    def url(self) -> str:
        """Where the API listens."""
        ...

    def start(self) -> None:
        """Serve in the background."""
        ...

    def stop(self) -> None:
        """Stop serving and forget every session."""
        ...


def parse_userinfo(claims: Mapping[str, Any]) -> PscIdentity:
    """Read the PSC UserInfo claims (segur-reference §8.2) into a :class:`PscIdentity`.

    Unknown or missing optional fields are tolerated; a missing ``sub`` or ``SubjectNameID`` is not.

    Raises:
        PscSignInRefused: ``sub`` or ``SubjectNameID`` is missing or not text.
    """
    subject = claims.get("sub")
    national_id = claims.get("SubjectNameID")
    if not isinstance(subject, str) or not subject:
        raise PscSignInRefused(
            "Pro Santé Connect n'a pas transmis l'identifiant du compte : connexion refusée.", reason="userinfo"
        )
    if not isinstance(national_id, str) or not national_id.strip():
        raise PscSignInRefused(
            "Pro Santé Connect n'a pas transmis l'identifiant national du professionnel (SubjectNameID) : "
            "connexion refusée.",
            reason="no_national_id",
        )
    ref = claims.get("SubjectRefPro")
    ref = ref if isinstance(ref, Mapping) else {}
    situations: list[PracticeSituation] = []
    exercises = ref.get("exercices")
    for exercise in exercises if isinstance(exercises, list) else []:
        if not isinstance(exercise, Mapping):
            continue
        name = f"{_text(exercise, 'prenomDexercice')} {_text(exercise, 'nomDexercice')}".strip()
        activities = exercise.get("activities")
        for activity in activities if isinstance(activities, list) else []:
            if not isinstance(activity, Mapping):
                continue
            postal, commune = _text(activity, "codePostal"), _text(activity, "libelleCommune")
            situations.append(
                PracticeSituation(
                    profession_code=_text(exercise, "codeProfession"),
                    category_code=_text(exercise, "codeCategorieProfessionnelle"),
                    name=name,
                    expertise_code=_text(exercise, "codeSavoirFaire"),
                    mode_code=_text(activity, "codeModeExercice"),
                    sector_code=_text(activity, "codeSecteurDactivite"),
                    role_code=_text(activity, "codeRole"),
                    structure_id=_text(activity, "identifiantTechniqueDeLaStructure"),
                    structure_name=_text(activity, "raisonSocialeSite"),
                    siret=_text(activity, "numeroSiretSite"),
                    finess=_text(activity, "numeroFinessSite"),
                    city=f"{postal} {commune}".strip(),
                )
            )
    return PscIdentity(
        subject=subject,
        national_id=national_id.strip(),
        given_name=_text(claims, "given_name"),
        family_name=_text(claims, "family_name"),
        civility=_text(ref, "codeCivilite"),
        situations=tuple(situations),
        raw_claims=dict(claims),
    )


def _text(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    return value.strip() if isinstance(value, str) else ""
