"""QualificationService on fakes: lookup strategy, automatic retrieval, qualification, Sentinelle, verification."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from app.dto import PatientForm
from app.services.insi_lookup import InsiLookupService
from app.services.patients import PatientService
from app.services.qualification import OpenAction, QualificationService, VerificationJob
from app.session import CurrentUser
from app.tasks import InlineTaskRunner
from domain.audit import AuditAction
from domain.errors import ConflictError, InvalidInput, PermissionDenied, RemoteServiceError
from domain.identity import OID_INS_NIA, OID_INS_NIR_TEST, IdentitySource, IdentityStatus, Ins, QualificationMode
from domain.ins_qualification import Concordance, VerificationReason, VerificationResult
from domain.insi import InsHistoryEntry, InsiIdentity, VitaleBeneficiary
from domain.practice import DEFAULT_IDENTITY_DOCUMENT_TYPES, UserAccount, UserRole
from tests.fakes import FakeCog, FakeInsiGateway, FakeUnitOfWorkFactory, MutableClock

NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)
MATRICULE = "279035121518989"
NIA = "779035121518933"
USER = UserAccount(1, "ide", "Camille DURAND (IDE)", UserRole.PRACTITIONER, 1, rpps="10101010101")

DOMINIQUE = InsiIdentity(
    matricule=MATRICULE,
    oid=OID_INS_NIR_TEST,
    birth_name="PAT-TROIS",
    given_names=("DOMINIQUE", "MARIE"),
    first_given_name="DOMINIQUE",
    sex="F",
    birth_date="1979-03-28",
    birth_place_code="51215",
    history=(InsHistoryEntry(NIA, OID_INS_NIA),),
)


class World:
    def __init__(self) -> None:
        self.uow = FakeUnitOfWorkFactory()
        for doc in DEFAULT_IDENTITY_DOCUMENT_TYPES:
            self.uow.store.doc_types[doc.code] = doc
        self.uow.store.users.append(USER)
        self.clock = MutableClock(NOW)
        self.user = CurrentUser(USER)
        self.gateway = FakeInsiGateway([DOMINIQUE])
        self.patients = PatientService(self.uow, FakeCog(), self.clock, self.user)
        self.lookup = InsiLookupService(self.gateway, self.uow, self.clock, self.user)
        self.service = QualificationService(
            self.uow, self.lookup, self.clock, self.user, FakeCog(), self.patients.open_patient
        )

    def create(self, **form: object) -> int:
        values: dict[str, object] = {
            "birth_name": "PAT-TROIS",
            "birth_given_names": "DOMINIQUE MARIE",
            "sex": "F",
            "birth_date": "28/03/1979",
            "birth_place_code": "51215",
        }
        values.update(form)
        return self.patients.create_patient(PatientForm(**values)).id  # type: ignore[arg-type]

    def actions(self, patient_id: int) -> list[AuditAction]:
        return [e.action for e, _ in self.uow.store.audit if e.patient_id == patient_id]


@pytest.fixture
def world() -> World:
    return World()


def test_everything_equal_retrieves_automatically_and_traces(world: World) -> None:
    pid = world.create(used_name="DUPONT")
    assert world.service.action_on_open(pid) is OpenAction.LOOKUP
    outcome = world.service.lookup_patient(world.service.patient(pid))
    assert outcome.found and outcome.automatic
    file = world.service.retrieve(outcome, automatic=True)
    identity = file.patient.identity
    assert file.status is IdentityStatus.RETRIEVED
    assert identity.ins == Ins(MATRICULE, OID_INS_NIR_TEST) and identity.traits.used_name == "DUPONT"
    assert identity.source is IdentitySource.INSI_TRAITS
    with world.uow() as uow:
        assert [h.matricule for h in uow.ins.history(pid)] == [MATRICULE, NIA]
        assert uow.ins.verification_state(pid).retrieved_at == NOW
    assert AuditAction.INS_RETRIEVAL in world.actions(pid)
    assert world.uow.store.history[pid][-1].after is IdentityStatus.RETRIEVED
    assert world.service.action_on_open(pid) is OpenAction.NONE


def test_divergences_need_a_click_then_the_document_qualifies_in_one_more(world: World) -> None:
    pid = world.create(birth_given_names="DOMINIQUE", birth_place_code="51454")
    outcome = world.service.lookup_patient(world.service.patient(pid))
    assert outcome.found and not outcome.automatic
    assert {r.key for r in outcome.comparison.divergences} == {"given_names", "birth_place_code"}  # type: ignore[union-attr]
    assert "Reims" in outcome.comparison.row("birth_place_code").local  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="divergences"):
        world.service.retrieve(outcome, automatic=True)
    file = world.service.retrieve(outcome)
    assert file.status is IdentityStatus.RETRIEVED
    assert file.patient.identity.traits.birth_given_names == ("DOMINIQUE", "MARIE")
    file = world.service.qualify(pid, file.patient.version, document_code="PASSEPORT")
    assert file.status is IdentityStatus.QUALIFIED and file.document_type_label == "Passeport"
    last = world.uow.store.history[pid][-1]
    assert last.after is IdentityStatus.QUALIFIED and last.qualification is QualificationMode.DOCUMENT


def test_retrieve_and_qualify_in_one_transaction(world: World) -> None:
    pid = world.create()
    outcome = world.service.lookup_patient(world.service.patient(pid))
    file = world.service.retrieve(outcome, document_code="CNI")
    assert file.status is IdentityStatus.QUALIFIED
    assert [c.after for c in world.uow.store.history[pid]] == [
        IdentityStatus.PROVISIONAL,
        IdentityStatus.RETRIEVED,
        IdentityStatus.QUALIFIED,
    ]
    with pytest.raises(InvalidInput):
        world.service.qualify(pid, file.patient.version, document_code="PERMIS")


def test_a_stale_lookup_is_refused(world: World) -> None:
    pid = world.create()
    outcome = world.service.lookup_patient(world.service.patient(pid))
    file = world.patients.open_patient(pid)
    world.patients.update_patient(pid, file.patient.version, PatientForm(
        birth_name="PAT-TROIS", birth_given_names="DOMINIQUE MARIE", sex="F", birth_date="28/03/1979",
        birth_place_code="51215", used_name="X",
    ))  # fmt: skip
    with pytest.raises(ConflictError):
        world.service.retrieve(outcome)


def test_strategy_without_cog_first_then_with_it_on_02(world: World) -> None:
    pid = world.create()
    world.gateway.several.add(("PAT-TROIS", "DOMINIQUE", "1979-03-28"))
    outcome = world.service.lookup_patient(world.service.patient(pid))
    assert outcome.found
    first, second = world.gateway.calls
    assert first.birth_place_code is None and second.birth_place_code == "51215"  # type: ignore[attr-defined]


def test_not_found_and_several_come_with_advice_and_a_link(world: World) -> None:
    pid = world.create(birth_name="INCONNU", birth_given_names="PERSONNE")
    outcome = world.service.lookup_patient(world.service.patient(pid))
    assert not outcome.found and outcome.answer.code.value == "01"
    assert "carte Vitale" in outcome.advice and outcome.help_url.startswith("https://")
    with pytest.raises(InvalidInput):
        world.service.retrieve(outcome)


def test_rule_11_answer_is_shown_but_not_imported_and_traced(world: World) -> None:
    pid = world.create()
    world.gateway.identities = [replace(DOMINIQUE, birth_date="1979-00-28")]
    world.gateway.several.clear()
    patient = world.service.patient(pid)
    bad = replace(DOMINIQUE, birth_date="1979-00-28")
    outcome = world.service.lookup_vitale(
        VitaleBeneficiary("2790351215189", "89", "PAT-TROIS", "DOMINIQUE", "1979-00-28", 1), patient
    )
    assert outcome.answer.code.value == "01"  # the fake's card registry is empty
    world.gateway.vitale["279035121518989"] = bad
    outcome = world.service.lookup_vitale(
        VitaleBeneficiary("2790351215189", "89", "PAT-TROIS", "DOMINIQUE", "1979-00-28", 1), patient
    )
    assert outcome.problem and "00" in outcome.problem and not outcome.found
    assert outcome.comparison is not None and outcome.comparison.row("nir").concordance is Concordance.EQUAL
    with pytest.raises(InvalidInput):
        world.service.retrieve(outcome)
    stored = world.service.patient(pid)
    assert stored.identity.ins is None and stored.version == patient.version
    refused = [e for e, _ in world.uow.store.audit if e.action is AuditAction.INS_RETRIEVAL]
    assert refused and refused[-1].outcome == "refus"


def test_doubtful_identity_is_not_looked_up(world: World) -> None:
    pid = world.create(doubtful=True)
    assert world.service.action_on_open(pid) is OpenAction.NONE
    with pytest.raises(PermissionDenied):
        world.service.lookup_patient(world.service.patient(pid))
    assert world.gateway.calls == []


def test_sentinelle_creates_in_one_step_and_finds_by_ins(world: World) -> None:
    outcome = world.service.lookup_traits(world.service.patient(world.create()).identity.traits)
    world.uow.store.patients.clear()
    file = world.service.create_from_insi(outcome, used_name="dupont", document_code="CNI")
    assert file.status is IdentityStatus.QUALIFIED and file.patient.identity.traits.used_name == "DUPONT"
    with pytest.raises(InvalidInput, match="déjà"):
        world.service.create_from_insi(outcome)
    known = world.service.find_by_ins(MATRICULE, OID_INS_NIR_TEST)
    assert known is not None and known.patient_id == file.id and not known.matched_on_history
    former = world.service.find_by_ins(NIA, OID_INS_NIA)
    assert former is not None and former.matched_on_history
    assert world.service.find_by_ins(MATRICULE, OID_INS_NIA) is None


def _retrieved(world: World, **form: object) -> int:
    pid = world.create(**form)
    world.service.retrieve(world.service.lookup_patient(world.service.patient(pid)))
    return pid


def test_periodic_verification_ok_after_four_years(world: World) -> None:
    _retrieved(world)
    job = VerificationJob(world.service, InlineTaskRunner())
    runs: list[object] = []
    job.run_once(runs.append)
    assert runs[-1].queued == 0  # type: ignore[attr-defined]
    world.clock.at = NOW + dt.timedelta(days=4 * 366)
    job.run_once(runs.append)
    run = runs[-1]
    assert run.queued == 1 and [r.result for r in run.reports] == [VerificationResult.OK]  # type: ignore[attr-defined]
    events = [e for e, _ in world.uow.store.audit if e.action is AuditAction.INS_VERIFICATION]
    assert events[-1].outcome == "ok" and "rechercherInsAvecTraitsIdentite" in str(events[-1].detail)
    assert world.service.queue_length() == 0


def test_failed_verification_demotes_invalidates_and_retrieves_again_when_concordant(world: World) -> None:
    pid = _retrieved(world)
    world.service.qualify(pid, world.service.patient(pid).version, document_code="CNI")
    # INSi now knows another INS for the same traits (NIR replacing a NIA, say): the stored one is not confirmed.
    new = replace(DOMINIQUE, matricule="279035121518989", oid=OID_INS_NIA)
    world.gateway.identities = [new]
    world.service.enqueue(pid, VerificationReason.MANUAL)
    runs: list[object] = []
    VerificationJob(world.service, InlineTaskRunner()).run_once(runs.append)
    report = runs[-1].reports[0]  # type: ignore[attr-defined]
    assert report.result is VerificationResult.KO and report.retrieved_again
    patient = world.service.patient(pid)
    assert patient.identity.ins == Ins("279035121518989", OID_INS_NIA)
    assert patient.identity.status is IdentityStatus.QUALIFIED
    reasons = [c.reason for c in world.uow.store.history[pid]]
    assert any("Vérification INSi en échec" in r for r in reasons)


def test_failed_verification_without_an_answer_leaves_the_identity_demoted(world: World) -> None:
    pid = _retrieved(world)
    world.gateway.identities = []
    world.service.enqueue(pid, VerificationReason.MANUAL)
    VerificationJob(world.service, InlineTaskRunner()).run_once()
    patient = world.service.patient(pid)
    assert patient.identity.ins is None and patient.identity.status is IdentityStatus.PROVISIONAL
    with world.uow() as uow:
        assert uow.ins.history(pid) == []
        assert uow.ins.verification_state(pid).result is VerificationResult.KO


def test_unreachable_insi_postpones_the_verification(world: World) -> None:
    pid = _retrieved(world)
    world.gateway.fail = RemoteServiceError("INSi indisponible.", retryable=True)
    world.service.enqueue(pid, VerificationReason.MANUAL)
    runs: list[object] = []
    VerificationJob(world.service, InlineTaskRunner()).run_once(runs.append)
    assert runs[-1].reports[0].result is VerificationResult.ERROR  # type: ignore[attr-defined]
    assert world.service.patient(pid).identity.status is IdentityStatus.RETRIEVED
    assert world.service.queue_length() == 1 and world.service.queued() == []  # retried in an hour
    world.clock.at = NOW + dt.timedelta(hours=2)
    assert world.service.queued() == [pid]


def test_nia_is_verified_at_the_next_event(world: World) -> None:
    pid = world.create()
    nia = replace(DOMINIQUE, matricule=NIA, oid=OID_INS_NIA, history=())
    world.gateway.identities = [nia]
    world.service.retrieve(world.service.lookup_patient(world.service.patient(pid)))
    assert world.service.action_on_open(pid) is OpenAction.VERIFY


def test_stats_per_month_and_practitioner(world: World) -> None:
    pid = _retrieved(world)
    world.create(birth_name="AUTRE")
    lines = world.service.stats("2026-11", "2026-11")
    overall = next(line for line in lines if line.practitioner == "*")
    assert overall.patients == 2 and overall.retrieved == 1 and overall.provisional == 1
    mine = world.service.stats("2026-10", "2026-11", practitioner="ide")
    assert {line.month for line in mine} == {"2026-11"}
    assert any(line.practitioner == USER.actor for line in mine)
    with pytest.raises(InvalidInput):
        world.service.stats("2026-11", "2026-01")
    assert pid
