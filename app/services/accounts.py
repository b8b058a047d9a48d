"""Local accounts: sign-in with a password, password changes, session lock, account administration; all traced
(SC.SSI/IAM.90/91/92, IE.36/38/39/49)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, replace

from app.session import CurrentUser
from domain.audit import AuditAction, AuditEvent
from domain.errors import InvalidInput, NotFound, PermissionDenied
from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.practice import Profession, UserAccount, UserRole
from domain.security import (
    DEFAULT_INACTIVITY_MINUTES,
    Credentials,
    PasswordHasher,
    PasswordPolicy,
    Permission,
    SignInOutcome,
    SignInRefused,
    acting_for,
    check_display_name,
    check_inactivity_minutes,
    check_login,
    is_expired,
    is_locked,
    lock_message,
    normalise_login,
    policy_for,
    printable,
    refusal,
    register_attempt,
    require,
    sign_in_state_for_new_password,
)

log = logging.getLogger("lgc.accounts")

METHOD_PASSWORD = "mot_de_passe"  # noqa: S105 - a method name
DEMO_PASSWORD = "Demonstration-LGC-2026"  # noqa: S105 - shown on the sign-in dialog in demo mode only
"""Password of every demo account (fictitious practice); it satisfies the privileged policy too."""


@dataclass(frozen=True, slots=True)
class SecurityOptions:
    """Settings of the security policy the practice may change.

    Attributes:
        inactivity_minutes: the session locks after this much inactivity (SC.SSI/IE.39).
        standard_max_age_days: forced renewal of standard passwords (0: none; IE.49). Privileged accounts
            always renew within a year (IAM.92).
    """

    inactivity_minutes: int = DEFAULT_INACTIVITY_MINUTES
    standard_max_age_days: int = 0


@dataclass(frozen=True, slots=True)
class SignInResult:
    """A successful password check.

    Attributes:
        user: the account (with ``on_behalf_of`` for a remplaçant).
        must_change_password: the password expired or was set by an administrator: the user is *not* signed in
            until it is changed (``change_password`` with the same current password).
        reason_fr: why the change is required.
    """

    user: UserAccount
    must_change_password: bool = False
    reason_fr: str = ""


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """One line of the account list (administration)."""

    user: UserAccount
    has_password: bool
    locked: bool
    lock_text: str
    password_expires_at: dt.datetime | None
    last_sign_in_at: dt.datetime | None
    policy_name: str


Operator = UserAccount | str | None
"""Who administers: None = the signed-in user (checked for the permission); a string = the command line run by
someone with access to the workstation's data (named in the traces)."""


class AccountService:
    """Local sign-in and the account life cycle, every attempt traced."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        clock: Clock,
        current_user: CurrentUser,
        options: SecurityOptions | None = None,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._clock = clock
        self._current = current_user
        self.options = options or SecurityOptions()
        check_inactivity_minutes(self.options.inactivity_minutes)
        self._dummy_hash: str | None = None
        self._dummy_lock = threading.Lock()

    # -- policy ---------------------------------------------------------------------------------------
    def policy(self, user: UserAccount) -> PasswordPolicy:
        """The password policy that applies to ``user``."""
        return policy_for(user, standard_max_age_days=self.options.standard_max_age_days)

    def policy_lines(self, login: str) -> list[str]:
        """The policy of the account ``login`` in French (the standard one when the login is unknown)."""
        with self._uow() as uow:
            user = uow.practice.user_by_login(normalise_login(login))
        dummy = UserAccount(None, "?", "?", UserRole.SECRETARY, None)
        return self.policy(user or dummy).describe()

    # -- sign-in --------------------------------------------------------------------------------------
    def sign_in(self, login: str, password: str) -> SignInResult:
        """Check a local password and, unless it must be changed first, make the user the current one.

        Raises:
            SignInRefused: unknown login or wrong password (the same words), locked account, no local
                password; traced with the login as typed.
            PermissionDenied: a remplaçant whose titulaire is missing.
        """
        typed = printable(login)
        key = normalise_login(login)
        now = self._clock.now()
        with self._uow() as uow:
            user = uow.practice.user_by_login(key) if key else None
            if user is None or user.id is None:
                self._burn(password)
                self._trace(uow, typed, AuditAction.SIGN_IN, SignInOutcome.UNKNOWN_ACCOUNT.value, typed, {})
                uow.commit()
                log.info("Sign-in refused for an unknown login")
                raise SignInRefused(
                    "Identifiant ou mot de passe incorrect.", SignInOutcome.UNKNOWN_ACCOUNT, remaining=None
                )
            creds = uow.accounts.credentials(user.id)
            policy = self.policy(user)
            outcome, new_state, ok = self._attempt(creds, policy, password, now)
            uow.accounts.save_credentials(user.id, new_state)
            self._rehash_if_needed(uow, user.id, new_state, password, ok)
            detail: dict[str, object] = {"tentatives_echouees": new_state.failed_attempts}
            if outcome.succeeded:
                titulaire = uow.accounts.user_by_id(user.titulaire_id) if user.titulaire_id else None
                try:
                    acting = acting_for(user, titulaire)
                except PermissionDenied:
                    self._trace(uow, user.actor, AuditAction.SIGN_IN, "refus_sans_titulaire", typed, detail)
                    uow.commit()
                    raise
            else:
                acting = user
            self._trace(uow, acting.actor, AuditAction.SIGN_IN, outcome.value, typed, detail)
            uow.commit()
        if not outcome.succeeded:
            log.info("Sign-in refused for %s: %s", user.login, outcome.value)
            raise refusal(outcome, new_state, policy, now)
        if outcome is SignInOutcome.MUST_CHANGE:
            reason = (
                "Votre mot de passe a expiré : choisissez-en un nouveau."
                if is_expired(creds, policy, now)
                else "Votre mot de passe a été défini par un administrateur : choisissez-en un personnel."
            )
            return SignInResult(acting, must_change_password=True, reason_fr=reason)
        self._current.set(acting)
        log.info("User %s signed in", user.login)
        return SignInResult(acting)

    def sign_in_external(self, login: str, method: str, detail: dict[str, object] | None = None) -> UserAccount:
        """Make ``login`` the current user after another method proved who they are (Pro Santé Connect…).

        Raises:
            NotFound: no such account. SignInRefused: the account is locked.
        """
        now = self._clock.now()
        with self._uow() as uow:
            user = uow.practice.user_by_login(normalise_login(login))
            if user is None or user.id is None:
                raise NotFound(f"Aucun compte « {printable(login)} » dans ce cabinet.")
            creds = uow.accounts.credentials(user.id)
            info: dict[str, object] = {"methode": method, **(detail or {})}
            if is_locked(creds, now):
                self._trace(uow, user.actor, AuditAction.SIGN_IN, SignInOutcome.LOCKED.value, user.login, info)
                uow.commit()
                raise SignInRefused(lock_message(creds, now), SignInOutcome.LOCKED)
            titulaire = uow.accounts.user_by_id(user.titulaire_id) if user.titulaire_id else None
            acting = acting_for(user, titulaire)
            uow.accounts.save_credentials(user.id, replace(creds, last_sign_in_at=now))
            self._trace(uow, acting.actor, AuditAction.SIGN_IN, SignInOutcome.SUCCESS.value, user.login, info)
            uow.commit()
        self._current.set(acting)
        return acting

    def change_password(self, login: str, current_password: str, new_password: str, confirmation: str) -> UserAccount:
        """The user changes their own password (also after an expiry or an administrator reset); signs them in.

        Raises:
            InvalidInput: confirmation differs, the policy refuses the new password, or it was used before
                (French message; traced as a failed change).
            SignInRefused: the current password is wrong (counts as a failed sign-in) or the account is locked.
        """
        typed = printable(login)
        now = self._clock.now()
        with self._uow() as uow:
            user = uow.practice.user_by_login(normalise_login(login))
            if user is None or user.id is None:
                self._burn(current_password)
                self._trace(uow, typed, AuditAction.PASSWORD_CHANGE, SignInOutcome.UNKNOWN_ACCOUNT.value, typed, {})
                uow.commit()
                raise SignInRefused("Identifiant ou mot de passe incorrect.", SignInOutcome.UNKNOWN_ACCOUNT)
            creds = uow.accounts.credentials(user.id)
            policy = self.policy(user)
            outcome, state, _ok = self._attempt(creds, policy, current_password, now)
            if not outcome.succeeded:
                uow.accounts.save_credentials(user.id, state)
                self._trace(uow, user.actor, AuditAction.PASSWORD_CHANGE, outcome.value, typed, {})
                uow.commit()
                raise refusal(outcome, state, policy, now)
            problem = self._new_password_problem(uow, user, state, policy, new_password, confirmation, current_password)
            if problem is not None:
                # the current password was right: the failure counter restarts, the change is refused
                uow.accounts.save_credentials(user.id, replace(state, last_sign_in_at=creds.last_sign_in_at))
                self._trace(uow, user.actor, AuditAction.PASSWORD_CHANGE, problem[0], typed, {})
                uow.commit()
                raise InvalidInput({"new_password": problem[1]})
            self._store_new_password(uow, user.id, state, new_password, now)
            titulaire = uow.accounts.user_by_id(user.titulaire_id) if user.titulaire_id else None
            acting = acting_for(user, titulaire)
            self._trace(uow, acting.actor, AuditAction.PASSWORD_CHANGE, "ok", typed, {})
            self._trace(uow, acting.actor, AuditAction.SIGN_IN, SignInOutcome.SUCCESS.value, typed, {})
            uow.commit()
        self._current.set(acting)
        log.info("Password changed for %s", user.login)
        return acting

    def sign_out(self) -> None:
        """End the session (SC.SSI/IE.38); traced."""
        if not self._current.is_set:
            return
        user = self._current()
        with self._uow() as uow:
            self._trace(uow, user.actor, AuditAction.SIGN_OUT, "ok", user.login, {})
            uow.commit()
        self._current.set(None)

    def lock_session(self, reason: str = "inactivite") -> None:
        """Record that the screen was locked (inactivity or on request)."""
        if not self._current.is_set:
            return
        user = self._current()
        with self._uow() as uow:
            self._trace(uow, user.actor, AuditAction.SESSION_LOCK, "ok", user.login, {"motif": reason})
            uow.commit()

    def unlock_session(self, password: str) -> UserAccount:
        """Unlock the screen with the current user's password (failures count towards the account lock).

        Raises:
            SignInRefused: wrong password (the session stays locked) or account now locked (the user is signed
                out: the caller goes back to the sign-in dialog).
        """
        user = self._current()
        assert user.id is not None
        now = self._clock.now()
        with self._uow() as uow:
            creds = uow.accounts.credentials(user.id)
            policy = self.policy(user)
            outcome, state, _ok = self._attempt(creds, policy, password, now)
            uow.accounts.save_credentials(user.id, state)
            result = "ok" if outcome.succeeded else outcome.value
            self._trace(uow, user.actor, AuditAction.SESSION_UNLOCK, result, user.login, {})
            uow.commit()
        if outcome.succeeded:
            return user
        if outcome in (SignInOutcome.LOCKED, SignInOutcome.LOCKED_NOW):
            self._current.set(None)
        raise refusal(outcome, state, policy, now)

    # -- administration -------------------------------------------------------------------------------
    def accounts(self) -> list[AccountSummary]:
        """Every account with its security state."""
        now = self._clock.now()
        with self._uow() as uow:
            users = uow.practice.users()
            states = [(u, uow.accounts.credentials(u.id)) for u in users if u.id is not None]
        result = []
        for user, creds in states:
            policy = self.policy(user)
            locked = is_locked(creds, now)
            expires = policy.expires_at(creds.password_changed_at) if creds.password_changed_at else None
            result.append(
                AccountSummary(
                    user=user,
                    has_password=creds.password_hash is not None,
                    locked=locked,
                    lock_text=lock_message(creds, now) if locked else "",
                    password_expires_at=expires,
                    last_sign_in_at=creds.last_sign_in_at,
                    policy_name=policy.name,
                )
            )
        return result

    def create_account(
        self,
        login: str,
        display_name: str,
        role: UserRole,
        password: str | None,
        *,
        by: Operator = None,
        is_admin: bool = False,
        profession: Profession | None = None,
        rpps: str = "",
        titulaire: str = "",
        structure_id: int | None = None,
        must_change: bool = True,
    ) -> UserAccount:
        """Create a local account (with a first password the user must change unless ``must_change`` is False).

        Raises:
            InvalidInput: bad login or name, login taken, password refused, remplaçant without titulaire.
            PermissionDenied: the operator may not manage accounts.
        """
        actor = self._operator(by)
        key = check_login(login)
        name = check_display_name(display_name)
        if rpps and not (rpps.isdigit() and len(rpps) == 11):
            raise InvalidInput({"rpps": "Le numéro RPPS comporte 11 chiffres."})
        now = self._clock.now()
        with self._uow() as uow:
            if uow.practice.user_by_login(key) is not None:
                raise InvalidInput({"login": f"L'identifiant « {key} » est déjà utilisé."})
            titulaire_id = self._titulaire_id(uow, role, titulaire)
            if structure_id is None:
                structures = uow.practice.structures()
                structure_id = structures[0].id if structures else None
            user = UserAccount(
                id=None,
                login=key,
                display_name=name,
                role=role,
                structure_id=structure_id,
                profession=profession,
                rpps=rpps,
                is_admin=is_admin,
                titulaire_id=titulaire_id,
            )
            if password is not None:
                self.policy(user).check(password, login=key, display_name=name)
            user_id = uow.practice.add_user(user)
            user = replace(user, id=user_id)
            if password is not None:
                creds = sign_in_state_for_new_password(Credentials(), self._hasher.hash(password), now)
                uow.accounts.save_credentials(user_id, replace(creds, must_change=must_change))
            detail: dict[str, object] = {
                "compte": key,
                "nom": name,
                "role": role.value,
                "administrateur": is_admin,
                "titulaire": titulaire or None,
                "mot_de_passe_defini": password is not None,
            }
            self._trace(uow, actor, AuditAction.ACCOUNT_CREATE, "ok", key, detail)
            uow.commit()
        log.info("Account %s created", key)
        return user

    def update_account(
        self,
        login: str,
        *,
        by: Operator = None,
        display_name: str | None = None,
        role: UserRole | None = None,
        is_admin: bool | None = None,
        titulaire: str | None = None,
    ) -> UserAccount:
        """Change an account's identity attributes (traced as such) and permissions (traced as such)."""
        actor = self._operator(by)
        with self._uow() as uow:
            user = self._existing(uow, login)
            changed = user
            if display_name is not None:
                changed = replace(changed, display_name=check_display_name(display_name))
            if role is not None:
                changed = replace(changed, role=role)
            if is_admin is not None:
                changed = replace(changed, is_admin=is_admin)
            if titulaire is not None or role is not None:
                wanted = titulaire if titulaire is not None else self._login_of(uow, changed.titulaire_id)
                changed = replace(changed, titulaire_id=self._titulaire_id(uow, changed.role, wanted))
            identity = {
                k: {"avant": before, "apres": after}
                for k, before, after in (("nom", user.display_name, changed.display_name),)
                if before != after
            }
            permissions = {
                k: {"avant": before, "apres": after}
                for k, before, after in (
                    ("role", user.role.value, changed.role.value),
                    ("administrateur", user.is_admin, changed.is_admin),
                    ("titulaire", self._login_of(uow, user.titulaire_id), self._login_of(uow, changed.titulaire_id)),
                )
                if before != after
            }
            if not identity and not permissions:
                return user
            uow.accounts.update_user(changed)
            if identity:
                self._trace(
                    uow, actor, AuditAction.ACCOUNT_ATTRIBUTES, "ok", user.login, {"compte": user.login, **identity}
                )
            if permissions:
                self._trace(
                    uow, actor, AuditAction.ACCOUNT_PERMISSIONS, "ok", user.login, {"compte": user.login, **permissions}
                )
            uow.commit()
        return changed

    def lock_account(self, login: str, *, by: Operator = None, reason: str = "") -> None:
        """Disable an account until an administrator unlocks it (departure, lost or stolen authenticator)."""
        actor = self._operator(by)
        with self._uow() as uow:
            user = self._existing(uow, login)
            assert user.id is not None
            creds = uow.accounts.credentials(user.id)
            uow.accounts.save_credentials(user.id, replace(creds, disabled=True))
            self._trace(uow, actor, AuditAction.ACCOUNT_LOCK, "ok", user.login, {"compte": user.login, "motif": reason})
            uow.commit()
        if self._current.is_set and self._current().login == user.login:
            self._current.set(None)

    def unlock_account(self, login: str, *, by: Operator = None) -> None:
        """Lift a lock (administrator's or after failures) and reset the failure counter."""
        actor = self._operator(by)
        with self._uow() as uow:
            user = self._existing(uow, login)
            assert user.id is not None
            creds = uow.accounts.credentials(user.id)
            uow.accounts.save_credentials(user.id, replace(creds, disabled=False, locked_until=None, failed_attempts=0))
            self._trace(uow, actor, AuditAction.ACCOUNT_UNLOCK, "ok", user.login, {"compte": user.login})
            uow.commit()

    def reset_password(self, login: str, new_password: str, *, by: Operator = None, must_change: bool = True) -> None:
        """An administrator sets a new password (the user must change it at the next sign-in); unlocks.

        Raises:
            InvalidInput: the policy refuses the password or it was used before (traced as a failed change).
        """
        actor = self._operator(by)
        now = self._clock.now()
        with self._uow() as uow:
            user = self._existing(uow, login)
            assert user.id is not None
            creds = uow.accounts.credentials(user.id)
            policy = self.policy(user)
            problem = self._new_password_problem(uow, user, creds, policy, new_password, new_password, None)
            if problem is not None:
                self._trace(uow, actor, AuditAction.PASSWORD_CHANGE, problem[0], user.login, {"compte": user.login})
                uow.commit()
                raise InvalidInput({"password": problem[1]})
            state = self._store_new_password(uow, user.id, creds, new_password, now)
            uow.accounts.save_credentials(
                user.id, replace(state, must_change=must_change, disabled=False, locked_until=None)
            )
            self._trace(
                uow,
                actor,
                AuditAction.PASSWORD_CHANGE,
                "ok",
                user.login,
                {"compte": user.login, "reinitialisation": True, "changement_exige": must_change},
            )
            uow.commit()

    def ensure_demo_passwords(self, password: str) -> int:
        """Demo practice: give every account without a password the demo one (hashed once). Returns the count."""
        now = self._clock.now()
        with self._uow() as uow:
            missing = [
                u.id
                for u in uow.practice.users()
                if u.id is not None and uow.accounts.credentials(u.id).password_hash is None
            ]
            if not missing:
                return 0
            digest = self._hasher.hash(password)
            for user_id in missing:
                uow.accounts.save_credentials(user_id, sign_in_state_for_new_password(Credentials(), digest, now))
            uow.commit()
        return len(missing)

    # -- internals ------------------------------------------------------------------------------------
    def _attempt(
        self, creds: Credentials, policy: PasswordPolicy, password: str, now: dt.datetime
    ) -> tuple[SignInOutcome, Credentials, bool]:
        if creds.password_hash is None or is_locked(creds, now):
            self._burn(password)
            outcome, state = register_attempt(creds, policy, now, password_ok=False)
            return outcome, state, False
        ok = self._hasher.verify(creds.password_hash, password)
        outcome, state = register_attempt(creds, policy, now, password_ok=ok)
        return outcome, state, ok

    def _burn(self, password: str) -> None:
        """Spend the time of a real check so that response times do not reveal which logins exist."""
        with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash("lgc-dummy-password-for-timing")
            dummy = self._dummy_hash
        self._hasher.verify(dummy, password)

    def _rehash_if_needed(self, uow: UnitOfWork, user_id: int, state: Credentials, password: str, ok: bool) -> None:
        if ok and state.password_hash and self._hasher.needs_rehash(state.password_hash):
            uow.accounts.save_credentials(user_id, replace(state, password_hash=self._hasher.hash(password)))

    def _new_password_problem(
        self,
        uow: UnitOfWork,
        user: UserAccount,
        creds: Credentials,
        policy: PasswordPolicy,
        new_password: str,
        confirmation: str,
        current_password: str | None,
    ) -> tuple[str, str] | None:
        if new_password != confirmation:
            return "refus_confirmation", "Les deux saisies du nouveau mot de passe diffèrent."
        problems = policy.problems(new_password, login=user.login, display_name=user.display_name)
        if problems:
            return "refus_politique", " ".join(problems)
        assert user.id is not None
        if current_password is not None and new_password == current_password:
            return "refus_reutilisation", "Le nouveau mot de passe doit être différent de l'actuel."
        previous = [creds.password_hash] if creds.password_hash else []
        if policy.history is None or policy.history > 0:
            previous += uow.accounts.password_history(user.id, policy.history)
        if any(self._hasher.verify(old, new_password) for old in previous):
            return (
                "refus_reutilisation",
                "Ce mot de passe a déjà été utilisé pour ce compte : choisissez-en un que vous n'avez jamais utilisé.",
            )
        return None

    def _store_new_password(
        self, uow: UnitOfWork, user_id: int, creds: Credentials, new_password: str, now: dt.datetime
    ) -> Credentials:
        if creds.password_hash:
            uow.accounts.add_password_history(user_id, creds.password_hash, now)
        state = sign_in_state_for_new_password(creds, self._hasher.hash(new_password), now)
        state = replace(state, locked_until=None, last_sign_in_at=now)
        uow.accounts.save_credentials(user_id, state)
        return state

    def _operator(self, by: Operator) -> str:
        if isinstance(by, str):
            return by
        user = by if by is not None else self._current()
        require(user, Permission.MANAGE_ACCOUNTS)
        return user.actor

    @staticmethod
    def _existing(uow: UnitOfWork, login: str) -> UserAccount:
        user = uow.practice.user_by_login(normalise_login(login))
        if user is None or user.id is None:
            raise NotFound(f"Aucun compte « {printable(login)} » dans ce cabinet.")
        return user

    @staticmethod
    def _login_of(uow: UnitOfWork, user_id: int | None) -> str:
        if user_id is None:
            return ""
        user = uow.accounts.user_by_id(user_id)
        return user.login if user else ""

    @staticmethod
    def _titulaire_id(uow: UnitOfWork, role: UserRole, titulaire: str) -> int | None:
        if role is not UserRole.REPLACEMENT:
            if titulaire:
                raise InvalidInput({"titulaire": "Seul un compte de remplaçant a un titulaire."})
            return None
        if not titulaire:
            raise InvalidInput({"titulaire": "Un remplaçant travaille pour le compte d'un titulaire : indiquez-le."})
        found = uow.practice.user_by_login(normalise_login(titulaire))
        if found is None or found.role is not UserRole.PRACTITIONER:
            raise InvalidInput({"titulaire": f"« {printable(titulaire)} » n'est pas un praticien de ce cabinet."})
        return found.id

    def _trace(
        self,
        uow: UnitOfWork,
        actor: str,
        action: AuditAction,
        outcome: str,
        typed_login: str,
        detail: dict[str, object],
    ) -> None:
        uow.audit.append(
            AuditEvent(
                at=self._clock.now(),
                actor=actor,
                action=action,
                outcome=outcome,
                detail={"identifiant_saisi": typed_login, **detail},
            )
        )
