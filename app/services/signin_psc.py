"""Sign-in with Pro Santé Connect: browser + loopback flow, account linking, session kept alive, sign-out."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from app.session import CurrentUser
from domain.audit import AuditAction, AuditEvent
from domain.errors import AuthenticationRequired, DomainError, InvalidInput, RemoteServiceError
from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.practice import Structure, UserAccount, UserRole
from domain.psc import (
    Browser,
    PracticeSituation,
    ProSanteConnect,
    PscCancelled,
    PscIdentity,
    PscLink,
    PscSession,
    PscSignInRefused,
    RedirectReceiver,
    RedirectReceiverFactory,
)
from domain.security import (
    SignInOutcome,
    SignInRefused,
    acting_for,
    check_display_name,
    check_login,
    is_locked,
    lock_message,
)

log = logging.getLogger("lgc.psc")

SIGN_IN_METHOD = "pro_sante_connect"
DEFAULT_TIMEOUT_S = 300.0
REFRESH_MARGIN = dt.timedelta(seconds=90)  # the UI checks every 60 s


@dataclass(frozen=True, slots=True)
class PendingPscSignIn:
    """A PSC authentication that succeeded, waiting for the situation d'exercice to be chosen.

    Attributes:
        session: The PSC session (tokens in memory).
        situations: The situations d'exercice to choose from (the user picks one when there are several).
    """

    session: PscSession
    situations: tuple[PracticeSituation, ...]

    @property
    def needs_choice(self) -> bool:
        """True when the user must pick a situation."""
        return len(self.situations) > 1

    @property
    def identity(self) -> PscIdentity:
        """Who signed in."""
        return self.session.identity


@dataclass(frozen=True, slots=True)
class PscSignInResult:
    """The outcome of a PSC sign-in: the local account now signed in.

    Attributes:
        user: The signed-in account (a remplaçant carries its titulaire in ``on_behalf_of``).
        identity: The PSC identity.
        situation: The situation d'exercice chosen, or None when PSC lists none.
        link: ``existante`` (linked before), ``rpps`` (linked now to the account with this RPPS) or ``creation``.
    """

    user: UserAccount
    identity: PscIdentity
    situation: PracticeSituation | None
    link: str


class PscSignInService:
    """Signs users in with Pro Santé Connect and keeps the session (in memory) while the application is used.

    ``authenticate`` runs on the NET lane (it waits for the browser), ``finish`` on the DB lane.
    """

    def __init__(
        self,
        psc: Callable[[], ProSanteConnect] | None,
        receivers: RedirectReceiverFactory,
        uow: UnitOfWorkFactory,
        clock: Clock,
        current_user: CurrentUser,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        refresh_margin: dt.timedelta = REFRESH_MARGIN,
    ) -> None:
        """Create the service.

        Args:
            psc: Builds the OpenID client on first use (None: PSC is not configured on this workstation).
            receivers: Starts a loopback listener per attempt.
            uow: Units of work (account links, traces).
            clock: Current time.
            current_user: Who is signed in on this workstation.
            timeout_s: How long to wait for the user in the browser.
            refresh_margin: Renew the access token when it expires within this margin.
        """
        self._psc_factory = psc
        self._psc: ProSanteConnect | None = None
        self._receivers = receivers
        self._uow = uow
        self._clock = clock
        self._current = current_user
        self._timeout_s = timeout_s
        self._margin = refresh_margin
        self._lock = threading.Lock()
        self._receiver: RedirectReceiver | None = None
        self._session: PscSession | None = None
        self._situation: PracticeSituation | None = None

    # -- state ---------------------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        """True when Pro Santé Connect is configured on this workstation."""
        return self._psc_factory is not None

    @property
    def signed_in(self) -> bool:
        """True while a PSC session is open."""
        with self._lock:
            return self._session is not None

    @property
    def identity(self) -> PscIdentity | None:
        """The PSC identity of the open session."""
        with self._lock:
            return self._session.identity if self._session else None

    @property
    def situation(self) -> PracticeSituation | None:
        """The situation d'exercice chosen for the open session."""
        with self._lock:
            return self._situation

    def warm_up(self) -> None:
        """Build the OpenID client (imports httpx, joserfc…) off the UI thread, without any network call."""
        if self._psc_factory is not None:
            self._client()

    # -- sign-in -------------------------------------------------------------------------------------

    def authenticate(self, browser: Browser, cancelled: threading.Event | None = None) -> PendingPscSignIn:
        """Open PSC in the system browser and wait for the loopback redirect; verify everything.

        Blocks until the user finishes in the browser (NET lane). Every failure is traced.

        Args:
            browser: Opens the authorization page.
            cancelled: Set by the caller (from any thread, even before this starts) to give up.

        Raises:
            PscSignInRefused: Refused (state, ID token, no RPPS…), French message.
            PscCancelled: The user cancelled, or nothing came back in time.
            RemoteServiceError: PSC unreachable.
        """
        psc = self._client()
        receiver: RedirectReceiver | None = None
        national_id = ""
        try:
            receiver = self._receivers()
            with self._lock:
                self._receiver = receiver
            if cancelled is not None and cancelled.is_set():
                raise PscCancelled("Connexion Pro Santé Connect annulée.")
            request = psc.begin(receiver.redirect_uri)
            browser.open(request.url)
            callback = receiver.wait(self._timeout_s, cancelled)
            session = psc.complete(request, callback)
            identity = session.identity
            national_id = identity.national_id
            if not identity.rpps:
                log.warning("PSC sign-in refused: account without RPPS")
                raise PscSignInRefused(
                    "Ce compte Pro Santé Connect n'est rattaché à aucun numéro RPPS : il ne peut pas ouvrir de "
                    "session dans LGC. Connectez-vous avec votre compte local, ou faites enregistrer votre RPPS.",
                    reason="no_rpps",
                )
        except PscCancelled as exc:
            self._trace_failure("annule", "annulation", "", exc.message_fr)
            raise
        except PscSignInRefused as exc:
            self._trace_failure("echec", exc.reason, national_id, exc.message_fr)
            raise
        except RemoteServiceError as exc:
            self._trace_failure("echec", "service_injoignable", "", exc.message_fr)
            raise
        finally:
            if receiver is not None:
                receiver.close()
            with self._lock:
                self._receiver = None
        log.info("PSC authentication succeeded (%d situation(s))", len(identity.situations))
        return PendingPscSignIn(session, identity.situations)

    def cancel(self) -> None:
        """Give up waiting for the browser (the sign-in dialog was closed)."""
        with self._lock:
            receiver = self._receiver
        if receiver is not None:
            receiver.cancel()

    def finish(self, pending: PendingPscSignIn, situation_index: int | None = None) -> PscSignInResult:
        """Link the PSC identity to a local account (or create one), sign it in, keep the session.

        Args:
            pending: What ``authenticate`` returned.
            situation_index: The situation d'exercice chosen (required when there are several).

        Raises:
            InvalidInput: No or a wrong situation chosen.
            SignInRefused: The linked local account is locked (same rule as a password sign-in).
            PermissionDenied: A remplaçant without titulaire.
        """
        situation = _pick(pending.situations, situation_index)
        identity = pending.identity
        now = self._clock.now()
        with self._uow() as uow:
            user, how = self._link(uow, identity, situation, now)
            actor = f"{user.display_name} ({user.login})"
            assert user.id is not None
            credentials = uow.accounts.credentials(user.id)
            if is_locked(credentials, now):
                uow.audit.append(self._event(now, actor, SignInOutcome.LOCKED.value, identity, situation, how))
                uow.commit()
                raise SignInRefused(
                    "Le compte local lié à cette identité Pro Santé Connect est bloqué. "
                    + lock_message(credentials, now),
                    SignInOutcome.LOCKED,
                )
            uow.accounts.save_credentials(user.id, replace(credentials, last_sign_in_at=now))
            if user.role is UserRole.REPLACEMENT:
                titulaire = uow.accounts.user_by_id(user.titulaire_id) if user.titulaire_id else None
                user = acting_for(user, titulaire)
            uow.audit.append(self._event(now, user.actor, "ok", identity, situation, how))
            uow.commit()
        with self._lock:
            self._session = pending.session
            self._situation = situation
        self._current.set(user)
        log.info("Signed in with PSC as %s (%s)", user.login, how)
        return PscSignInResult(user, identity, situation, how)

    def _link(
        self, uow: UnitOfWork, identity: PscIdentity, situation: PracticeSituation | None, now: dt.datetime
    ) -> tuple[UserAccount, str]:
        users = uow.practice.users()
        link = uow.psc_links.by_national_id(identity.national_id)
        user = next((u for u in users if link is not None and u.id == link.user_id), None)
        if link is not None and user is not None:
            uow.psc_links.save(replace(link, subject=identity.subject, last_sign_in=now))
            return user, "existante"
        user = next((u for u in users if u.rpps == identity.rpps), None)
        how = "rpps"
        if user is None:
            user = self._new_account(uow, identity, situation, users)
            how = "creation"
            uow.audit.append(
                AuditEvent(
                    at=now,
                    actor=f"Pro Santé Connect ({identity.national_id})",
                    action=AuditAction.ACCOUNT_CREATE,
                    detail={"compte": user.login, "rpps": identity.rpps, "methode": SIGN_IN_METHOD},
                )
            )
        assert user.id is not None
        uow.psc_links.save(PscLink(identity.national_id, identity.subject, user.id, now, now))
        uow.audit.append(
            AuditEvent(
                at=now,
                actor=user.actor,
                action=AuditAction.PSC_LINK,
                detail={"compte": user.login, "identifiant_national": identity.national_id, "liaison": how},
            )
        )
        return user, how

    def _new_account(
        self,
        uow: UnitOfWork,
        identity: PscIdentity,
        situation: PracticeSituation | None,
        users: list[UserAccount],
    ) -> UserAccount:
        login = check_login(f"psc-{identity.rpps}")
        if any(u.login == login for u in users):
            login = check_login(f"psc-{identity.rpps}-{len(users)}")
        try:
            display = check_display_name(identity.display_name or login)
        except InvalidInput:
            display = login
        structures = uow.practice.structures()
        user = UserAccount(
            id=None,
            login=login,
            display_name=display,
            role=UserRole.PRACTITIONER,
            structure_id=_structure_for(structures, situation),
            profession=situation.profession if situation else None,
            rpps=identity.rpps,
        )
        return replace(user, id=uow.practice.add_user(user))

    # -- the session ---------------------------------------------------------------------------------

    def access_token(self) -> str:
        """A valid PSC access token for the services that need one, renewed when about to expire.

        Raises:
            AuthenticationRequired: No PSC session, or it ended (refresh token revoked): sign in again.
        """
        self.keep_alive()
        with self._lock:
            if self._session is None:
                raise AuthenticationRequired("Aucune session Pro Santé Connect : connectez-vous avec PSC.")
            return self._session.tokens.access_token

    def keep_alive(self) -> bool:
        """Renew the tokens if they expire soon (the UI calls this periodically on the NET lane).

        Returns:
            True while the session is open; False when there is none.

        Raises:
            PscSignInRefused: The refresh was refused (revoked mid-session): the session is closed and traced.
            RemoteServiceError: PSC unreachable (the session stays open until its tokens expire).
        """
        with self._lock:
            session = self._session
        if session is None:
            return False
        if not session.tokens.expires_within(self._clock.now(), self._margin):
            return True
        try:
            renewed = self._client().refresh(session)
        except PscSignInRefused as exc:
            self._end_locally("session_revoquee", exc.message_fr)
            raise
        with self._lock:
            if self._session is session:
                self._session = renewed
        log.info("PSC tokens renewed")
        return True

    def sign_out(self) -> None:
        """End the PSC session at PSC (``id_token_hint``) and here; the workstation has nobody signed in.

        A PSC that cannot be reached does not keep the session open locally (traced as such).
        """
        with self._lock:
            session = self._session
        if session is None:
            return
        outcome, detail = "ok", ""
        try:
            self._client().logout(session)
        except DomainError as exc:
            log.warning("PSC logout not confirmed: %s", exc.message_fr)
            outcome, detail = "ok_local_seulement", exc.message_fr
        self._end_locally(outcome, detail, action=AuditAction.SIGN_OUT)

    def _end_locally(self, outcome: str, message: str, *, action: AuditAction = AuditAction.PSC_SESSION) -> None:
        with self._lock:
            session, self._session, self._situation = self._session, None, None
        if session is None:
            return
        actor = f"Pro Santé Connect ({session.identity.national_id})"
        if self._current.is_set:
            actor = self._current().actor
            self._current.set(None)
        detail: dict[str, object] = {"methode": SIGN_IN_METHOD, "identifiant_national": session.identity.national_id}
        if message:
            detail["message"] = message
        self._append(AuditEvent(at=self._clock.now(), actor=actor, action=action, outcome=outcome, detail=detail))

    # -- internals -----------------------------------------------------------------------------------

    def _client(self) -> ProSanteConnect:
        if self._psc_factory is None:
            raise AuthenticationRequired(
                "Pro Santé Connect n'est pas configuré sur ce poste (section [services.psc] de lgc.toml)."
            )
        with self._lock:
            if self._psc is None:
                self._psc = self._psc_factory()
            return self._psc

    def _event(
        self,
        now: dt.datetime,
        actor: str,
        outcome: str,
        identity: PscIdentity,
        situation: PracticeSituation | None,
        how: str,
    ) -> AuditEvent:
        detail: dict[str, object] = {
            "methode": SIGN_IN_METHOD,
            "identifiant_national": identity.national_id,
            "rpps": identity.rpps,
            "liaison": how,
        }
        if situation is not None:
            detail["situation"] = situation.structure_id
            detail["structure"] = situation.structure_name
        return AuditEvent(at=now, actor=actor, action=AuditAction.SIGN_IN, outcome=outcome, detail=detail)

    def _trace_failure(self, outcome: str, reason: str, national_id: str, message: str) -> None:
        actor = f"Pro Santé Connect ({national_id})" if national_id else "Pro Santé Connect (identité non vérifiée)"
        detail: dict[str, object] = {"methode": SIGN_IN_METHOD, "raison": reason, "message": message}
        self._append(
            AuditEvent(at=self._clock.now(), actor=actor, action=AuditAction.SIGN_IN, outcome=outcome, detail=detail)
        )

    def _append(self, event: AuditEvent) -> None:
        try:
            with self._uow() as uow:
                uow.audit.append(event)
                uow.commit()
        except DomainError:
            log.exception("Could not trace a PSC event (%s)", event.action.value)


def _pick(situations: tuple[PracticeSituation, ...], index: int | None) -> PracticeSituation | None:
    if not situations:
        return None
    if index is None:
        if len(situations) == 1:
            return situations[0]
        raise InvalidInput({"situation": "Choisissez la situation d'exercice dans laquelle vous travaillez."})
    if not 0 <= index < len(situations):
        raise InvalidInput({"situation": "Situation d'exercice inconnue : choisissez-en une dans la liste."})
    return situations[index]


def _structure_for(structures: list[Structure], situation: PracticeSituation | None) -> int | None:
    if situation is not None and situation.finess:
        match = next((s for s in structures if s.finess and s.finess == situation.finess), None)
        if match is not None:
            return match.id
    return structures[0].id if structures else None
