"""Pro Santé Connect sign-in with fakes: UserInfo parsing, account linking, situations, session end, traces."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace

import pytest

from app.services.signin_psc import PscSignInService
from app.session import CurrentUser
from domain.audit import AuditAction, AuditEvent
from domain.errors import AuthenticationRequired, InvalidInput, RemoteServiceError
from domain.practice import Profession, Structure, StructureKind, UserAccount, UserRole
from domain.psc import (
    AuthorizationRequest,
    PscCancelled,
    PscSession,
    PscSignInRefused,
    PscTokens,
    parse_userinfo,
)
from domain.security import Credentials, SignInRefused
from tests.fakes import FakeUnitOfWorkFactory, MutableClock

NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)


def activity(name: str, finess: str = "", mode: str = "L") -> dict[str, str]:
    return {
        "raisonSocialeSite": name,
        "identifiantTechniqueDeLaStructure": f"ID-{name[:5]}",
        "numeroFinessSite": finess,
        "codeModeExercice": mode,
        "codeSecteurDactivite": "SA07",
        "codePostal": "51100",
        "libelleCommune": "Reims",
    }


def claims(national_id: str = "810101010101", *activities: dict[str, str], profession: str = "60") -> dict:
    return {
        "sub": f"f:test:{national_id}",
        "SubjectNameID": national_id,
        "given_name": "Camille",
        "family_name": "Durand",
        "SubjectRefPro": {
            "codeCivilite": "MME",
            "exercices": [
                {
                    "codeProfession": profession,
                    "prenomDexercice": "Camille",
                    "nomDexercice": "DURAND",
                    "activities": list(activities or [activity("Cabinet des Tilleuls")]),
                }
            ],
        },
    }


def test_userinfo_is_read_into_an_identity_with_its_situations() -> None:
    identity = parse_userinfo(claims("810101010101", activity("Cabinet A"), activity("Centre B", "510000000", "S")))
    assert identity.rpps == "10101010101"
    assert identity.display_name == "Camille DURAND"
    assert [s.structure_name for s in identity.situations] == ["Cabinet A", "Centre B"]
    assert identity.situations[1].profession is Profession.NURSE
    assert "salarié" in identity.situations[1].label_fr and "Centre B" in identity.situations[1].label_fr


@pytest.mark.parametrize("national_id", ["0512345678", "8123", "8ABCDEFGHIJK", "912345678901"])
def test_a_national_id_that_is_not_8_plus_rpps_has_no_rpps(national_id: str) -> None:
    assert parse_userinfo(claims(national_id)).rpps == ""


@pytest.mark.parametrize("missing", ["sub", "SubjectNameID"])
def test_userinfo_without_its_identifiers_is_refused(missing: str) -> None:
    data = claims()
    del data[missing]
    with pytest.raises(PscSignInRefused):
        parse_userinfo(data)


def test_malformed_subjectrefpro_is_tolerated() -> None:
    data = claims()
    data["SubjectRefPro"] = {"exercices": ["x", {"activities": "y"}, {"activities": [3]}]}
    assert parse_userinfo(data).situations == ()


# -- the service with fakes ----------------------------------------------------------------------------


class FakePsc:
    """A ProSanteConnect that answers what the test says."""

    def __init__(self, userinfo: dict, *, error: Exception | None = None) -> None:
        self.userinfo = userinfo
        self.error = error
        self.refresh_error: Exception | None = None
        self.refreshed = 0
        self.logged_out = 0
        self.expires_in = dt.timedelta(minutes=5)

    def begin(self, redirect_uri: str) -> AuthorizationRequest:
        return AuthorizationRequest("https://psc.test/auth?x", "st", "no", "ve", redirect_uri)

    def complete(self, request: AuthorizationRequest, callback: Mapping[str, str]) -> PscSession:
        if self.error is not None:
            raise self.error
        return PscSession(parse_userinfo(self.userinfo), self._tokens())

    def _tokens(self) -> PscTokens:
        return PscTokens("at", "idt", "rt", NOW + self.expires_in)

    def refresh(self, session: PscSession) -> PscSession:
        if self.refresh_error is not None:
            raise self.refresh_error
        self.refreshed += 1
        return replace(session, tokens=replace(self._tokens(), access_token=f"at{self.refreshed}"))

    def end_session_url(self, session: PscSession, post_logout_redirect_uri: str | None = None) -> str:
        return "https://psc.test/logout"

    def logout(self, session: PscSession) -> None:
        self.logged_out += 1


class FakeReceiver:
    redirect_uri = "http://127.0.0.1:5555/cb"

    def __init__(self, answer: dict[str, str] | None) -> None:
        self.answer = answer
        self.closed = False

    def wait(self, timeout_s: float, cancelled: object = None) -> dict[str, str]:
        if self.answer is None:
            raise PscCancelled("Connexion Pro Santé Connect annulée.")
        return self.answer

    def cancel(self) -> None:
        self.answer = None

    def close(self) -> None:
        self.closed = True


class FakeBrowser:
    def __init__(self) -> None:
        self.opened: list[str] = []

    def open(self, url: str) -> None:
        self.opened.append(url)


IDE = UserAccount(None, "ide", "Camille DURAND (IDE)", UserRole.PRACTITIONER, 1, Profession.NURSE, "10101010101")


class Env:
    def __init__(self, userinfo: dict | None = None, *, error: Exception | None = None) -> None:
        self.uow = FakeUnitOfWorkFactory()
        self.uow.store.structures = [
            Structure(1, "Cabinet", StructureKind.INDIVIDUAL_PRACTICE),
            Structure(2, "Centre", StructureKind.NURSING_HEALTH_CENTRE, finess="510000000"),
        ]
        self.uow.store.users = [replace(IDE, id=1)]
        self.psc = FakePsc(userinfo or claims(), error=error)
        self.receiver = FakeReceiver({"code": "c", "state": "st"})
        self.clock = MutableClock(NOW)
        self.current = CurrentUser()
        self.browser = FakeBrowser()
        self.service = PscSignInService(lambda: self.psc, lambda: self.receiver, self.uow, self.clock, self.current)

    def traces(self, action: AuditAction) -> list[AuditEvent]:
        return [event for event, _ in self.uow.store.audit if event.action is action]


def test_first_sign_in_links_the_account_with_the_same_rpps_then_finds_the_link() -> None:
    env = Env()
    pending = env.service.authenticate(env.browser)
    assert env.browser.opened == ["https://psc.test/auth?x"] and env.receiver.closed
    result = env.service.finish(pending)
    assert (result.user.login, result.link) == ("ide", "rpps")
    assert env.current().login == "ide" and env.service.signed_in
    assert env.uow.store.psc_links["810101010101"].user_id == 1
    again = env.service.finish(env.service.authenticate(env.browser))
    assert again.link == "existante"
    sign_ins = env.traces(AuditAction.SIGN_IN)
    assert [e.outcome for e in sign_ins] == ["ok", "ok"]
    assert sign_ins[0].detail["methode"] == "pro_sante_connect" and sign_ins[0].detail["rpps"] == "10101010101"
    assert len(env.traces(AuditAction.PSC_LINK)) == 1
    with env.uow() as uow:
        assert uow.audit.verify_chain() is None


def test_unknown_practitioner_gets_a_new_account_in_the_structure_of_the_situation() -> None:
    env = Env(claims("810101010199", activity("Centre", "510000000", "S"), profession="50"))
    result = env.service.finish(env.service.authenticate(env.browser))
    assert result.link == "creation"
    user = result.user
    assert (user.login, user.rpps, user.profession, user.structure_id) == (
        "psc-10101010199",
        "10101010199",
        Profession.MIDWIFE,
        2,
    )
    assert user.role is UserRole.PRACTITIONER and not user.is_admin
    assert len(env.traces(AuditAction.ACCOUNT_CREATE)) == 1


def test_several_situations_require_a_choice() -> None:
    env = Env(claims("810101010101", activity("Cabinet A"), activity("Centre B", mode="S")))
    pending = env.service.authenticate(env.browser)
    assert pending.needs_choice
    with pytest.raises(InvalidInput):
        env.service.finish(pending)
    with pytest.raises(InvalidInput):
        env.service.finish(pending, 5)
    assert not env.current.is_set and not env.uow.store.psc_links  # nothing half-saved
    result = env.service.finish(pending, 1)
    assert result.situation is not None and result.situation.structure_name == "Centre B"
    assert env.service.situation == result.situation
    assert env.traces(AuditAction.SIGN_IN)[-1].detail["structure"] == "Centre B"


def test_a_psc_account_without_rpps_is_refused_and_traced() -> None:
    env = Env(claims("0512345678"))
    with pytest.raises(PscSignInRefused) as info:
        env.service.authenticate(env.browser)
    assert info.value.reason == "no_rpps" and "RPPS" in info.value.message_fr
    failure = env.traces(AuditAction.SIGN_IN)[-1]
    assert failure.outcome == "echec" and failure.detail["raison"] == "no_rpps"
    assert "0512345678" in failure.actor
    assert not env.current.is_set and not env.uow.store.psc_links


@pytest.mark.parametrize(
    "error",
    [
        PscSignInRefused("Signature invalide.", reason="signature"),
        RemoteServiceError("PSC injoignable.", retryable=True),
    ],
)
def test_refusals_and_unreachable_psc_are_traced(error: Exception) -> None:
    env = Env(error=error)
    with pytest.raises(type(error)):
        env.service.authenticate(env.browser)
    failure = env.traces(AuditAction.SIGN_IN)[-1]
    assert failure.outcome == "echec"
    assert failure.detail["raison"] in ("signature", "service_injoignable")


def test_cancel_is_traced_as_cancelled() -> None:
    env = Env()
    env.receiver.answer = None
    with pytest.raises(PscCancelled):
        env.service.authenticate(env.browser)
    assert env.traces(AuditAction.SIGN_IN)[-1].outcome == "annule"


def test_a_disabled_local_account_cannot_sign_in_with_psc() -> None:
    env = Env()
    env.uow.store.credentials[1] = Credentials(disabled=True)
    with pytest.raises(SignInRefused, match="bloqué"):
        env.service.finish(env.service.authenticate(env.browser))
    assert not env.current.is_set
    assert env.traces(AuditAction.SIGN_IN)[-1].outcome == "refus_compte_bloque"


def test_a_successful_psc_sign_in_records_the_last_sign_in_date() -> None:
    env = Env()
    env.service.finish(env.service.authenticate(env.browser))
    assert env.uow.store.credentials[1].last_sign_in_at == NOW


def test_a_cancel_requested_before_the_wait_starts_is_honoured() -> None:
    import threading

    env = Env()
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(PscCancelled):
        env.service.authenticate(env.browser, cancelled)
    assert env.browser.opened == [] and env.receiver.closed


def test_tokens_are_refreshed_while_in_use() -> None:
    env = Env()
    env.service.finish(env.service.authenticate(env.browser))
    assert env.service.access_token() == "at" and env.psc.refreshed == 0
    env.clock.at = NOW + dt.timedelta(minutes=4, seconds=30)  # within the refresh margin
    assert env.service.access_token() == "at1" and env.psc.refreshed == 1


def test_a_refresh_token_revoked_mid_session_ends_the_session_and_is_traced() -> None:
    env = Env()
    env.service.finish(env.service.authenticate(env.browser))
    env.psc.refresh_error = PscSignInRefused("Session terminée.", reason="refresh_revoked")
    env.clock.at = NOW + dt.timedelta(minutes=10)
    with pytest.raises(PscSignInRefused):
        env.service.keep_alive()
    assert not env.service.signed_in and not env.current.is_set
    ended = env.traces(AuditAction.PSC_SESSION)[-1]
    assert ended.outcome == "session_revoquee" and "ide" in ended.actor
    with pytest.raises(AuthenticationRequired):
        env.service.access_token()


def test_sign_out_logs_out_at_psc_and_is_traced() -> None:
    env = Env()
    env.service.finish(env.service.authenticate(env.browser))
    env.service.sign_out()
    assert env.psc.logged_out == 1 and not env.service.signed_in and not env.current.is_set
    assert env.traces(AuditAction.SIGN_OUT)[-1].outcome == "ok"
    env.service.sign_out()  # nothing open: no error, no trace
    assert len(env.traces(AuditAction.SIGN_OUT)) == 1


def test_not_configured_says_so_in_french() -> None:
    env = Env()
    service = PscSignInService(None, lambda: env.receiver, env.uow, env.clock, env.current)
    assert not service.configured
    with pytest.raises(AuthenticationRequired, match="n'est pas configuré"):
        service.authenticate(env.browser)
