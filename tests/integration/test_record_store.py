"""The clinical record in the SQL store (SQLite and PostgreSQL) through RecordService, as the application uses it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from adapters.db.database import open_database
from adapters.db.repositories import SqlUnitOfWorkFactory
from adapters.record_files import FileAttachmentStore
from app.dto import PatientForm
from app.services.patients import PatientService
from app.services.record import RecordService
from app.session import CurrentUser
from domain.audit import AuditAction
from domain.errors import InvalidInput, NotFound
from domain.macros import Macro
from domain.practice import Profession, UserAccount, UserRole
from domain.record import EntryKind, Observation, ObservationKind
from tests.fakes import FakeCog, MutableClock

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
NURSE = UserAccount(1, "ide", "Camille DURAND", UserRole.PRACTITIONER, None, Profession.NURSE)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> tuple[RecordService, SqlUnitOfWorkFactory, int, MutableClock]:
    engine, _ = open_database(database_url)
    uow = SqlUnitOfWorkFactory(engine)
    clock = MutableClock(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC))
    user = CurrentUser(NURSE)
    form = PatientForm(
        birth_name="Martin", birth_given_names="Jeanne", sex="F", birth_date="03/03/1950", birth_place_code="51454"
    )
    pid = PatientService(uow, FakeCog(), clock, user).create_patient(form).id
    record = RecordService(uow, clock, user, RESOURCES, FileAttachmentStore(tmp_path / "pj"))
    yield record, uow, pid, clock
    engine.dispose()


def test_observations_versions_lists_drafts_and_dismissals(env: tuple) -> None:
    record, uow, pid, clock = env
    record.save_draft(pid, text="brouillon", template_key="ide.plaie", template_version=1, values={"plaie": "Talon"})
    draft = record.open_record(pid).draft
    assert draft is not None and draft.values == {"plaie": "Talon"} and draft.updated_at is not None
    text = record.save_text_observation(pid, "Pansement refait. Allergies : aucune.")
    photo = record.attach("plaie.png", PNG)
    clock.at += dt.timedelta(minutes=5)
    form = record.save_form_observation(
        pid,
        "ide.plaie",
        1,
        {"plaie": "Talon", "type": "escarre", "stade": "2", "longueur": "30 mm", "largeur": "2", "photo": [photo]},
    )
    view = record.open_record(pid)
    assert [line.id for line in view.timeline] == [form.id, text.id] and view.draft is None
    assert view.timeline[0].at == clock.at and view.timeline[0].at.tzinfo is not None
    detail = record.observation(form.id)
    assert detail.observation.values["surface"] == 6.0 and detail.template is not None
    assert detail.template.ref == "ide.plaie@1"
    assert record.attachment(photo["sha256"]) == PNG  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="ni une photo"):
        record.attach("x.txt", b"hello")

    record.add_entry(pid, EntryKind.VACCINATION, "Grippe saisonnière", code="grippe", start="15/10/2026")
    record.add_entry(pid, EntryKind.ALLERGY, "Iode", detail="eczéma")
    entries = record.open_record(pid).entries
    assert [(e.kind, e.start) for e in entries] == [
        (EntryKind.VACCINATION, dt.date(2026, 10, 15)),
        (EntryKind.ALLERGY, None),
    ]
    alerts = record.alerts(pid)
    assert not any(a.key.startswith("vaccin:sen_grippe") for a in alerts)
    zona = next(a for a in alerts if a.key == "vaccin:sen_zona")
    record.dismiss(pid, zona, "Déjà vacciné, carnet à apporter")
    assert "vaccin:sen_zona" not in {a.key for a in record.alerts(pid)}
    with uow() as u:
        actions = [e.action for e in u.audit.list(patient_id=pid)]
        assert u.audit.verify_chain() is None
    assert AuditAction.ALERT_DISMISS in actions and actions.count(AuditAction.RECORD_WRITE) == 2

    record.save_macro(Macro("@ta", "Tension", "TA : /  mmHg"))
    assert record.macros().get("@ta") is not None and record.macros().get("@allergies") is not None
    with pytest.raises(InvalidInput, match="existe déjà"):
        record.save_macro(Macro("@ta", "Tension", "bis"))
    with pytest.raises(NotFound):
        record.observation(999_999)


def test_bulk_insert_timeline_order_and_dashboard(env: tuple) -> None:
    record, uow, pid, clock = env
    start = clock.at - dt.timedelta(days=2000)
    with uow() as u:
        u.record.add_observations(
            [
                Observation(
                    None,
                    pid,
                    start + dt.timedelta(days=i),
                    "ide",
                    "Camille DURAND (ide)",
                    "60",
                    ObservationKind.TEXT,
                    "Observation",
                    f"passage {i}",
                    summary=f"passage {i}",
                )
                for i in range(2000)
            ]
        )
        u.commit()
    timeline = record.open_record(pid).timeline
    assert len(timeline) == 2000 and timeline[0].summary == "passage 1999"
    assert timeline[0].at > timeline[-1].at
    board = record.dashboard()
    assert [line.patient_id for line in board.section("suivi").lines] == [pid]
    assert pid in [line.patient_id for line in board.section("identites").lines]
    assert board.patients_scanned == 1
