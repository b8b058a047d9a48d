"""Prescriptions in the SQL store (SQLite and PostgreSQL) through PrescriptionService, with real documents."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from adapters.db.database import open_database
from adapters.db.repositories import SqlUnitOfWorkFactory
from app.dto import PatientForm
from app.services.documents import DocumentService
from app.services.patients import PatientService
from app.services.prescriptions import PrescriptionCatalog, PrescriptionService
from app.session import CurrentUser
from domain.audit import AuditAction
from domain.errors import ConflictError, NotFound
from domain.practice import Profession, Structure, StructureKind, UserAccount, UserRole
from domain.prescriptions import PRODUCTS_KIND, PrescriptionStatus
from tests.fakes import FakeCog, MutableClock
from tests.unit.test_document_service import FakeReader, FakeRenderer

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
MIDWIFE = UserAccount(1, "sf", "Léa MOREAU", UserRole.PRACTITIONER, 1, Profession.MIDWIFE, "10101010103")


@pytest.fixture
def env(database_url: str) -> Iterator[tuple[PrescriptionService, SqlUnitOfWorkFactory, int]]:
    engine, _ = open_database(database_url)
    uow = SqlUnitOfWorkFactory(engine)
    with uow() as work:
        work.practice.add_structure(Structure(None, "Cabinet", StructureKind.INDIVIDUAL_PRACTICE))
        work.commit()
    clock = MutableClock(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC))
    user = CurrentUser(MIDWIFE)
    form = PatientForm(
        birth_name="Martin", birth_given_names="Jeanne", sex="F", birth_date="03/03/1990", birth_place_code="51454"
    )
    pid = PatientService(uow, FakeCog(), clock, user).create_patient(form).id
    documents = DocumentService(uow, FakeRenderer(), FakeReader(), clock, user)
    service = PrescriptionService(uow, documents, clock, user, PrescriptionCatalog(RESOURCES / "prescription"))
    yield service, uow, pid
    engine.dispose()


def test_draft_lines_round_trip_validation_and_renewal(env: tuple) -> None:
    service, uow, pid = env
    doliprane = next(c for c in service.search_products("doliprane") if c.allowed)
    folic = next(c for c in service.search_products("acide folique") if c.allowed)
    lines = [
        replace(service.line_for(doliprane), duration_days=5, quantity="1 boîte", renewals=0, non_substitutable=True),
        replace(service.line_for(folic), duration_days=90, renewals=2, ald=True),
    ]
    draft = service.save_draft(pid, PRODUCTS_KIND, lines, "Grossesse en cours.")
    stored = service.get(draft.id or 0)
    assert stored.lines == draft.lines and stored.lines[0].cis == "60234100" and stored.lines[0].non_substitutable
    assert stored.lines[1].atc == "B03BB01" and stored.lines[1].renewals == 2
    assert [line.ald for line in stored.lines] == [False, True]  # "en rapport avec l'ALD" (migration 0010)
    assert stored.created_at.tzinfo is not None

    edited = service.save_draft(
        pid, PRODUCTS_KIND, lines[:1], "", prescription_id=draft.id, row_version=draft.row_version
    )
    assert len(edited.lines) == 1 and edited.row_version > draft.row_version
    with pytest.raises(ConflictError):
        service.save_draft(pid, PRODUCTS_KIND, lines, "", prescription_id=draft.id, row_version=draft.row_version)

    done = service.validate(edited.id or 0, edited.row_version)
    assert done.status is PrescriptionStatus.VALIDATED and done.document_row_id is not None
    renewed = service.renew(done.id or 0)
    listed = service.list_prescriptions(pid)
    assert [p.id for p in listed] == sorted([renewed.id, done.id], reverse=True)
    assert listed[0].renews_id == done.id and listed[0].lines[0].label == done.lines[0].label
    with uow() as work:
        traces = [e for e in work.audit.list(patient_id=pid) if e.action is AuditAction.PRESCRIPTION_WRITE]
    assert len(traces) == 4
    with pytest.raises(NotFound):
        service.get(9999)
