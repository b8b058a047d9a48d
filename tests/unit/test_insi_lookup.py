"""InsiLookupService with a scripted fake gateway: the DSR strategy, rule 25, advice, and the traces."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from app.services.insi_lookup import INSI_HELP_URL, InsiLookupService
from domain.audit import AuditAction, AuditEvent
from domain.errors import AuthenticationRequired, InvalidInput, PermissionDenied, RemoteServiceError
from domain.identity import OID_INS_NIR, Identity, IdentityTraits, Sex
from domain.insi import (
    InsiAnswer,
    InsiCallContext,
    InsiCode,
    InsiIdentity,
    InsiQueryKind,
    InsiTraitsQuery,
    VitaleBeneficiary,
)
from domain.patient import Contact, Patient
from domain.practice import Profession, UserAccount, UserRole
from tests.fakes import FakeUnitOfWorkFactory, MutableClock

IDE = UserAccount(1, "ide", "Camille DURAND", UserRole.PRACTITIONER, 1, Profession.NURSE, rpps="10101010101")
FOUND = InsiIdentity(
    matricule="275126322074974",
    oid=OID_INS_NIR,
    birth_name="ADRUN",
    given_names=("ZOE", "MARIE"),
    first_given_name="ZOE",
    sex="F",
    birth_date="1975-12-31",
    birth_place_code="63220",
)

Script = Callable[[InsiTraitsQuery], InsiCode]


class FakeInsiGateway:
    """Answers each traits query with the code ``script(query)`` returns; records what it was asked."""

    def __init__(self, script: Script, identity: InsiIdentity = FOUND) -> None:
        self.script = script
        self.identity = identity
        self.queries: list[InsiTraitsQuery] = []
        self.contexts: list[InsiCallContext] = []
        self.vitale: list[VitaleBeneficiary] = []
        self.error: Exception | None = None

    def search_by_traits(self, query: InsiTraitsQuery, context: InsiCallContext) -> InsiAnswer:
        self.queries.append(query)
        self.contexts.append(context)
        if self.error is not None:
            raise self.error
        code = self.script(query)
        return InsiAnswer(
            code,
            code.label_fr,
            self.identity if code is InsiCode.FOUND else None,
            f"uuid:{len(self.queries)}",
            InsiQueryKind.TRAITS,
        )

    def search_by_vitale(self, beneficiary: VitaleBeneficiary, context: InsiCallContext) -> InsiAnswer:
        self.vitale.append(beneficiary)
        return InsiAnswer(InsiCode.FOUND, "OK", self.identity, "uuid:v", InsiQueryKind.VITALE)


def _traits(given: tuple[str, ...] = ("ZOE",), place: str = "63220") -> IdentityTraits:
    return IdentityTraits("ADRUN", given, dt.date(1975, 12, 31), Sex.FEMALE, place)


def _service(gateway: FakeInsiGateway) -> tuple[InsiLookupService, FakeUnitOfWorkFactory]:
    uow = FakeUnitOfWorkFactory()
    clock = MutableClock(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC))
    return InsiLookupService(gateway, uow, clock, lambda: IDE), uow


def _traces(uow: FakeUnitOfWorkFactory, action: AuditAction = AuditAction.INSI_CALL) -> list[AuditEvent]:
    return [event for event, _ in uow.store.audit if event.action is action]


def test_first_call_is_without_the_birth_place_and_a_00_stops() -> None:
    gateway = FakeInsiGateway(lambda q: InsiCode.FOUND)
    service, _ = _service(gateway)

    result = service.search_traits(traits=_traits(("ZOE", "MARIE")))

    assert [q.birth_place_code for q in gateway.queries] == [None]
    assert result.code is InsiCode.FOUND
    assert result.identity == FOUND
    assert (result.advice, result.help_url, result.import_problem) == ("", "", None)
    assert gateway.contexts[0].practitioner_id == "810101010101"
    assert gateway.contexts[0].profession_code == "60"


def test_on_02_the_same_query_is_sent_again_with_the_cog() -> None:
    gateway = FakeInsiGateway(lambda q: InsiCode.FOUND if q.birth_place_code else InsiCode.SEVERAL)
    service, _ = _service(gateway)

    result = service.search_traits(traits=_traits())

    assert [(q.given_name, q.birth_place_code) for q in gateway.queries] == [("ZOE", None), ("ZOE", "63220")]
    assert result.code is InsiCode.FOUND
    assert [(c.code, c.with_birth_place) for c in result.calls] == [(InsiCode.SEVERAL, False), (InsiCode.FOUND, True)]


def test_unknown_birth_place_is_never_sent() -> None:
    gateway = FakeInsiGateway(lambda q: InsiCode.SEVERAL)
    service, _ = _service(gateway)

    result = service.search_traits(traits=_traits(place="99999"))

    assert [q.birth_place_code for q in gateway.queries] == [None]
    assert result.code is InsiCode.SEVERAL
    assert "prénoms" in result.advice and result.help_url == INSI_HELP_URL


def test_one_query_per_birth_first_name_until_the_first_00() -> None:
    gateway = FakeInsiGateway(lambda q: InsiCode.FOUND if q.given_name == "CATARINA" else InsiCode.NOT_FOUND)
    service, uow = _service(gateway)

    result = service.search_traits(traits=_traits(("OLA", "CATARINA", "BELLA")))

    assert [q.given_name for q in gateway.queries] == ["OLA", "CATARINA"]  # BELLA never asked
    assert result.code is InsiCode.FOUND
    assert len(_traces(uow)) == 2


def test_all_not_found_gives_01_with_advice_and_link() -> None:
    gateway = FakeInsiGateway(lambda q: InsiCode.NOT_FOUND)
    service, _ = _service(gateway)

    result = service.search_traits(traits=_traits(("ZOE", "MARIE")))

    assert len(gateway.queries) == 2
    assert result.code is InsiCode.NOT_FOUND
    assert "carte Vitale" in result.advice and "Vérifiez" in result.advice
    assert result.help_url == INSI_HELP_URL
    assert result.to_json()["code"] == "01" and result.to_json()["aide"] == INSI_HELP_URL


def test_02_is_kept_over_01() -> None:
    def script(query: InsiTraitsQuery) -> InsiCode:
        return InsiCode.SEVERAL if query.given_name == "ZOE" else InsiCode.NOT_FOUND

    gateway = FakeInsiGateway(script)
    service, _ = _service(gateway)

    result = service.search_traits(traits=_traits(("ZOE", "MARIE")))

    # ZOE → 02, ZOE + COG → 02, MARIE → 01: the answer kept says "several".
    assert [(q.given_name, q.birth_place_code) for q in gateway.queries] == [
        ("ZOE", None),
        ("ZOE", "63220"),
        ("MARIE", None),
    ]
    assert result.code is InsiCode.SEVERAL


def test_every_call_and_what_it_returned_is_traced() -> None:
    gateway = FakeInsiGateway(lambda q: InsiCode.FOUND if q.birth_place_code else InsiCode.SEVERAL)
    service, uow = _service(gateway)

    service.search_traits(traits=_traits())

    several, found = _traces(uow)
    assert several.actor == IDE.actor and several.outcome == "ok"
    assert several.detail["code"] == "02" and several.detail["message_id"] == "uuid:1"
    assert several.detail["envoye"]["lieu_naissance"] is None  # type: ignore[index]
    assert found.detail["code"] == "00" and found.detail["matricule"] == "275126322074974"
    assert found.detail["oid"] == OID_INS_NIR
    assert found.detail["traits"]["prenoms"] == "ZOE MARIE"  # type: ignore[index]
    assert found.detail["envoye"]["lieu_naissance"] == "63220"  # type: ignore[index]
    assert found.at == dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)


def test_a_failed_call_is_traced_and_raised() -> None:
    gateway = FakeInsiGateway(lambda q: InsiCode.FOUND)
    gateway.error = RemoteServiceError("Le service INSi ne répond pas (délai dépassé).", retryable=True)
    service, uow = _service(gateway)

    with pytest.raises(RemoteServiceError):
        service.search_traits(traits=_traits())

    (trace,) = _traces(uow)
    assert trace.outcome == "erreur" and "délai dépassé" in str(trace.detail["erreur"])


def test_authentication_errors_pass_through() -> None:
    gateway = FakeInsiGateway(lambda q: InsiCode.FOUND)
    gateway.error = AuthenticationRequired("carte CPS")
    service, uow = _service(gateway)
    with pytest.raises(AuthenticationRequired):
        service.search_traits(traits=_traits())
    assert _traces(uow)[0].outcome == "erreur"


def test_not_importable_identity_is_reported() -> None:
    lunar = InsiIdentity("250209935000812", OID_INS_NIR, "LUNAIRE", ("ROSE",), "ROSE", "F", "1950-00-00", "99350")
    service, uow = _service(FakeInsiGateway(lambda q: InsiCode.FOUND, lunar))

    result = service.search_traits(traits=_traits())

    assert result.code is InsiCode.FOUND
    assert result.import_problem is not None and "« 00 »" in result.import_problem
    assert result.to_json()["importable"] is False
    assert "non_importable" in _traces(uow)[0].detail


def _patient(uow: FakeUnitOfWorkFactory, **attributes: bool) -> int:
    identity = Identity(_traits(("ZOE", "MARIE")), **attributes)
    with uow() as tx:
        patient_id = tx.patients.add(Patient(id=None, identity=identity, contact=Contact()))
        tx.commit()
    return patient_id


def test_search_for_a_patient_file_uses_its_traits_and_traces_the_patient() -> None:
    gateway = FakeInsiGateway(lambda q: InsiCode.FOUND)
    service, uow = _service(gateway)
    patient_id = _patient(uow)

    result = service.search_traits(patient_id)

    assert result.patient_id == patient_id
    assert gateway.queries[0].birth_name == "ADRUN"
    assert gateway.contexts[0].patient_id == patient_id
    assert _traces(uow)[0].patient_id == patient_id


@pytest.mark.parametrize("attribute", ["doubtful", "fictitious"])
def test_rule_25_no_call_for_a_doubtful_or_fictitious_identity(attribute: str) -> None:
    gateway = FakeInsiGateway(lambda q: InsiCode.FOUND)
    service, uow = _service(gateway)
    patient_id = _patient(uow, **{attribute: True})

    with pytest.raises(PermissionDenied, match="règle 25"):
        service.search_traits(patient_id)

    assert gateway.queries == []
    (refusal,) = _traces(uow, AuditAction.INSI_REFUSED)
    assert refusal.patient_id == patient_id and refusal.outcome == "refus"


def test_missing_traits_are_refused_before_any_call() -> None:
    gateway = FakeInsiGateway(lambda q: InsiCode.FOUND)
    service, _ = _service(gateway)
    with pytest.raises(InvalidInput):
        service.search_traits(traits=IdentityTraits("ADRUN", (), None, Sex.FEMALE, ""))
    with pytest.raises(InvalidInput):
        service.search_traits()
    assert gateway.queries == []


def test_search_vitale_is_one_traced_call() -> None:
    gateway = FakeInsiGateway(lambda q: InsiCode.FOUND)
    service, uow = _service(gateway)
    beneficiary = VitaleBeneficiary("2751263220749", "74", "ADRUN", "ZOE", "1975-12-31", 1)

    result = service.search_vitale(beneficiary)

    assert gateway.vitale == [beneficiary]
    assert result.code is InsiCode.FOUND and result.answer.kind is InsiQueryKind.VITALE
    (trace,) = _traces(uow)
    assert trace.detail["type"] == "carte_vitale" and trace.detail["envoye"]["nir"] == "275126322074974"  # type: ignore[index]


def test_the_qualification_port_gets_the_same_strategy() -> None:
    gateway = FakeInsiGateway(lambda q: InsiCode.FOUND if q.birth_place_code else InsiCode.SEVERAL)
    service, _ = _service(gateway)

    answer = service.by_traits(_traits(), service.context())

    assert answer.code is InsiCode.FOUND and len(gateway.queries) == 2
