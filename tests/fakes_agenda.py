"""In-memory AgendaRepository (same contract as the SQL one), plugged into FakeUnitOfWork as ``uow.agenda``."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from domain.agenda import (
    MAX_DURATION,
    Absence,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    CareSeries,
    Reminder,
    SeriesCounts,
    WaitingEntry,
    WaitingStatus,
    WorkingPeriod,
)
from domain.agenda_ports import RoundSheet
from domain.errors import ConflictError, NotFound


@dataclass
class FakeAgendaData:
    """What the fake agenda stores (lives in the FakeStore, copied per unit of work)."""

    types: dict[str, AppointmentType] = field(default_factory=dict)
    appointments: dict[int, Appointment] = field(default_factory=dict)
    series: dict[int, CareSeries] = field(default_factory=dict)
    hours: dict[int, tuple[WorkingPeriod, ...]] = field(default_factory=dict)
    absences: dict[int, Absence] = field(default_factory=dict)
    waiting: dict[int, WaitingEntry] = field(default_factory=dict)
    next_id: int = 1


class FakeAgendaRepository:
    """In-memory agenda."""

    def __init__(self, store: Any) -> None:
        if not hasattr(store, "agenda_data"):
            store.agenda_data = FakeAgendaData()
        self.store = store
        self.data: FakeAgendaData = store.agenda_data

    def _id(self) -> int:
        value = self.data.next_id
        self.data.next_id += 1
        return value

    def _named(self, a: Appointment) -> Appointment:
        name = ""
        patient = self.store.patients.get(a.patient_id) if a.patient_id else None
        if patient is not None:
            t = patient.identity.traits
            name = f"{t.used_name or t.birth_name} {(t.used_given_name or t.first_birth_given_name).title()}"
        return replace(a, patient_name=name)

    def appointment_types(self) -> list[AppointmentType]:
        return sorted(self.data.types.values(), key=lambda t: t.label)

    def save_appointment_type(self, appointment_type: AppointmentType) -> None:
        self.data.types[appointment_type.code] = appointment_type

    def add_appointment(self, appointment: Appointment) -> Appointment:
        new_id = self._id()
        uid = appointment.uid or f"fake-{new_id}@lgc.local"
        if any(a.uid == uid for a in self.data.appointments.values()):
            raise ConflictError("UID en double")
        self.data.appointments[new_id] = replace(appointment, id=new_id, uid=uid, version=1, patient_name="")
        return self.get_appointment(new_id)

    def add_appointments(self, appointments: Sequence[Appointment]) -> list[int]:
        return [self.add_appointment(a).id or 0 for a in appointments]

    def get_appointment(self, appointment_id: int) -> Appointment:
        try:
            return self._named(self.data.appointments[appointment_id])
        except KeyError:
            raise NotFound(f"Le rendez-vous n° {appointment_id} n'existe pas (ou plus).") from None

    def update_appointment(self, appointment: Appointment) -> Appointment:
        assert appointment.id is not None
        current = self.get_appointment(appointment.id)
        if current.version != appointment.version:
            raise ConflictError("Ce rendez-vous a été modifié sur un autre poste entre-temps.")
        self.data.appointments[appointment.id] = replace(
            appointment, version=appointment.version + 1, patient_name="", uid=current.uid
        )
        return self.get_appointment(appointment.id)

    def delete_appointment(self, appointment_id: int) -> None:
        self.data.appointments.pop(appointment_id, None)

    def appointments_between(
        self, start: dt.datetime, end: dt.datetime, practitioner_ids: Collection[int] | None = None
    ) -> list[Appointment]:
        found = [
            self._named(a)
            for a in self.data.appointments.values()
            if a.start < end
            and a.end > start
            and a.start >= start - MAX_DURATION
            and (practitioner_ids is None or a.practitioner_id in practitioner_ids)
        ]
        return sorted(found, key=lambda a: (a.start, a.id or 0))

    def patient_appointments(self, patient_id: int) -> list[Appointment]:
        found = [self._named(a) for a in self.data.appointments.values() if a.patient_id == patient_id]
        return sorted(found, key=lambda a: (a.start, a.id or 0))

    def series_appointments(self, series_id: int) -> list[Appointment]:
        found = [self._named(a) for a in self.data.appointments.values() if a.series_id == series_id]
        return sorted(found, key=lambda a: (a.start, a.id or 0))

    def appointment_by_uid(self, uid: str) -> Appointment | None:
        return next((self._named(a) for a in self.data.appointments.values() if a.uid == uid), None)

    def add_series(self, series: CareSeries) -> int:
        new_id = self._id()
        self.data.series[new_id] = replace(series, id=new_id)
        return new_id

    def get_series(self, series_id: int) -> CareSeries:
        try:
            return self.data.series[series_id]
        except KeyError:
            raise NotFound(f"La série de soins n° {series_id} n'existe pas (ou plus).") from None

    def patient_series(self, patient_id: int) -> list[CareSeries]:
        return sorted((s for s in self.data.series.values() if s.patient_id == patient_id), key=lambda s: -(s.id or 0))

    def series_with_counts(
        self, *, practitioner_id: int | None = None, patient_id: int | None = None
    ) -> list[tuple[CareSeries, SeriesCounts]]:
        result = []
        for series in sorted(self.data.series.values(), key=lambda s: -(s.id or 0)):
            if practitioner_id is not None and series.practitioner_id != practitioner_id:
                continue
            if patient_id is not None and series.patient_id != patient_id:
                continue
            occurrences = [a for a in self.data.appointments.values() if a.series_id == series.id]
            by = {status: sum(1 for a in occurrences if a.status is status) for status in AppointmentStatus}
            active = [a.start for a in occurrences if a.status in (AppointmentStatus.DONE, AppointmentStatus.PLANNED)]
            counts = SeriesCounts(
                by[AppointmentStatus.DONE],
                by[AppointmentStatus.PLANNED],
                by[AppointmentStatus.CANCELLED],
                by[AppointmentStatus.NO_SHOW],
                max(active) if active else None,
            )
            result.append((series, counts))
        return result

    def delete_series(self, series_id: int) -> None:
        self.data.series.pop(series_id, None)
        for key, a in list(self.data.appointments.items()):
            if a.series_id == series_id:
                self.data.appointments[key] = replace(a, series_id=None)

    def working_hours(self, practitioner_id: int) -> tuple[WorkingPeriod, ...] | None:
        return self.data.hours.get(practitioner_id)

    def set_working_hours(self, practitioner_id: int, periods: Sequence[WorkingPeriod]) -> None:
        self.data.hours[practitioner_id] = tuple(periods)

    def absences_between(
        self, start: dt.datetime, end: dt.datetime, practitioner_ids: Collection[int] | None = None
    ) -> list[Absence]:
        return [
            a
            for a in self.data.absences.values()
            if a.start < end and a.end > start and (practitioner_ids is None or a.practitioner_id in practitioner_ids)
        ]

    def add_absence(self, absence: Absence) -> int:
        new_id = self._id()
        self.data.absences[new_id] = replace(absence, id=new_id)
        return new_id

    def delete_absence(self, absence_id: int) -> None:
        self.data.absences.pop(absence_id, None)

    def waiting_entries(self, status: WaitingStatus | None = WaitingStatus.WAITING) -> list[WaitingEntry]:
        found = [
            replace(
                e,
                patient_name=self._named(
                    Appointment(None, 0, e.patient_id, e.created_at, e.created_at, "")
                ).patient_name,
            )
            for e in self.data.waiting.values()
            if status is None or e.status is status
        ]
        return sorted(found, key=lambda e: (e.created_at, e.id or 0))

    def add_waiting_entry(self, entry: WaitingEntry) -> int:
        new_id = self._id()
        self.data.waiting[new_id] = replace(entry, id=new_id)
        return new_id

    def set_waiting_status(self, entry_id: int, status: WaitingStatus) -> None:
        if entry_id not in self.data.waiting:
            raise NotFound(f"L'entrée n° {entry_id} de la liste d'attente n'existe pas (ou plus).")
        self.data.waiting[entry_id] = replace(self.data.waiting[entry_id], status=status)

    def count_appointments(self) -> int:
        return len(self.data.appointments)


class FakeRoundSheetRenderer:
    """Records the sheets it was asked to render and writes a marker file."""

    def __init__(self) -> None:
        self.sheets: list[RoundSheet] = []

    def render(self, sheet: RoundSheet, destination: Path) -> Path:
        self.sheets.append(sheet)
        destination.write_text(f"{len(sheet.stops)} visites")
        return destination


class FakeReminderGateway:
    """Records reminders; fails on demand."""

    def __init__(self) -> None:
        self.sent: list[tuple[Reminder, str, str]] = []
        self.fail_after: int | None = None
        self._count = itertools.count()

    def send(self, reminder: Reminder, phone: str, email: str) -> None:
        from domain.errors import RemoteServiceError

        if self.fail_after is not None and next(self._count) >= self.fail_after:
            raise RemoteServiceError("Le service d'envoi de SMS ne répond pas.", retryable=True)
        self.sent.append((reminder, phone, email))
