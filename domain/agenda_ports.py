"""Ports of the agenda: its storage, the iCalendar codec, the round-sheet renderer and the reminder sender."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from domain.agenda import (
    Absence,
    Appointment,
    AppointmentType,
    CareSeries,
    Reminder,
    RoundStop,
    SeriesCounts,
    WaitingEntry,
    WaitingStatus,
    WorkingPeriod,
)


class AgendaRepository(Protocol):
    """Storage of appointments, series, working hours, absences and the waiting list."""

    def appointment_types(self) -> list[AppointmentType]:
        """Every appointment type, by label."""
        ...

    def save_appointment_type(self, appointment_type: AppointmentType) -> None:
        """Add or update a type."""
        ...

    def add_appointment(self, appointment: Appointment) -> Appointment:
        """Store a new appointment; return it with its id, uid and version."""
        ...

    def add_appointments(self, appointments: Sequence[Appointment]) -> list[int]:
        """Store many new appointments at once (series, demo data, imports); return their ids in order."""
        ...

    def get_appointment(self, appointment_id: int) -> Appointment:
        """Load one appointment. Raises NotFound."""
        ...

    def update_appointment(self, appointment: Appointment) -> Appointment:
        """Save a changed appointment whose ``version`` is the one read; return it with the new version.

        Raises:
            NotFound: it was deleted.
            ConflictError: another workstation changed it in between.
        """
        ...

    def delete_appointment(self, appointment_id: int) -> None:
        """Remove an appointment (only to undo its creation; cancelling keeps the row)."""
        ...

    def appointments_between(
        self, start: dt.datetime, end: dt.datetime, practitioner_ids: Collection[int] | None = None
    ) -> list[Appointment]:
        """Appointments intersecting [start, end), by start time (every practitioner when ids is None)."""
        ...

    def patient_appointments(self, patient_id: int) -> list[Appointment]:
        """A patient's appointments, by start time."""
        ...

    def series_appointments(self, series_id: int) -> list[Appointment]:
        """The occurrences of a care series, by start time."""
        ...

    def appointment_by_uid(self, uid: str) -> Appointment | None:
        """The appointment with this iCalendar UID, if any."""
        ...

    def add_series(self, series: CareSeries) -> int:
        """Store a care series; return its id."""
        ...

    def get_series(self, series_id: int) -> CareSeries:
        """Load a care series. Raises NotFound."""
        ...

    def patient_series(self, patient_id: int) -> list[CareSeries]:
        """A patient's care series, newest first."""
        ...

    def delete_series(self, series_id: int) -> None:
        """Remove a series with no occurrence left (undo of its creation)."""
        ...

    def series_with_counts(
        self, *, practitioner_id: int | None = None, patient_id: int | None = None
    ) -> list[tuple[CareSeries, SeriesCounts]]:
        """Care series (of a practitioner, of a patient, or all) with their occurrences counted by status."""
        ...

    def working_hours(self, practitioner_id: int) -> tuple[WorkingPeriod, ...] | None:
        """The practitioner's working periods, or None when never configured."""
        ...

    def set_working_hours(self, practitioner_id: int, periods: Sequence[WorkingPeriod]) -> None:
        """Replace the practitioner's working periods."""
        ...

    def absences_between(
        self, start: dt.datetime, end: dt.datetime, practitioner_ids: Collection[int] | None = None
    ) -> list[Absence]:
        """Absences intersecting [start, end)."""
        ...

    def add_absence(self, absence: Absence) -> int:
        """Store an absence; return its id."""
        ...

    def delete_absence(self, absence_id: int) -> None:
        """Remove an absence."""
        ...

    def waiting_entries(self, status: WaitingStatus | None = WaitingStatus.WAITING) -> list[WaitingEntry]:
        """Waiting-list entries with this status (all when None), oldest first."""
        ...

    def add_waiting_entry(self, entry: WaitingEntry) -> int:
        """Store a waiting-list entry; return its id."""
        ...

    def set_waiting_status(self, entry_id: int, status: WaitingStatus) -> None:
        """Change an entry's status. Raises NotFound."""
        ...

    def count_appointments(self) -> int:
        """How many appointments are stored."""
        ...


@dataclass(frozen=True, slots=True)
class CalendarOwner:
    """Whose calendar an iCalendar file holds."""

    practitioner_id: int
    display_name: str
    rpps: str = ""


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """One event read from an iCalendar file, already checked (aware times, sane length)."""

    uid: str
    start: dt.datetime
    end: dt.datetime
    summary: str
    location: str = ""
    description: str = ""
    cancelled: bool = False
    patient_id: int | None = None
    type_code: str = ""
    home_visit: bool = False


@dataclass(frozen=True, slots=True)
class ParsedCalendar:
    """What an iCalendar file holds: its events and the events that were left aside (with why)."""

    owner_rpps: str
    owner_id: int | None
    events: tuple[CalendarEvent, ...]
    skipped: tuple[str, ...]


class CalendarCodec(Protocol):
    """iCalendar (RFC 5545) writing and reading."""

    def export(
        self, owner: CalendarOwner, appointments: Sequence[Appointment], types: Sequence[AppointmentType]
    ) -> bytes:
        """A VCALENDAR of ``appointments`` (Europe/Paris times with their VTIMEZONE)."""
        ...

    def parse(self, data: bytes) -> ParsedCalendar:
        """Read a VCALENDAR.

        Raises:
            InvalidInput: the file is not iCalendar, or too big (French message).
        """
        ...


@dataclass(frozen=True, slots=True)
class RoundSheet:
    """What the printed round sheet shows."""

    practitioner: str
    day: dt.date
    practice: str
    practice_address: str
    stops: tuple[RoundStop, ...]
    estimated_km: float
    printed_at: dt.datetime


class RoundSheetRenderer(Protocol):
    """Writes the printable round sheet."""

    def render(self, sheet: RoundSheet, destination: Path) -> Path:
        """Write the sheet as PDF; return its path."""
        ...


class ReminderGateway(Protocol):
    """Sends a reminder to the patient (e-mail or SMS provider); the application lists them in any case."""

    def send(self, reminder: Reminder, phone: str, email: str) -> None:
        """Hand the reminder over for sending.

        Raises:
            RemoteServiceError: the provider refused or did not answer.
        """
        ...
