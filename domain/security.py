"""Local accounts: password policies, lockout, roles and permissions (SC.SSI/IAM.92, IE.36/39/49)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from domain.errors import DomainError, InvalidInput, PermissionDenied
from domain.practice import UserAccount, UserRole

# -- permissions ---------------------------------------------------------------------------------------


class Permission(StrEnum):
    """What a role allows; services check one of these before acting."""

    READ_IDENTITY = "identite.lecture"
    EDIT_IDENTITY = "identite.modification"
    EDIT_PROTECTED_TRAITS = "identite.traits_stricts"
    READ_CLINICAL = "dossier.lecture"
    WRITE_CLINICAL = "dossier.ecriture"
    MANAGE_AGENDA = "agenda"
    CONFIGURE_LISTS = "parametres.listes"
    MANAGE_ACCOUNTS = "comptes.gestion"
    READ_TRACES = "traces.lecture"
    MANAGE_DATABASE = "base.maintenance"

    @property
    def label_fr(self) -> str:
        """French label, as shown to users."""
        return _PERMISSION_LABELS[self]


_PERMISSION_LABELS = {
    Permission.READ_IDENTITY: "consulter l'identité des patients",
    Permission.EDIT_IDENTITY: "créer et modifier l'identité des patients",
    Permission.EDIT_PROTECTED_TRAITS: "modifier les traits stricts d'une identité récupérée ou qualifiée",
    Permission.READ_CLINICAL: "consulter le dossier de soins (observations, documents)",
    Permission.WRITE_CLINICAL: "rédiger dans le dossier de soins",
    Permission.MANAGE_AGENDA: "gérer l'agenda",
    Permission.CONFIGURE_LISTS: "paramétrer les listes du cabinet",
    Permission.MANAGE_ACCOUNTS: "gérer les comptes utilisateurs",
    Permission.READ_TRACES: "consulter et exporter les traces",
    Permission.MANAGE_DATABASE: "sauvegarder, restaurer et chiffrer la base",
}

_CARE = frozenset(
    {
        Permission.READ_IDENTITY,
        Permission.EDIT_IDENTITY,
        Permission.READ_CLINICAL,
        Permission.WRITE_CLINICAL,
        Permission.MANAGE_AGENDA,
    }
)

ROLE_PERMISSIONS: dict[UserRole, frozenset[Permission]] = {
    UserRole.PRACTITIONER: _CARE,
    UserRole.REPLACEMENT: _CARE,
    UserRole.SECRETARY: frozenset({Permission.READ_IDENTITY, Permission.EDIT_IDENTITY, Permission.MANAGE_AGENDA}),
    UserRole.ADMINISTRATOR: frozenset(
        {
            Permission.READ_IDENTITY,
            Permission.EDIT_IDENTITY,
            Permission.EDIT_PROTECTED_TRAITS,
            Permission.CONFIGURE_LISTS,
            Permission.MANAGE_ACCOUNTS,
            Permission.READ_TRACES,
            Permission.MANAGE_DATABASE,
        }
    ),
}
"""Role → permissions. The administrator manages the practice but does not read care records (GEN.16:
technical administration separate from care). An ``is_admin`` practitioner adds the administrator's rights."""


def permissions_of(user: UserAccount) -> frozenset[Permission]:
    """Every permission of ``user`` (its role's, plus the administrator's when ``is_admin``)."""
    granted = ROLE_PERMISSIONS.get(user.role, frozenset())
    if user.is_admin:
        granted |= ROLE_PERMISSIONS[UserRole.ADMINISTRATOR]
    return granted


def can(user: UserAccount, permission: Permission) -> bool:
    """True when ``user`` holds ``permission``."""
    return permission in permissions_of(user)


def require(user: UserAccount, permission: Permission) -> None:
    """Raise PermissionDenied (French message naming what is missing) unless ``user`` holds ``permission``."""
    if not can(user, permission):
        raise PermissionDenied(
            f"Votre profil ({user.role.label_fr}) ne permet pas de {permission.label_fr}. "
            "Demandez à l'administrateur du cabinet."
        )


def is_privileged(user: UserAccount) -> bool:
    """Privileged account (technical or functional administration): the strict SC.SSI/IAM.92 policy applies."""
    return user.role is UserRole.ADMINISTRATOR or user.is_admin


# -- identifiers ---------------------------------------------------------------------------------------

LOGIN_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{1,39}")
DISPLAY_NAME_MAX = 120
_DISPLAY_NAME_ALLOWED = re.compile(r"[\w .'’()\-]+")


def normalise_login(login: str) -> str:
    """Trim and lower-case a login as typed."""
    return login.strip().lower()


def check_login(login: str) -> str:
    """The normalised login; refuse anything but 2-40 of ``a-z 0-9 . _ -`` (no spaces, quotes or ``%``).

    Raises:
        InvalidInput: French message with the rule.
    """
    value = normalise_login(login)
    if not LOGIN_PATTERN.fullmatch(value):
        raise InvalidInput(
            {
                "login": "Identifiant invalide : 2 à 40 caractères parmi les lettres minuscules sans accent, "
                "les chiffres, le point, le tiret et le souligné (ex. « m.durand »)."
            }
        )
    return value


def check_display_name(name: str) -> str:
    """The trimmed display name; letters (accents allowed), spaces, apostrophes, hyphens, dots, parentheses.

    Raises:
        InvalidInput: control characters, ``%``, braces, quotes, ``;``, ``<``… or an empty/too long name.
    """
    value = " ".join(name.split())
    if not value or len(value) > DISPLAY_NAME_MAX or not _DISPLAY_NAME_ALLOWED.fullmatch(value):
        raise InvalidInput(
            {
                "display_name": "Nom affiché invalide : 1 à 120 caractères parmi les lettres, les espaces, "
                "l'apostrophe, le tiret, le point et les parenthèses."
            }
        )
    return value


def printable(text: str, limit: int = 80) -> str:
    """``text`` as typed by someone unknown, made safe for traces and logs: control characters escaped, cut."""
    cleaned = "".join(ch if unicodedata.category(ch)[0] != "C" else f"\\x{ord(ch):02x}" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


# -- password policies ---------------------------------------------------------------------------------

SPECIAL_CHARACTERS = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ "


def character_classes(password: str) -> set[str]:
    """Which of lower / upper / digit / special the password uses (accented letters count as letters)."""
    classes: set[str] = set()
    for ch in password:
        if ch.isdigit():
            classes.add("chiffre")
        elif ch.islower():
            classes.add("minuscule")
        elif ch.isupper():
            classes.add("majuscule")
        else:
            classes.add("special")
    return classes


ALL_CLASSES = frozenset({"minuscule", "majuscule", "chiffre", "special"})
LETTERS_AND_DIGITS = frozenset({"minuscule", "majuscule", "chiffre"})


@dataclass(frozen=True, slots=True)
class PasswordRule:
    """One acceptable shape: at least ``min_length`` characters using every class of ``classes``."""

    min_length: int
    classes: frozenset[str]

    def accepts(self, password: str) -> bool:
        """True when ``password`` has this shape."""
        return len(password) >= self.min_length and self.classes <= character_classes(password)

    def describe(self) -> str:
        """French description."""
        names = {
            "minuscule": "minuscules",
            "majuscule": "majuscules",
            "chiffre": "chiffres",
            "special": "caractères spéciaux",
        }
        order = ("minuscule", "majuscule", "chiffre", "special")
        wanted = [names[c] for c in order if c in self.classes]
        return f"au moins {self.min_length} caractères avec des " + ", des ".join(wanted)


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """A password policy: accepted shapes, expiry, reuse, lockout.

    Attributes:
        name: French name ("comptes à privilèges", "comptes standard").
        rules: the password must match at least one.
        max_age_days: the password expires after this many days (0: never).
        history: previous passwords that cannot be reused (``None``: none of the previous ones).
        max_failures: consecutive failed sign-ins before the account locks.
        lock_minutes: how long the lock lasts (``None``: until an administrator unlocks it).
    """

    name: str
    rules: tuple[PasswordRule, ...]
    max_age_days: int
    history: int | None
    max_failures: int
    lock_minutes: int | None

    def problems(self, password: str, *, login: str = "", display_name: str = "") -> list[str]:
        """French reasons why ``password`` is refused (empty when accepted). Never echoes the password."""
        found: list[str] = []
        if not any(rule.accepts(password) for rule in self.rules):
            found.append("Le mot de passe doit comporter " + " ; ou ".join(r.describe() for r in self.rules) + ".")
        if password != password.strip():
            found.append("Le mot de passe ne doit pas commencer ni finir par un espace.")
        lowered = password.casefold()
        words = [login, *display_name.replace("(", " ").replace(")", " ").split()]
        if any(len(word) >= 4 and word.casefold() in lowered for word in words):
            found.append("Le mot de passe ne doit contenir ni votre identifiant ni votre nom.")
        if len(set(password)) < 5:
            found.append("Le mot de passe doit comporter au moins 5 caractères différents.")
        if len(password) > 256:
            found.append("Le mot de passe ne doit pas dépasser 256 caractères.")
        return found

    def check(self, password: str, *, login: str = "", display_name: str = "") -> None:
        """Raise InvalidInput (field ``password``) when ``password`` is refused."""
        found = self.problems(password, login=login, display_name=display_name)
        if found:
            raise InvalidInput({"password": " ".join(found)})

    def describe(self) -> list[str]:
        """The policy in French, one line per rule (shown next to the password fields)."""
        lines = ["Mot de passe : " + " ; ou ".join(r.describe() for r in self.rules) + "."]
        if self.max_age_days:
            lines.append(f"À renouveler au moins tous les {self.max_age_days} jours.")
        if self.history is None:
            lines.append("Aucun mot de passe déjà utilisé ne peut être repris.")
        elif self.history:
            lines.append(f"Les {self.history} derniers mots de passe ne peuvent pas être repris.")
        if self.lock_minutes is None:
            lines.append(
                f"Compte bloqué après {self.max_failures} échecs de connexion (déblocage par un administrateur)."
            )
        else:
            lines.append(f"Compte bloqué {self.lock_minutes} minutes après {self.max_failures} échecs de connexion.")
        return lines

    def expires_at(self, changed_at: dt.datetime) -> dt.datetime | None:
        """When a password changed at ``changed_at`` expires (None: never)."""
        return changed_at + dt.timedelta(days=self.max_age_days) if self.max_age_days else None


PRIVILEGED_POLICY = PasswordPolicy(
    name="comptes à privilèges (administration)",
    rules=(PasswordRule(15, ALL_CLASSES),),
    max_age_days=365,
    history=None,
    max_failures=5,
    lock_minutes=None,
)
"""SC.SSI/IAM.92: 15 characters, lower/upper/digit/special, expiry ≤ 1 year, no reuse, locked after 5 failures."""

STANDARD_POLICY = PasswordPolicy(
    name="comptes standard",
    rules=(PasswordRule(12, ALL_CLASSES), PasswordRule(14, LETTERS_AND_DIGITS)),
    max_age_days=0,
    history=5,
    max_failures=5,
    lock_minutes=15,
)
"""SC.SSI/IE.36: the référentiel d'identification électronique (volet acteurs de santé) accepts a password as the
only factor for a local connection during the transition, with a minimum complexity and a limited number of
attempts, and points to CNIL deliberation 2022-100 (password alone: ≥ 80 bits, e.g. 12 characters of the four
classes or 14 letters and digits; access restriction after failures). Expiry is configurable (IE.49)."""


def policy_for(user: UserAccount, *, standard_max_age_days: int | None = None) -> PasswordPolicy:
    """The policy of ``user``: the privileged one for administrators, else the standard one."""
    if is_privileged(user):
        return PRIVILEGED_POLICY
    if standard_max_age_days is not None:
        return replace(STANDARD_POLICY, max_age_days=max(0, standard_max_age_days))
    return STANDARD_POLICY


# -- credentials and lockout ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credentials:
    """The security state of a local account (stored next to the account).

    Attributes:
        password_hash: argon2id PHC string (None: no local password; PSC only).
        password_changed_at: when the current password was set.
        must_change: the next sign-in must change the password (set after an administrator reset).
        failed_attempts: consecutive failures since the last success.
        locked_until: temporary lock end (standard accounts).
        disabled: locked until an administrator unlocks it (privileged lockout, lost device, departure).
        last_sign_in_at: last successful sign-in.
    """

    password_hash: str | None = None
    password_changed_at: dt.datetime | None = None
    must_change: bool = False
    failed_attempts: int = 0
    locked_until: dt.datetime | None = None
    disabled: bool = False
    last_sign_in_at: dt.datetime | None = None


class SignInOutcome(StrEnum):
    """Result of a sign-in attempt (the trace's ``outcome``)."""

    SUCCESS = "ok"
    MUST_CHANGE = "ok_changement_requis"
    WRONG_PASSWORD = "echec_mot_de_passe"  # noqa: S105 - an outcome name
    UNKNOWN_ACCOUNT = "echec_compte_inconnu"
    LOCKED_NOW = "echec_blocage"
    LOCKED = "refus_compte_bloque"
    NO_PASSWORD = "refus_sans_mot_de_passe"  # noqa: S105 - an outcome name

    @property
    def succeeded(self) -> bool:
        """True when the user is signed in."""
        return self in (SignInOutcome.SUCCESS, SignInOutcome.MUST_CHANGE)


class SignInRefused(DomainError):
    """A sign-in or unlock attempt was refused (the French message says why and what to do)."""

    def __init__(self, message_fr: str, outcome: SignInOutcome, *, remaining: int | None = None) -> None:
        self.outcome = outcome
        self.remaining = remaining
        super().__init__(message_fr)


GENERIC_FAILURE = "Identifiant ou mot de passe incorrect."


def is_locked(creds: Credentials, now: dt.datetime) -> bool:
    """True while the account cannot sign in."""
    return creds.disabled or (creds.locked_until is not None and now < creds.locked_until)


def lock_message(creds: Credentials, now: dt.datetime) -> str:
    """French explanation of a lock."""
    if creds.disabled:
        return (
            "Ce compte est bloqué. Un administrateur du cabinet doit le débloquer "
            "(menu Outils > Comptes utilisateurs, ou « lgc accounts unlock »)."
        )
    assert creds.locked_until is not None
    minutes = max(1, int((creds.locked_until - now).total_seconds() + 59) // 60)
    return (
        f"Trop d'échecs de connexion : ce compte est bloqué pendant encore {minutes} minute"
        f"{'s' if minutes > 1 else ''}. Réessayez plus tard ou demandez à un administrateur de le débloquer."
    )


def register_attempt(
    creds: Credentials, policy: PasswordPolicy, now: dt.datetime, *, password_ok: bool
) -> tuple[SignInOutcome, Credentials]:
    """Apply one sign-in attempt to the account's state (a locked account is refused before the password is
    looked at; the caller still verifies a dummy hash so that timing says nothing).

    Returns:
        The outcome and the new state to store.
    """
    if creds.password_hash is None:
        return SignInOutcome.NO_PASSWORD, creds
    if is_locked(creds, now):
        return SignInOutcome.LOCKED, creds
    if creds.locked_until is not None:  # a temporary lock has ended
        creds = replace(creds, locked_until=None, failed_attempts=0)
    if not password_ok:
        failures = creds.failed_attempts + 1
        if failures >= policy.max_failures:
            if policy.lock_minutes is None:
                return SignInOutcome.LOCKED_NOW, replace(creds, failed_attempts=failures, disabled=True)
            until = now + dt.timedelta(minutes=policy.lock_minutes)
            return SignInOutcome.LOCKED_NOW, replace(creds, failed_attempts=failures, locked_until=until)
        return SignInOutcome.WRONG_PASSWORD, replace(creds, failed_attempts=failures)
    signed = replace(creds, failed_attempts=0, locked_until=None, last_sign_in_at=now)
    if creds.must_change or is_expired(creds, policy, now):
        return SignInOutcome.MUST_CHANGE, signed
    return SignInOutcome.SUCCESS, signed


def is_expired(creds: Credentials, policy: PasswordPolicy, now: dt.datetime) -> bool:
    """True when the password is older than the policy allows."""
    if creds.password_changed_at is None:
        return False
    expiry = policy.expires_at(creds.password_changed_at)
    return expiry is not None and now >= expiry


def remaining_attempts(creds: Credentials, policy: PasswordPolicy) -> int:
    """Attempts left before the account locks."""
    return max(0, policy.max_failures - creds.failed_attempts)


def refusal(outcome: SignInOutcome, creds: Credentials, policy: PasswordPolicy, now: dt.datetime) -> SignInRefused:
    """The French error for a failed attempt (the same words for an unknown login and a wrong password)."""
    if outcome in (SignInOutcome.LOCKED, SignInOutcome.LOCKED_NOW):
        return SignInRefused(lock_message(creds, now), outcome)
    if outcome is SignInOutcome.NO_PASSWORD:
        return SignInRefused(
            "Ce compte n'a pas de mot de passe local : connectez-vous avec Pro Santé Connect, "
            "ou demandez à un administrateur d'en définir un.",
            outcome,
        )
    left = remaining_attempts(creds, policy) if outcome is SignInOutcome.WRONG_PASSWORD else None
    message = GENERIC_FAILURE
    if left is not None and left <= 3:
        message += f" Attention : encore {left} essai{'s' if left > 1 else ''} avant le blocage du compte."
    return SignInRefused(message, outcome, remaining=left)


def sign_in_state_for_new_password(creds: Credentials, new_hash: str, now: dt.datetime) -> Credentials:
    """The state after a password was set (by its owner or an administrator)."""
    return replace(creds, password_hash=new_hash, password_changed_at=now, must_change=False, failed_attempts=0)


# -- the session ---------------------------------------------------------------------------------------

DEFAULT_INACTIVITY_MINUTES = 15
MAX_INACTIVITY_MINUTES = 120
"""SC.SSI/IE.39: forced lock after a configurable inactivity delay (the final texts quote 2 hours at most)."""


def check_inactivity_minutes(minutes: int) -> int:
    """Validate the configured delay.

    Raises:
        InvalidInput: outside 1-120 minutes.
    """
    if not 1 <= minutes <= MAX_INACTIVITY_MINUTES:
        raise InvalidInput(
            f"Délai de verrouillage après inactivité : entre 1 et {MAX_INACTIVITY_MINUTES} minutes (reçu {minutes})."
        )
    return minutes


def acting_for(user: UserAccount, titulaire: UserAccount | None) -> UserAccount:
    """The signed-in identity of a remplaçant working on behalf of ``titulaire``.

    Raises:
        PermissionDenied: a remplaçant without titulaire, or a titulaire who is not a practitioner.
    """
    if user.role is not UserRole.REPLACEMENT:
        return user
    if titulaire is None:
        raise PermissionDenied(
            "Ce compte de remplaçant n'est rattaché à aucun titulaire : un administrateur doit indiquer le "
            "praticien remplacé (lgc accounts create … --titulaire LOGIN)."
        )
    if titulaire.role is not UserRole.PRACTITIONER:
        raise PermissionDenied("Le titulaire d'un remplaçant doit être un praticien.")
    return replace(user, on_behalf_of=titulaire)


# -- ports ---------------------------------------------------------------------------------------------


class PasswordHasher(Protocol):
    """Slow, salted password hashing (argon2id in production)."""

    def hash(self, password: str) -> str:
        """A self-describing hash (PHC string) of ``password``."""
        ...

    def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches; False otherwise (never raises for a wrong password)."""
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with weaker parameters than today's."""
        ...


class AccountRepository(Protocol):
    """Security state of the local accounts, their password history, and account changes."""

    def credentials(self, user_id: int) -> Credentials:
        """The account's security state (an empty one when none was stored)."""
        ...

    def save_credentials(self, user_id: int, credentials: Credentials) -> None:
        """Store the account's security state."""
        ...

    def password_history(self, user_id: int, limit: int | None) -> list[str]:
        """Hashes of previous passwords, most recent first (``limit`` None: all)."""
        ...

    def add_password_history(self, user_id: int, password_hash: str, at: dt.datetime) -> None:
        """Remember a password that is being replaced."""
        ...

    def update_user(self, user: UserAccount) -> None:
        """Save the account's attributes (display name, role, administrator flag, titulaire, RPPS)."""
        ...

    def user_by_id(self, user_id: int) -> UserAccount | None:
        """The account with this id."""
        ...
