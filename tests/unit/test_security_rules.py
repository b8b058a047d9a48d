"""Password policies, lockout, permissions, identifiers and the traces' anchor: pure domain rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from domain.audit import ChainAnchor, anchor_problem
from domain.errors import InvalidInput, PermissionDenied
from domain.practice import UserAccount, UserRole
from domain.security import (
    PRIVILEGED_POLICY,
    STANDARD_POLICY,
    Credentials,
    Permission,
    SignInOutcome,
    acting_for,
    can,
    check_display_name,
    check_inactivity_minutes,
    check_login,
    is_expired,
    permissions_of,
    policy_for,
    printable,
    refusal,
    register_attempt,
    require,
)

NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)


def user(role: UserRole, *, admin: bool = False, login: str = "u") -> UserAccount:
    return UserAccount(id=1, login=login, display_name="Camille DURAND", role=role, structure_id=1, is_admin=admin)


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("Court-1a!", False),  # too short
        ("abcdefghijklmnO1", False),  # no special character
        ("ABCDEFGHIJKLMN-1", False),  # no lower case
        ("abcdefghijklmn-1", False),  # no upper case
        ("Abcdefghijklmn-x", False),  # no digit
        ("Abcdefghijklm-1", True),  # exactly 15, four classes
        ("Été-Hiver-2026-Printemps", True),  # accented letters count as letters
    ],
)
def test_privileged_policy_is_iam92(password: str, accepted: bool) -> None:
    assert (PRIVILEGED_POLICY.problems(password) == []) is accepted
    assert PRIVILEGED_POLICY.max_age_days <= 365
    assert PRIVILEGED_POLICY.max_failures == 5 and PRIVILEGED_POLICY.lock_minutes is None
    assert PRIVILEGED_POLICY.history is None  # no reuse of any previous password


def test_standard_policy_accepts_12_with_specials_or_14_letters_and_digits() -> None:
    assert STANDARD_POLICY.problems("Abcdefgh-12x") == []
    assert STANDARD_POLICY.problems("Abcdefghijkl12") == []
    assert STANDARD_POLICY.problems("Abcdefghij12") != []  # 12 without a special character
    assert STANDARD_POLICY.problems("abcdefghij-12x") != []  # no upper case


def test_policy_refuses_login_name_and_repetition_and_never_echoes_the_password() -> None:
    problems = STANDARD_POLICY.problems("Xdurand-2026-Y!", login="cdurand", display_name="Camille DURAND")
    assert any("identifiant ni votre nom" in p for p in problems)
    assert STANDARD_POLICY.problems("Aa1!Aa1!Aa1!Aa1!") != []  # only 4 different characters
    with pytest.raises(InvalidInput) as err:
        STANDARD_POLICY.check("Tr0p-court")
    assert "Tr0p-court" not in err.value.message_fr


def test_policy_choice_and_description() -> None:
    assert policy_for(user(UserRole.ADMINISTRATOR)) is PRIVILEGED_POLICY
    assert policy_for(user(UserRole.PRACTITIONER, admin=True)) is PRIVILEGED_POLICY
    assert policy_for(user(UserRole.SECRETARY)) is STANDARD_POLICY
    assert policy_for(user(UserRole.SECRETARY), standard_max_age_days=90).max_age_days == 90
    lines = PRIVILEGED_POLICY.describe()
    assert any("15 caractères" in line for line in lines)
    assert any("365 jours" in line for line in lines)
    assert any("administrateur" in line for line in lines)


def test_privileged_account_locks_after_five_failures_until_unlocked() -> None:
    creds = Credentials(password_hash="h")
    outcomes = []
    for _ in range(5):
        outcome, creds = register_attempt(creds, PRIVILEGED_POLICY, NOW, password_ok=False)
        outcomes.append(outcome)
    assert outcomes[:4] == [SignInOutcome.WRONG_PASSWORD] * 4
    assert outcomes[4] is SignInOutcome.LOCKED_NOW and creds.disabled
    # even the right password is refused now, a day later too
    outcome, _ = register_attempt(creds, PRIVILEGED_POLICY, NOW + dt.timedelta(days=1), password_ok=True)
    assert outcome is SignInOutcome.LOCKED
    assert "administrateur" in refusal(outcome, creds, PRIVILEGED_POLICY, NOW).message_fr


def test_standard_account_locks_for_a_while_then_counts_again() -> None:
    creds = Credentials(password_hash="h", failed_attempts=4)
    outcome, creds = register_attempt(creds, STANDARD_POLICY, NOW, password_ok=False)
    assert outcome is SignInOutcome.LOCKED_NOW and creds.locked_until == NOW + dt.timedelta(minutes=15)
    assert "15 minutes" in refusal(SignInOutcome.LOCKED, creds, STANDARD_POLICY, NOW).message_fr
    outcome, _ = register_attempt(creds, STANDARD_POLICY, NOW + dt.timedelta(minutes=5), password_ok=True)
    assert outcome is SignInOutcome.LOCKED
    outcome, creds = register_attempt(creds, STANDARD_POLICY, NOW + dt.timedelta(minutes=16), password_ok=True)
    assert outcome is SignInOutcome.SUCCESS and creds.failed_attempts == 0 and creds.locked_until is None


def test_wrong_password_warns_before_the_lock_and_success_resets() -> None:
    creds = Credentials(password_hash="h", failed_attempts=2)
    outcome, creds = register_attempt(creds, STANDARD_POLICY, NOW, password_ok=False)
    error = refusal(outcome, creds, STANDARD_POLICY, NOW)
    assert error.remaining == 2 and "encore 2 essais" in error.message_fr
    outcome, creds = register_attempt(creds, STANDARD_POLICY, NOW, password_ok=True)
    assert outcome is SignInOutcome.SUCCESS and creds.failed_attempts == 0 and creds.last_sign_in_at == NOW


def test_expired_or_reset_password_must_be_changed() -> None:
    old = Credentials(password_hash="h", password_changed_at=NOW - dt.timedelta(days=366))
    assert is_expired(old, PRIVILEGED_POLICY, NOW)
    assert not is_expired(old, STANDARD_POLICY, NOW)  # no forced renewal by default
    outcome, _ = register_attempt(old, PRIVILEGED_POLICY, NOW, password_ok=True)
    assert outcome is SignInOutcome.MUST_CHANGE and outcome.succeeded
    outcome, _ = register_attempt(replace(old, must_change=True), STANDARD_POLICY, NOW, password_ok=True)
    assert outcome is SignInOutcome.MUST_CHANGE


def test_account_without_local_password() -> None:
    outcome, _ = register_attempt(Credentials(), STANDARD_POLICY, NOW, password_ok=True)
    assert outcome is SignInOutcome.NO_PASSWORD
    assert "Pro Santé Connect" in refusal(outcome, Credentials(), STANDARD_POLICY, NOW).message_fr


def test_permissions_per_role() -> None:
    secretary = user(UserRole.SECRETARY)
    assert can(secretary, Permission.READ_IDENTITY) and can(secretary, Permission.MANAGE_AGENDA)
    assert not can(secretary, Permission.READ_CLINICAL)  # secretaries do not read observations
    assert not can(user(UserRole.PRACTITIONER), Permission.CONFIGURE_LISTS)
    assert can(user(UserRole.ADMINISTRATOR), Permission.CONFIGURE_LISTS)
    assert not can(user(UserRole.ADMINISTRATOR), Permission.READ_CLINICAL)
    both = permissions_of(user(UserRole.PRACTITIONER, admin=True))
    assert {Permission.READ_CLINICAL, Permission.MANAGE_ACCOUNTS} <= both
    assert permissions_of(user(UserRole.REPLACEMENT)) == permissions_of(user(UserRole.PRACTITIONER))
    with pytest.raises(PermissionDenied) as err:
        require(secretary, Permission.READ_CLINICAL)
    assert "Secrétaire" in err.value.message_fr and "dossier de soins" in err.value.message_fr


def test_remplacant_acts_for_a_titulaire_and_both_appear_in_traces() -> None:
    titulaire = UserAccount(2, "sf", "Léa MOREAU", UserRole.PRACTITIONER, 1)
    remplacant = UserAccount(3, "rempl", "Hugo BLANC", UserRole.REPLACEMENT, 1, titulaire_id=2)
    acting = acting_for(remplacant, titulaire)
    assert acting.on_behalf_of == titulaire
    assert acting.actor == "Hugo BLANC (rempl) pour le compte de Léa MOREAU (sf)"
    with pytest.raises(PermissionDenied):
        acting_for(remplacant, None)
    with pytest.raises(PermissionDenied):
        acting_for(remplacant, UserAccount(4, "sec", "X Y", UserRole.SECRETARY, 1))
    assert acting_for(titulaire, None) is titulaire


@pytest.mark.parametrize(
    "login", ["%s%n", "a'; DROP TABLE user_account;--", "x", "avec espace", "{0.__class__}", "é" * 3, "a" * 41]
)
def test_logins_with_format_strings_sql_or_spaces_are_refused(login: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_login(login)
    assert "Identifiant invalide" in err.value.message_fr


def test_login_and_display_name_normalised() -> None:
    assert check_login("  M.Durand ") == "m.durand"
    assert check_display_name("  Camille   D'ARC-Durand (IDE) ") == "Camille D'ARC-Durand (IDE)"
    for bad in ("%s%s%s", "Robert'); DROP TABLE x;--", "<script>", "", "a\x00b"):
        with pytest.raises(InvalidInput):
            check_display_name(bad)


def test_printable_escapes_control_characters_and_cuts() -> None:
    assert printable("a\nb\x1b[31m") == "a\\x0ab\\x1b[31m"
    assert len(printable("x" * 500)) == 80


def test_inactivity_delay_bounds() -> None:
    assert check_inactivity_minutes(15) == 15
    for bad in (0, 121):
        with pytest.raises(InvalidInput):
            check_inactivity_minutes(bad)


def test_anchor_detects_removed_or_changed_tail() -> None:
    anchor = ChainAnchor(10, "ab" * 32)
    assert anchor_problem(None, None) is None
    assert anchor_problem(anchor, "ab" * 32) is None
    problem = anchor_problem(anchor, None)
    assert problem is not None and "supprimées à la fin" in problem
    assert anchor_problem(anchor, "cd" * 32) is not None
