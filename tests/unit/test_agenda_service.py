"""AgendaService with fakes: booking, conflicts, series occurrences, cancel, undo, waiting list, rounds, reminders."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from app.services.agenda import AgendaService, SeriesRequest
from app.session import CurrentUser
from domain.agenda import (
    Absence,
    Appointment,
    AppointmentStatus,
    FreedSlot,
    PartOfDay,
    PlaceKind,
    SchedulingConflict,
    SeriesPlan,
    WaitingEntry,
    WaitingStatus,
    local_datetime,
    parse_rhythm,
)
from domain.agenda_ports import CalendarCodec
from domain.audit import AuditAction
from domain.errors import ConflictError, InvalidInput, NotFound, RemoteServiceError
from domain.identity import Identity, IdentityTraits, Sex
from domain.patient import Contact, Patient
from domain.practice import Profession, Structure, StructureKind, UserAccount, UserRole
from tests.fakes import FakeUnitOfWorkFactory, MutableClock
from tests.fakes_agenda import FakeReminderGateway, FakeRoundSheetRenderer

NURSE = UserAccount(1, "ide", "Camille DURAND (IDE)", UserRole.PRACTITIONER, 1, Profession.NURSE, "10101010101")
PHYSIO = UserAccount(2, "mk", "Thomas ROUX (kiné)", UserRole.PRACTITIONER, 1, Profession.PHYSIOTHERAPIST)
SECRETARY = UserAccount(3, "sec", "Martine LEROY", UserRole.SECRETARY, 1)


def at(day: str, time: str) -> dt.datetime:
    return local_datetime(dt.date.fromisoformat(day), dt.time.fromisoformat(time))


class Env:
    def __init__(self) -> None:
        self.uow = FakeUnitOfWorkFactory()
        store = self.uow.store
        store.structures.append(
            Structure(
                1, "Cabinet des Tilleuls", StructureKind.INDIVIDUAL_PRACTICE, address="12 rue des Tilleuls, 51100 Reims"
            )
        )
        store.users.extend([NURSE, PHYSIO, SECRETARY])
        self.clock = MutableClock(at("2026-12-01", "08:00"))
        self.sheets = FakeRoundSheetRenderer()
        self.reminders = FakeReminderGateway()
        self.service = AgendaService(
            self.uow,
            self.clock,
            CurrentUser(SECRETARY),
            codec=self._no_codec,
            round_sheets=lambda: self.sheets,
            reminders=self.reminders,
            output_dir=Path("/nonexistent"),
        )
        self.patients = [self.add_patient(name, f"{n} rue du Moulin") for n, name in ((2, "MARTIN"), (40, "PETIT"))]
        self.patients.append(self.add_patient("DURAND", "5 avenue Foch"))

    @staticmethod
    def _no_codec() -> CalendarCodec:
        raise AssertionError("no iCalendar in unit tests")

    def add_patient(self, name: str, street: str) -> int:
        traits = IdentityTraits(name, ("ANNE",), dt.date(1950, 1, 1), Sex.FEMALE, "51454")
        contact = Contact((street,), "51100", "Reims", ("06 01 02 03 04",), "")
        with self.uow() as uow:
            pid = uow.patients.add(Patient(None, Identity(traits=traits), contact))
            uow.commit()
        return pid

    def appointment(self, start: dt.datetime, minutes: int = 30, **kw: object) -> Appointment:
        fields = {"practitioner_id": PHYSIO.id, "patient_id": self.patients[0], "type_code": "REEDUC", **kw}
        return Appointment(None, start=start, end=start + dt.timedelta(minutes=minutes), **fields)  # type: ignore[arg-type]


@pytest.fixture
def env() -> Env:
    return Env()


def test_book_shows_conflicts_and_refuses_overlaps_unless_forced(env: Env) -> None:
    service = env.service
    first = service.book(env.appointment(at("2026-12-07", "09:00"))).appointment
    assert first.id is not None and first.patient_name == "MARTIN Anne"
    overlapping = env.appointment(at("2026-12-07", "09:15"), patient_id=env.patients[1])
    assert [c.kind.value for c in service.check(overlapping)] == ["chevauchement"]
    with pytest.raises(SchedulingConflict, match="chevauche « MARTIN Anne »"):
        service.book(overlapping)
    with env.uow() as uow:
        assert uow.agenda.count_appointments() == 1  # nothing half-saved
    forced = service.book(overlapping, force=True)
    assert forced.warnings and forced.warnings[0].blocking
    # A holiday or outside working hours is a warning, not a refusal.
    christmas = service.book(env.appointment(at("2026-12-25", "20:30")))
    assert {c.kind.value for c in christmas.warnings} == {"ferie", "hors_horaires"}
    traces = [e for e, _ in env.uow.store.audit if e.action is AuditAction.AGENDA_CHANGE]
    assert len(traces) == 3 and traces[0].actor == SECRETARY.actor


def test_bad_input_is_refused_before_anything_is_stored(env: Env) -> None:
    service = env.service
    with pytest.raises(InvalidInput, match="Durée nulle"):
        service.book(env.appointment(at("2026-12-07", "09:00"), 0))
    with pytest.raises(InvalidInput, match="48 h"):
        service.book(env.appointment(at("2026-12-07", "09:00"), 48 * 60))
    with pytest.raises(NotFound, match="Aucun praticien"):
        service.book(env.appointment(at("2026-12-07", "09:00"), practitioner_id=SECRETARY.id))
    night = service.book(env.appointment(at("2026-12-07", "23:30"), 60, practitioner_id=NURSE.id))
    assert night.appointment.duration == dt.timedelta(hours=1)
    with env.uow() as uow:
        assert uow.agenda.count_appointments() == 1


def test_home_visit_takes_the_patient_address_and_the_last_door_code(env: Env) -> None:
    service = env.service
    first = service.book(
        env.appointment(
            at("2026-12-07", "07:00"),
            15,
            practitioner_id=NURSE.id,
            type_code="SOIN_DOM",
            place=PlaceKind.HOME,
            door_code="A1234",
        )
    ).appointment
    assert first.address == "2 rue du Moulin, 51100 Reims"
    second = service.book(
        env.appointment(
            at("2026-12-08", "07:00"), 15, practitioner_id=NURSE.id, type_code="SOIN_DOM", place=PlaceKind.HOME
        )
    ).appointment
    assert second.door_code == "A1234"


def series_request(env: Env, rhythm: str = "2 séances par semaine pendant 6 semaines") -> SeriesRequest:
    return SeriesRequest(
        patient_id=env.patients[0],
        practitioner_id=PHYSIO.id or 0,
        type_code="REEDUC",
        label="Rééducation du genou",
        plan=SeriesPlan(parse_rhythm(rhythm), dt.date(2026, 12, 7), (dt.time(8, 0),), frozenset({0, 3}), 30),
        prescriber="Dr FONTAINE",
        prescription_date=dt.date(2026, 12, 1),
    )


def test_series_occurrences_are_real_rows_moved_and_cancelled_one_by_one(env: Env) -> None:
    service = env.service
    summary = service.plan_series(series_request(env))
    occurrences = summary.occurrences
    assert len(occurrences) == 12 and summary.progress.prescribed == 12 and summary.progress.planned == 12
    second, third = occurrences[1], occurrences[2]
    assert second.id is not None and third.id is not None
    moved = service.move(second.id, second.version, second.start + dt.timedelta(hours=2)).appointment
    assert moved.start == second.start + dt.timedelta(hours=2) and moved.series_id == summary.series.id
    service.cancel(third.id, third.version, "Patient malade")
    after = service.series_summary(summary.series.id or 0)
    untouched = [o for o in after.occurrences if o.id not in (second.id, third.id)]
    assert [(o.start, o.status) for o in untouched] == [
        (o.start, AppointmentStatus.PLANNED) for o in occurrences if o.id not in (second.id, third.id)
    ]
    assert after.progress.cancelled == 1 and "1 séance à replanifier" in after.progress.alert_fr
    for occ in after.occurrences[:10]:
        if occ.status is AppointmentStatus.PLANNED:
            service.mark_done(occ.id or 0, occ.version)
    final = service.series_summary(summary.series.id or 0)
    assert final.progress.done == 9 and final.progress.left == 3
    with pytest.raises(InvalidInput, match="ne peut pas être déplacé"):
        done = final.occurrences[0]
        service.move(done.id or 0, done.version, done.start + dt.timedelta(hours=1))


def test_series_conflicts_and_cap_leave_nothing_saved(env: Env) -> None:
    service = env.service
    service.book(env.appointment(at("2026-12-10", "08:00"), patient_id=env.patients[1]))
    preview = service.preview_series(series_request(env))
    assert len(preview.occurrences) == 12 and [i for i, _ in preview.blocking] == [1]
    with pytest.raises(SchedulingConflict):
        service.plan_series(series_request(env))
    with pytest.raises(InvalidInput, match="Série trop longue"):
        service.plan_series(series_request(env, "5 fois par jour pendant 2000 jours"))
    with env.uow() as uow:
        assert uow.agenda.count_appointments() == 1
        assert uow.agenda.patient_series(env.patients[0]) == []
    assert len(service.plan_series(series_request(env), force=True).occurrences) == 12


def test_undo_restores_the_last_changes_in_order(env: Env) -> None:
    service = env.service
    booked = service.book(env.appointment(at("2026-12-07", "09:00"))).appointment
    moved = service.move(booked.id or 0, booked.version, at("2026-12-07", "10:00")).appointment
    service.cancel(moved.id or 0, moved.version, "Demande du patient")
    assert service.undo_label == "l'annulation"
    assert service.undo() == "l'annulation"
    assert service.get(booked.id or 0).status is AppointmentStatus.PLANNED
    assert service.undo() == "le déplacement du rendez-vous"
    assert service.get(booked.id or 0).start == at("2026-12-07", "09:00")
    assert service.undo() == "la création du rendez-vous"
    with env.uow() as uow:
        assert uow.agenda.count_appointments() == 0
    with pytest.raises(InvalidInput, match="Aucune modification"):
        service.undo()
    summary = service.plan_series(series_request(env))
    service.undo()
    with env.uow() as uow:
        assert uow.agenda.count_appointments() == 0 and uow.agenda.patient_series(env.patients[0]) == []
    assert summary.series.id is not None


def test_undo_and_moves_refuse_changes_made_elsewhere(env: Env) -> None:
    service = env.service
    booked = service.book(env.appointment(at("2026-12-07", "09:00"))).appointment
    service.move(booked.id or 0, booked.version, at("2026-12-07", "11:00"))
    with env.uow() as uow:  # another workstation edits it
        current = uow.agenda.get_appointment(booked.id or 0)
        uow.agenda.update_appointment(replace(current, note="changé ailleurs"))
        uow.commit()
    with pytest.raises(ConflictError):
        service.undo()
    with pytest.raises(ConflictError):
        service.move(booked.id or 0, booked.version, at("2026-12-07", "12:00"))


def test_cancellation_offers_the_slot_to_the_waiting_list(env: Env) -> None:
    service = env.service
    booked = service.book(env.appointment(at("2026-12-07", "09:00"))).appointment
    entry = WaitingEntry(None, env.patients[1], PHYSIO.id, "REEDUC", 30, env.clock.now(), part_of_day=PartOfDay.MORNING)
    entry_id = service.add_to_waiting_list(entry)
    service.add_to_waiting_list(replace(entry, patient_id=env.patients[2], minutes=60))
    result = service.cancel(booked.id or 0, booked.version, "Patient malade")
    assert len(result.offers) == 1
    offer = result.offers[0]
    assert [e.id for e in offer.entries] == [entry_id] and offer.entries[0].patient_name == "PETIT Anne"
    given = service.book_from_waiting_list(entry_id, offer.slot).appointment
    assert given.patient_id == env.patients[1] and given.start == at("2026-12-07", "09:00")
    assert [e.id for e in service.waiting_list()] != [entry_id]
    service.undo()
    assert entry_id in [e.id for e in service.waiting_list()]
    service.remove_from_waiting_list(entry_id)
    with env.uow() as uow:
        assert uow.agenda.waiting_entries(WaitingStatus.REMOVED)[0].id == entry_id
    assert service.offers_for(FreedSlot(PHYSIO.id or 0, at("2026-11-01", "09:00"), at("2026-11-01", "09:30"))) == []


def test_round_of_the_day_order_retime_and_sheet(env: Env, tmp_path: Path) -> None:
    service = env.service
    ids = []
    for n, (patient, time) in enumerate(zip(env.patients, ("07:00", "07:30", "08:00"), strict=True)):
        booked = service.book(
            env.appointment(
                at("2026-12-07", time),
                20,
                practitioner_id=NURSE.id,
                patient_id=patient,
                type_code="SOIN_DOM",
                place=PlaceKind.HOME,
                care=f"soin {n}",
            )
        ).appointment
        ids.append(booked.id or 0)
    service.book(env.appointment(at("2026-12-07", "09:00"), practitioner_id=NURSE.id))  # at the practice
    view = service.round_of_day(NURSE.id or 0, dt.date(2026, 12, 7))
    assert [s.appointment_id for s in view.stops] == ids and view.stops[0].phone == "06 01 02 03 04"
    suggestion = service.suggest_round(NURSE.id or 0, dt.date(2026, 12, 7))
    assert suggestion.km_after <= suggestion.km_before
    new_order = [ids[2], ids[0], ids[1]]
    saved = service.save_round_order(NURSE.id or 0, dt.date(2026, 12, 7), new_order, retime=True)
    assert [s.appointment_id for s in saved.stops] == new_order
    assert saved.stops[0].start == at("2026-12-07", "07:00") and saved.stops[1].start > saved.stops[0].start
    with pytest.raises(ConflictError):
        service.save_round_order(NURSE.id or 0, dt.date(2026, 12, 7), new_order[:2])
    path = service.print_round_sheet(NURSE.id or 0, dt.date(2026, 12, 7), tmp_path / "sheet.pdf")
    assert path.read_text() == "3 visites" and env.sheets.sheets[0].practice == "Cabinet des Tilleuls"
    service.undo()
    assert [s.appointment_id for s in service.round_of_day(NURSE.id or 0, dt.date(2026, 12, 7)).stops] == ids


def test_reminders_are_listed_and_sent_once_through_the_port(env: Env) -> None:
    service = env.service
    service.book(env.appointment(at("2026-12-02", "07:30")))
    service.book(env.appointment(at("2026-12-03", "09:00")))
    assert len(service.reminders_due()) == 1
    assert service.send_reminders() == 1
    assert env.reminders.sent[0][1] == "06 01 02 03 04"
    assert service.reminders_due() == [] and service.send_reminders() == 0
    env.clock.at = at("2026-12-02", "10:00")
    env.reminders.fail_after = 0
    with pytest.raises(RemoteServiceError):
        service.send_reminders()
    assert len(service.reminders_due()) == 1  # not marked: it will be sent next time


def test_absences_and_working_hours(env: Env) -> None:
    service = env.service
    service.add_absence(Absence(None, PHYSIO.id or 0, at("2026-12-07", "13:00"), at("2026-12-07", "19:00"), "DPC"))
    with pytest.raises(SchedulingConflict, match="absence \\(DPC\\)"):
        service.book(env.appointment(at("2026-12-07", "14:00")))
    with pytest.raises(InvalidInput):
        service.add_absence(Absence(None, PHYSIO.id or 0, at("2026-12-07", "13:00"), at("2026-12-07", "12:00")))
    assert service.working_hours(NURSE.id or 0)[0].start == dt.time(6, 30)
    period = service.period([PHYSIO.id or 0], dt.date(2026, 12, 7), dt.date(2026, 12, 13))
    assert len(period.absences) == 1 and period.working_hours[PHYSIO.id or 0][0].start == dt.time(8)
    with pytest.raises(InvalidInput, match="deux mois"):
        service.period([PHYSIO.id or 0], dt.date(2026, 1, 1), dt.date(2026, 6, 1))
