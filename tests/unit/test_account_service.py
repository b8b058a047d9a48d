"""AccountService with fakes: sign-in, lockout, password changes and reuse, remplaçants, administration,
and the traces every attempt leaves (SC.SSI/IAM.90/91/92)."""

from __future__ import annotations

import datetime as dt

import pytest

from app.services.accounts import AccountService, SecurityOptions
from app.session import CurrentUser
from domain.audit import AuditAction, AuditEvent
from domain.errors import InvalidInput, PermissionDenied
from domain.practice import Structure, StructureKind, UserAccount, UserRole
from domain.security import SignInOutcome, SignInRefused
from tests.fakes import FakeUnitOfWorkFactory, MutableClock

ADMIN_PW = "Adm1n-Tres-Solide!"
SECRETARY_PW = "Secretariat-2026!"
CLI = "ligne de commande (test)"


class FakeHasher:
    """Reversible stand-in for argon2 (speed): ``h$<password>``."""

    def hash(self, password: str) -> str:
        return "h$" + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == "h$" + password

    def needs_rehash(self, password_hash: str) -> bool:
        return False


@pytest.fixture
def env() -> tuple[AccountService, FakeUnitOfWorkFactory, MutableClock, CurrentUser]:
    uow = FakeUnitOfWorkFactory()
    with uow() as work:
        work.practice.add_structure(Structure(None, "Cabinet", StructureKind.INDIVIDUAL_PRACTICE))
        work.commit()
    clock = MutableClock(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC))
    current = CurrentUser()
    service = AccountService(uow, FakeHasher(), clock, current, SecurityOptions())
    service.create_account("admin", "Administrateur", UserRole.ADMINISTRATOR, ADMIN_PW, by=CLI, must_change=False)
    service.create_account("sec", "Martine LEROY", UserRole.SECRETARY, SECRETARY_PW, by=CLI, must_change=False)
    service.create_account("sf", "Léa MOREAU", UserRole.PRACTITIONER, "Sage-Femme-2026!", by=CLI, must_change=False)
    return service, uow, clock, current


def traces(uow: FakeUnitOfWorkFactory, action: AuditAction) -> list[AuditEvent]:
    return [e for e, _ in uow.store.audit if e.action is action]


def test_sign_in_success_sets_the_user_and_is_traced(env: tuple) -> None:
    service, uow, _clock, current = env
    result = service.sign_in(" SEC ", SECRETARY_PW)
    assert not result.must_change_password and current().login == "sec"
    last = traces(uow, AuditAction.SIGN_IN)[-1]
    assert last.outcome == "ok" and last.actor == "Martine LEROY (sec)"
    assert last.detail["identifiant_saisi"] == " SEC "
    assert last.at == dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)


def test_unknown_login_and_wrong_password_read_the_same_and_are_traced(env: tuple) -> None:
    service, uow, _clock, current = env
    with pytest.raises(SignInRefused) as unknown:
        service.sign_in("personne", "x")
    with pytest.raises(SignInRefused) as wrong:
        service.sign_in("sec", "mauvais")
    assert unknown.value.message_fr.split(".")[0] == wrong.value.message_fr.split(".")[0]
    outcomes = [e.outcome for e in traces(uow, AuditAction.SIGN_IN)]
    assert outcomes == [SignInOutcome.UNKNOWN_ACCOUNT.value, SignInOutcome.WRONG_PASSWORD.value]
    assert not current.is_set


def test_password_guessing_locks_a_privileged_account_until_an_admin_unlocks(env: tuple) -> None:
    service, uow, clock, _current = env
    messages = []
    for guess in ("123456", "password", "admin", "Admin2026", "azerty"):
        with pytest.raises(SignInRefused) as err:
            service.sign_in("admin", guess)
        messages.append(err.value.message_fr)
    assert "encore 1 essai" in messages[3]
    assert "bloqué" in messages[4]
    clock.at += dt.timedelta(days=2)
    with pytest.raises(SignInRefused) as err:
        service.sign_in("admin", ADMIN_PW)  # the right password no longer opens it
    assert err.value.outcome is SignInOutcome.LOCKED
    outcomes = [e.outcome for e in traces(uow, AuditAction.SIGN_IN)]
    assert outcomes[-2:] == [SignInOutcome.LOCKED_NOW.value, SignInOutcome.LOCKED.value]
    service.unlock_account("admin", by=CLI)
    assert service.sign_in("admin", ADMIN_PW).user.login == "admin"
    assert traces(uow, AuditAction.ACCOUNT_UNLOCK)[-1].actor == CLI


def test_password_change_policy_reuse_and_confirmation_are_refused_and_traced(env: tuple) -> None:
    service, uow, _clock, current = env
    with pytest.raises(InvalidInput) as err:
        service.change_password("sec", SECRETARY_PW, "court", "court")
    assert "au moins 12 caractères" in err.value.message_fr
    with pytest.raises(InvalidInput) as err:
        service.change_password("sec", SECRETARY_PW, "Nouveau-Secret-1", "Nouveau-Secret-2")
    assert "diffèrent" in err.value.message_fr
    with pytest.raises(SignInRefused):
        service.change_password("sec", "faux", "Nouveau-Secret-1", "Nouveau-Secret-1")
    service.change_password("sec", SECRETARY_PW, "Nouveau-Secret-1", "Nouveau-Secret-1")
    assert current().login == "sec"
    # going back to the previous password is refused
    with pytest.raises(InvalidInput) as err:
        service.change_password("sec", "Nouveau-Secret-1", SECRETARY_PW, SECRETARY_PW)
    assert "déjà été utilisé" in err.value.message_fr
    outcomes = [e.outcome for e in traces(uow, AuditAction.PASSWORD_CHANGE)]
    assert outcomes == [
        "refus_politique",
        "refus_confirmation",
        SignInOutcome.WRONG_PASSWORD.value,
        "ok",
        "refus_reutilisation",
    ]
    assert all("Nouveau-Secret" not in str(e.detail) for e, _ in uow.store.audit)


def test_expired_privileged_password_must_be_changed_before_signing_in(env: tuple) -> None:
    service, uow, clock, current = env
    clock.at += dt.timedelta(days=366)
    result = service.sign_in("admin", ADMIN_PW)
    assert result.must_change_password and "expiré" in result.reason_fr
    assert not current.is_set
    assert traces(uow, AuditAction.SIGN_IN)[-1].outcome == SignInOutcome.MUST_CHANGE.value
    service.change_password("admin", ADMIN_PW, "Autre-Mot-De-Passe-2027!", "Autre-Mot-De-Passe-2027!")
    assert current().login == "admin"


def test_reset_by_an_admin_forces_a_change(env: tuple) -> None:
    service, _uow, _clock, current = env
    service.reset_password("sec", "Provisoire-2026!", by=CLI)
    result = service.sign_in("sec", "Provisoire-2026!")
    assert result.must_change_password and "administrateur" in result.reason_fr
    assert not current.is_set


def test_remplacant_signs_in_on_behalf_of_the_titulaire(env: tuple) -> None:
    service, uow, _clock, current = env
    with pytest.raises(InvalidInput) as err:
        service.create_account("rempl", "Hugo BLANC", UserRole.REPLACEMENT, "Vacances-Ete-2026!", by=CLI)
    assert "titulaire" in err.value.message_fr
    with pytest.raises(InvalidInput) as err:
        service.create_account(
            "rempl", "Hugo BLANC", UserRole.REPLACEMENT, "Vacances-Ete-2026!", by=CLI, titulaire="sec"
        )
    assert "n'est pas un praticien" in err.value.message_fr
    service.create_account(
        "rempl", "Hugo BLANC", UserRole.REPLACEMENT, "Vacances-Ete-2026!", by=CLI, titulaire="sf", must_change=False
    )
    user = service.sign_in("rempl", "Vacances-Ete-2026!").user
    assert user.on_behalf_of is not None and user.on_behalf_of.login == "sf"
    assert current().actor == "Hugo BLANC (rempl) pour le compte de Léa MOREAU (sf)"
    assert traces(uow, AuditAction.SIGN_IN)[-1].actor.endswith("pour le compte de Léa MOREAU (sf)")


def test_account_changes_are_traced_as_attributes_or_permissions_and_need_the_right(env: tuple) -> None:
    service, uow, _clock, _current = env
    service.sign_in("sec", SECRETARY_PW)
    with pytest.raises(PermissionDenied):
        service.update_account("sf", role=UserRole.ADMINISTRATOR)  # a secretary cannot manage accounts
    service.sign_in("admin", ADMIN_PW)
    service.update_account("sec", display_name="Martine LEROY-BRUN", is_admin=False)
    service.update_account("sf", is_admin=True)
    attributes = traces(uow, AuditAction.ACCOUNT_ATTRIBUTES)
    permissions = traces(uow, AuditAction.ACCOUNT_PERMISSIONS)
    assert attributes[-1].detail["nom"] == {"avant": "Martine LEROY", "apres": "Martine LEROY-BRUN"}
    assert permissions[-1].detail["administrateur"] == {"avant": False, "apres": True}
    assert permissions[-1].actor == "Administrateur (admin)"


def test_locking_an_account_signs_it_out_and_refuses_it(env: tuple) -> None:
    service, uow, _clock, current = env
    service.sign_in("sec", SECRETARY_PW)
    service.lock_account("sec", by=CLI, reason="départ")
    assert not current.is_set
    with pytest.raises(SignInRefused) as err:
        service.sign_in("sec", SECRETARY_PW)
    assert "administrateur" in err.value.message_fr
    assert traces(uow, AuditAction.ACCOUNT_LOCK)[-1].detail["motif"] == "départ"


def test_session_lock_and_unlock(env: tuple) -> None:
    service, uow, _clock, current = env
    service.sign_in("sec", SECRETARY_PW)
    service.lock_session("inactivite")
    with pytest.raises(SignInRefused):
        service.unlock_session("faux")
    assert current().login == "sec"  # still the session's owner, screen stays locked
    service.unlock_session(SECRETARY_PW)
    assert [e.outcome for e in traces(uow, AuditAction.SESSION_UNLOCK)] == [
        SignInOutcome.WRONG_PASSWORD.value,
        "ok",
    ]
    service.sign_out()
    assert not current.is_set and traces(uow, AuditAction.SIGN_OUT)[-1].actor == "Martine LEROY (sec)"


def test_guessing_at_the_lock_screen_ends_the_session(env: tuple) -> None:
    service, _uow, _clock, current = env
    service.sign_in("sec", SECRETARY_PW)
    for _ in range(4):
        with pytest.raises(SignInRefused):
            service.unlock_session("faux")
    with pytest.raises(SignInRefused) as err:
        service.unlock_session("faux")
    assert err.value.outcome is SignInOutcome.LOCKED_NOW and not current.is_set


def test_hostile_logins_are_refused_at_creation_and_traced_verbatim_at_sign_in(env: tuple) -> None:
    service, uow, _clock, _current = env
    hostile = "%s%n{0}'; DROP TABLE user_account;--\n"
    with pytest.raises(InvalidInput):
        service.create_account(hostile, "X", UserRole.SECRETARY, SECRETARY_PW, by=CLI)
    with pytest.raises(InvalidInput):
        service.create_account("ok.login", "%s%n{0}", UserRole.SECRETARY, SECRETARY_PW, by=CLI)
    with pytest.raises(SignInRefused):
        service.sign_in(hostile, "x")
    last = traces(uow, AuditAction.SIGN_IN)[-1]
    assert last.detail["identifiant_saisi"] == "%s%n{0}'; DROP TABLE user_account;--\\x0a"
    assert len(uow.store.users) == 3


def test_external_sign_in_for_pro_sante_connect(env: tuple) -> None:
    service, uow, _clock, current = env
    user = service.sign_in_external("sf", "psc", {"sub": "f:123"})
    assert current() == user
    last = traces(uow, AuditAction.SIGN_IN)[-1]
    assert last.detail["methode"] == "psc" and last.outcome == "ok"


def test_demo_passwords_are_set_once(env: tuple) -> None:
    service, uow, _clock, _current = env
    with uow() as work:
        work.practice.add_user(UserAccount(None, "nouveau", "Nouveau", UserRole.SECRETARY, 1))
        work.commit()
    assert service.ensure_demo_passwords("Demonstration-LGC-2026") == 1
    assert service.ensure_demo_passwords("Demonstration-LGC-2026") == 0
    assert service.sign_in("nouveau", "Demonstration-LGC-2026").user.login == "nouveau"
