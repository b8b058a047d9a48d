"""The agenda on SQLite and PostgreSQL: repository, series, undo, iCalendar round trip, round sheet PDF, CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from adapters.db.database import open_database
from adapters.db.repositories import SqlUnitOfWorkFactory
from adapters.ical import IcsCalendarCodec
from adapters.round_sheet_pdf import PdfRoundSheetRenderer
from app.clock import FixedClock
from app.demo import install_demo_practice
from app.services.agenda import AgendaService, SeriesRequest
from app.session import CurrentUser
from domain.agenda import (
    Absence,
    Appointment,
    AppointmentStatus,
    DmpPreparation,
    PlaceKind,
    SchedulingConflict,
    SeriesPlan,
    WaitingEntry,
    local_datetime,
    parse_rhythm,
)
from domain.errors import ConflictError, InvalidInput
from domain.identity import Identity, IdentityTraits, Sex
from domain.patient import Contact, Patient
from tests.integration.test_cli import lgc


def at(day: str, time: str) -> dt.datetime:
    return local_datetime(dt.date.fromisoformat(day), dt.time.fromisoformat(time))


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> tuple[AgendaService, SqlUnitOfWorkFactory, list[int], dict[str, int]]:
    engine, _ = open_database(database_url)
    uow = SqlUnitOfWorkFactory(engine)
    install_demo_practice(uow)
    with uow() as work:
        users = {u.login: u.id or 0 for u in work.practice.users()}
        user = next(u for u in work.practice.users() if u.login == "ide")
        patients = []
        for name, street in (("MARTIN", "2 rue du Moulin"), ("PETIT", "40 rue du Moulin"), ("ROUX", "5 avenue Foch")):
            traits = IdentityTraits(name, ("ANNE",), dt.date(1950, 1, 1), Sex.FEMALE, "51454")
            contact = Contact((street,), "51100", "Reims", ("06 01 02 03 04",))
            patients.append(work.patients.add(Patient(None, Identity(traits=traits), contact)))
        work.commit()
    service = AgendaService(
        uow,
        FixedClock(at("2026-12-01", "08:00")),
        CurrentUser(user),
        codec=IcsCalendarCodec,
        round_sheets=PdfRoundSheetRenderer,
        reminders=None,
        output_dir=tmp_path / "tournees",
    )
    yield service, uow, patients, users
    engine.dispose()


def test_appointments_series_and_undo_in_the_store(env: tuple) -> None:
    service, uow, patients, users = env
    mk, ide = users["mk"], users["ide"]
    booked = service.book(
        Appointment(
            None,
            mk,
            patients[0],
            at("2026-12-07", "09:00"),
            at("2026-12-07", "09:30"),
            "REEDUC",
            dmp=DmpPreparation(informed=True, feeding_opposed=False, consultation_consent=True, note="apporter CR"),
        )
    ).appointment
    assert booked.patient_name == "MARTIN Anne" and booked.version == 1 and booked.uid.endswith("@lgc.local")
    assert service.get(booked.id).dmp.consultation_consent is True
    with pytest.raises(SchedulingConflict):
        service.book(Appointment(None, mk, patients[1], at("2026-12-07", "09:15"), at("2026-12-07", "09:45"), "REEDUC"))
    night = service.book(
        Appointment(
            None,
            ide,
            patients[2],
            at("2026-12-07", "23:30"),
            at("2026-12-08", "00:30"),
            "SOIN_DOM",
            place=PlaceKind.HOME,
        )
    ).appointment
    assert night.address == "5 avenue Foch, 51100 Reims"
    both_days = service.period([ide], dt.date(2026, 12, 8), dt.date(2026, 12, 8)).appointments
    assert [a.id for a in both_days] == [night.id]

    request = SeriesRequest(
        patients[1],
        mk,
        "REEDUC",
        "Lombalgie",
        SeriesPlan(
            parse_rhythm("2 séances par semaine pendant 6 semaines"),
            dt.date(2026, 12, 7),
            (dt.time(10),),
            frozenset({0, 3}),
            30,
        ),
    )
    summary = service.plan_series(request)
    assert len(summary.occurrences) == 12 and len({o.id for o in summary.occurrences}) == 12
    third = summary.occurrences[2]
    service.cancel(third.id, third.version, "Patient malade")
    fourth = summary.occurrences[3]
    service.move(fourth.id, fourth.version, fourth.start + dt.timedelta(hours=3))
    again = service.series_summary(summary.series.id)
    assert [o.status for o in again.occurrences].count(AppointmentStatus.CANCELLED) == 1
    assert sum(1 for a, b in zip(summary.occurrences, again.occurrences, strict=True) if a.start != b.start) == 1
    service.undo()
    service.undo()
    restored = service.series_summary(summary.series.id)
    assert [(o.start, o.status) for o in restored.occurrences] == [(o.start, o.status) for o in summary.occurrences]
    service.undo()  # the series
    with uow() as work:
        assert work.agenda.patient_series(patients[1]) == []
        assert work.agenda.count_appointments() == 2
    agenda = service.patient_agenda(patients[0])
    assert [a.id for a in agenda.future] == [booked.id] and agenda.past == ()

    # Optimistic locking across workstations.
    with uow() as work:
        current = work.agenda.get_appointment(booked.id)
        work.agenda.update_appointment(current.moved(at("2026-12-07", "11:00")))
        work.commit()
    with pytest.raises(ConflictError):
        service.move(booked.id, booked.version, at("2026-12-07", "12:00"))

    service.add_absence(Absence(None, mk, at("2026-12-09", "08:00"), at("2026-12-09", "19:00"), "Congés"))
    entry_id = service.add_to_waiting_list(WaitingEntry(None, patients[2], mk, "REEDUC", 30, at("2026-12-01", "08:00")))
    assert [e.id for e in service.waiting_list()] == [entry_id]
    assert service.waiting_list()[0].patient_name == "ROUX Anne"
    period = service.period([mk, ide], dt.date(2026, 12, 7), dt.date(2026, 12, 13))
    assert len(period.absences) == 1 and dt.date(2026, 12, 25) not in period.holidays


def test_ical_round_trip_and_garbage(env: tuple, tmp_path: Path) -> None:
    service, _uow, patients, users = env
    mk = users["mk"]
    for n in range(3):
        service.book(
            Appointment(
                None,
                mk,
                patients[n],
                at("2026-12-07", f"{8 + n:02d}:00"),
                at("2026-12-07", f"{8 + n:02d}:30"),
                "REEDUC",
                care=f"séance {n}",
            )
        )
    dst = service.book(
        Appointment(None, mk, None, at("2026-10-25", "01:30"), at("2026-10-25", "03:00"), "AUTRE", title="Garde")
    ).appointment
    path = tmp_path / "mk.ics"
    assert service.export_ics(mk, path) == 4
    text = path.read_text()
    assert "BEGIN:VTIMEZONE" in text and "TZID:Europe/Paris" in text and "MARTIN Anne" in text
    # Re-importing the same file changes nothing; an edited time updates the event.
    report = service.import_ics(path)
    assert (report.created, report.updated, report.practitioner_id) == (0, 0, mk)
    path.write_text(
        text.replace("DTSTART;TZID=Europe/Paris:20261207T080000", "DTSTART;TZID=Europe/Paris:20261207T073000")
    )
    assert service.import_ics(path).updated == 1
    assert service.period([mk], dt.date(2026, 12, 7), dt.date(2026, 12, 7)).appointments[0].start == at(
        "2026-12-07", "07:30"
    )
    # Into another practitioner's agenda: new UIDs only; existing ones are refused as a whole.
    with pytest.raises(InvalidInput, match="autre praticien"):
        service.import_ics(path, users["ortho"])
    other = tmp_path / "other.ics"
    other.write_text(text.replace("@lgc.local", "@ailleurs.example"))
    imported = service.import_ics(other, users["ortho"])
    assert imported.created == 4
    moved = service.period([users["ortho"]], dt.date(2026, 10, 25), dt.date(2026, 10, 25)).appointments
    assert [a.duration for a in moved] == [dst.duration] == [dt.timedelta(hours=2, minutes=30)]
    assert all(a.patient_id is None for a in moved)
    before = service.period([users["ortho"]], dt.date(2026, 10, 1), dt.date(2026, 11, 30)).appointments
    garbage = tmp_path / "garbage.ics"
    for payload in (b"\x00\x01garbage", b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:zz\n", b"", "é".encode("latin-1")):
        garbage.write_bytes(payload)
        with pytest.raises(InvalidInput):
            service.import_ics(garbage, users["ortho"])
    assert service.period([users["ortho"]], dt.date(2026, 10, 1), dt.date(2026, 11, 30)).appointments == before
    mixed = tmp_path / "mixed.ics"
    mixed.write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:a@x\nDTSTART;VALUE=DATE:20261208\nSUMMARY:Congé\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:b@x\nDTSTART:20261208T100000Z\nDTEND:20261210T100000Z\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:c@x\nDTSTART:20261208T100000Z\nDURATION:PT45M\nSUMMARY:Réunion\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:d@x\nDTSTART:2026zz\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    report = service.import_ics(mixed, users["ortho"])
    assert report.created == 1 and len(report.skipped) == 3
    assert any("journée entière" in s for s in report.skipped) and any("12 heures" in s for s in report.skipped)
    with pytest.raises(InvalidInput, match="Praticien inconnu"):
        service.import_ics(mixed)


def test_round_sheet_pdf(env: tuple, tmp_path: Path) -> None:
    service, _, patients, users = env
    ide = users["ide"]
    for n, time in enumerate(("07:00", "07:20", "07:40")):
        service.book(
            Appointment(
                None,
                ide,
                patients[n],
                at("2026-12-07", time),
                at("2026-12-07", time) + dt.timedelta(minutes=15),
                "SOIN_DOM",
                place=PlaceKind.HOME,
                door_code="B2580" if n == 1 else "",
                care="Pansement d'ulcère, œdème à surveiller",
            )
        )
    path = service.print_round_sheet(ide, dt.date(2026, 12, 7))
    assert path.name == "tournee-2026-12-07-ide.pdf" and path.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "Tournée du lundi 07/12/2026" in text and "MARTIN Anne" in text and "B2580" in text
    assert "œdème" in text and "40 rue du Moulin" in text


def test_cli_practitioners_export_import(database_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = lgc("demo-data", "--patients", "60", data_dir=data, database_url=database_url)
    assert out.returncode == 0, out.stderr
    out = lgc("agenda", "practitioners", "--json", data_dir=data, database_url=database_url)
    assert out.returncode == 0, out.stderr
    practitioners = json.loads(out.stdout)
    nurse = next(p for p in practitioners if p["name"].startswith("Camille DURAND"))
    assert {"id", "name", "profession"} <= set(nurse) and "IDE" in nurse["profession"]
    ics = tmp_path / "ide.ics"
    out = lgc(
        "agenda",
        "export",
        "--practitioner",
        str(nurse["id"]),
        "--ics",
        str(ics),
        data_dir=data,
        database_url=database_url,
    )
    assert out.returncode == 0, out.stderr
    assert "rendez-vous exportés" in out.stdout and ics.read_text().startswith("BEGIN:VCALENDAR")
    out = lgc("agenda", "import", str(ics), data_dir=data, database_url=database_url)
    assert out.returncode == 0, out.stderr
    assert "0 créé(s), 0 mis à jour" in out.stdout
    garbage = tmp_path / "garbage.ics"
    garbage.write_bytes(b"PK\x03\x04 not a calendar")
    out = lgc("agenda", "import", str(garbage), data_dir=data, database_url=database_url)
    assert out.returncode == 2 and "n'est pas un calendrier iCalendar" in out.stderr
    out = lgc("agenda", "export", "--practitioner", "999", "--ics", str(ics), data_dir=data, database_url=database_url)
    assert out.returncode == 2 and "Aucun praticien n° 999" in out.stderr


def test_series_counted_by_status_in_the_store(env: tuple) -> None:
    from dataclasses import replace

    from domain.agenda import SeriesCounts

    service, uow, patients, users = env
    mk = users["mk"]
    rhythm = parse_rhythm("2 séances par semaine pendant 3 semaines")
    plan = SeriesPlan(rhythm, dt.date(2026, 12, 7), (dt.time(10),), frozenset({0, 3}), 30)
    summary = service.plan_series(SeriesRequest(patients[0], mk, "REEDUC", "Genou", plan))
    first, second, third = summary.occurrences[:3]
    with uow() as work:
        work.agenda.update_appointment(replace(first, status=AppointmentStatus.DONE))
        work.agenda.update_appointment(replace(second, status=AppointmentStatus.NO_SHOW))
        work.commit()
    service.cancel(third.id, third.version, "Patiente malade")
    with uow() as work:
        [(series, counts)] = work.agenda.series_with_counts(practitioner_id=mk)
        assert series.id == summary.series.id and series.prescribed_sessions == 6
        assert counts == SeriesCounts(1, 3, 1, 1, summary.occurrences[-1].start)
        assert work.agenda.series_with_counts(patient_id=patients[1]) == []
        assert len(work.agenda.series_with_counts()) == 1
