"""The INS area on the SQL store (SQLite and PostgreSQL): history, verification state and queue, indicators."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from adapters.db.database import open_database
from adapters.db.repositories import SqlUnitOfWorkFactory
from app.dto import PatientForm
from app.services.insi_lookup import InsiLookupService
from app.services.patients import PatientService
from app.services.qualification import QualificationService, VerificationJob
from app.session import CurrentUser
from app.tasks import InlineTaskRunner
from domain.identity import OID_INS_NIA, OID_INS_NIR_TEST, IdentitySource, IdentityStatus, QualificationMode
from domain.ins_qualification import VerificationReason, VerificationResult
from domain.insi import InsHistoryEntry, InsiIdentity
from domain.practice import DEFAULT_IDENTITY_DOCUMENT_TYPES, Structure, StructureKind, UserAccount, UserRole
from tests.fakes import FakeCog, FakeInsiGateway, MutableClock

NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)
NIA = "779035121518933"
DOMINIQUE = InsiIdentity(
    matricule="279035121518989",
    oid=OID_INS_NIR_TEST,
    birth_name="PAT-TROIS",
    given_names=("DOMINIQUE",),
    first_given_name="DOMINIQUE",
    sex="F",
    birth_date="1979-03-28",
    birth_place_code="51215",
    history=(InsHistoryEntry(NIA, OID_INS_NIA, dt.date(1979, 4, 1), dt.date(1980, 1, 1)),),
)


@pytest.fixture
def world(database_url: str) -> Iterator[tuple[QualificationService, SqlUnitOfWorkFactory, MutableClock]]:
    engine, _ = open_database(database_url)
    uow = SqlUnitOfWorkFactory(engine)
    with uow() as work:
        sid = work.practice.add_structure(Structure(None, "Cabinet", StructureKind.INDIVIDUAL_PRACTICE))
        work.practice.add_user(UserAccount(None, "ide", "Camille DURAND", UserRole.PRACTITIONER, sid))
        for doc in DEFAULT_IDENTITY_DOCUMENT_TYPES:
            work.practice.save_identity_document_type(doc)
        work.commit()
        user = work.practice.user_by_login("ide")
    assert user is not None
    clock = MutableClock(NOW)
    current = CurrentUser(user)
    patients = PatientService(uow, FakeCog(), clock, current)
    lookup = InsiLookupService(FakeInsiGateway([DOMINIQUE]), uow, clock, current)
    service = QualificationService(uow, lookup, clock, current, FakeCog(), patients.open_patient)
    patients.create_patient(
        PatientForm(
            birth_name="PAT-TROIS",
            birth_given_names="DOMINIQUE",
            sex="F",
            birth_date="28/03/1979",
            birth_place_code="51215",
        )
    )
    yield service, uow, clock
    engine.dispose()


def test_retrieval_qualification_history_and_lookup_by_ins(
    world: tuple[QualificationService, SqlUnitOfWorkFactory, MutableClock],
) -> None:
    service, uow, _ = world
    outcome = service.lookup_patient(service.patient(1))
    assert outcome.automatic
    file = service.retrieve(outcome, automatic=True)
    file = service.qualify(1, file.patient.version, transitional=False, document_code="CNI")
    assert file.status is IdentityStatus.QUALIFIED
    with uow() as work:
        history = work.ins.history(1)
        state = work.ins.verification_state(1)
        changes = work.patients.status_history(1)
        stored = work.patients.get(1)
    assert [(h.matricule, h.valid_to) for h in history] == [
        ("279035121518989", None),
        (NIA, dt.date(1980, 1, 1)),
    ]
    assert state.retrieved_at == NOW and state.verified_at is None
    assert changes[-1].qualification is QualificationMode.DOCUMENT
    assert stored.identity.source is IdentitySource.INSI_TRAITS
    known = service.find_by_ins("279035121518989", OID_INS_NIR_TEST)
    assert known is not None and known.patient_id == 1 and known.status is IdentityStatus.QUALIFIED
    former = service.find_by_ins(NIA, OID_INS_NIA)
    assert former is not None and former.matched_on_history


def test_verification_queue_and_dates(world: tuple[QualificationService, SqlUnitOfWorkFactory, MutableClock]) -> None:
    service, uow, clock = world
    service.retrieve(service.lookup_patient(service.patient(1)), automatic=True)
    assert service.enqueue_due() == 0
    clock.at = NOW + dt.timedelta(days=4 * 366)
    assert service.enqueue_due() == 1
    assert service.enqueue_due() == 0  # already queued
    assert not service.enqueue(1, VerificationReason.MANUAL)
    runs: list[object] = []
    VerificationJob(service, InlineTaskRunner()).run_once(runs.append)
    assert [r.result for r in runs[-1].reports] == [VerificationResult.OK]  # type: ignore[attr-defined]
    with uow() as work:
        state = work.ins.verification_state(1)
        assert work.ins.queue_length() == 0
        version = work.patients.get(1).version
    assert state.verified_at == clock.at and state.result is VerificationResult.OK
    assert version == 2  # verifying does not make a new version of the record
    with uow() as work:
        work.ins.enqueue(1, VerificationReason.NIA_EVENT, clock.at)
        work.ins.postpone(1, "INSi indisponible", clock.at + dt.timedelta(hours=1))
        work.commit()
    with uow() as work:
        assert work.ins.queued(clock.at, 10) == []
        (item,) = work.ins.queued(clock.at + dt.timedelta(hours=2), 10)
    assert item.attempts == 1 and item.last_error == "INSi indisponible" and item.reason is VerificationReason.NIA_EVENT


def test_stats_from_traces_and_status_history(
    world: tuple[QualificationService, SqlUnitOfWorkFactory, MutableClock],
) -> None:
    service, _, _ = world
    service.retrieve(service.lookup_patient(service.patient(1)), automatic=True)
    lines = service.stats("2026-10", "2026-12")
    assert [line.month for line in lines if line.practitioner == "*"] == ["2026-11"]
    overall = next(line for line in lines if line.practitioner == "*")
    assert overall.patients == 1 and overall.retrieved == 1
    assert any(line.practitioner.endswith("(ide)") for line in lines)
