"""SQL repository of the agenda: appointments, care series, working hours, absences, waiting list."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from adapters.db.models import PatientRowModel
from adapters.db.models_agenda import (
    AbsenceRow,
    AgendaSettingsRow,
    AppointmentRow,
    AppointmentTypeRow,
    CareSeriesRow,
    WaitingEntryRow,
    WorkingPeriodRow,
)
from domain.agenda import (
    MAX_DURATION,
    Absence,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    CareSeries,
    DmpPreparation,
    PartOfDay,
    PlaceKind,
    SeriesCounts,
    SeriesPeriod,
    SeriesRhythm,
    WaitingEntry,
    WaitingStatus,
    WorkingPeriod,
)
from domain.errors import ConflictError, NotFound

UID_DOMAIN = "lgc.local"


def new_uid() -> str:
    """A globally unique iCalendar UID for an appointment created here."""
    return f"{uuid.uuid4()}@{UID_DOMAIN}"


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes for timezone-aware columns; the store only ever writes UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _patient_name(used: str | None, birth: str | None, used_given: str | None, first: str | None) -> str:
    if not birth:
        return ""
    return f"{used or birth} {(used_given or first or '').title()}".strip()


_NAME_COLUMNS = (
    PatientRowModel.used_name,
    PatientRowModel.birth_name,
    PatientRowModel.used_given_name,
    PatientRowModel.first_given_name,
)


class SqlAgendaRepository:
    """The agenda in the SQL store; returns domain objects, never ORM rows."""

    def __init__(self, session: Session) -> None:
        self._s = session

    # -- types -------------------------------------------------------------------------------------------------
    def appointment_types(self) -> list[AppointmentType]:
        """Every type, by label."""
        return [
            AppointmentType(r.code, r.label, r.colour, r.default_minutes, r.home_visit, r.active)
            for r in self._s.scalars(select(AppointmentTypeRow).order_by(AppointmentTypeRow.label))
        ]

    def save_appointment_type(self, appointment_type: AppointmentType) -> None:
        """Add or update a type."""
        row = self._s.get(AppointmentTypeRow, appointment_type.code)
        if row is None:
            row = AppointmentTypeRow(code=appointment_type.code)
            self._s.add(row)
        row.label = appointment_type.label
        row.colour = appointment_type.colour
        row.default_minutes = appointment_type.default_minutes
        row.home_visit = appointment_type.home_visit
        row.active = appointment_type.active
        self._s.flush()

    # -- appointments ------------------------------------------------------------------------------------------
    def add_appointment(self, appointment: Appointment) -> Appointment:
        """Store a new appointment."""
        now = dt.datetime.now(dt.UTC)
        row = AppointmentRow(created_at=now, uid=appointment.uid or new_uid())
        _fill(row, appointment, now)
        self._s.add(row)
        self._s.flush()
        return self.get_appointment(row.id)

    def add_appointments(self, appointments: Sequence[Appointment]) -> list[int]:
        """Store many new appointments with one executemany."""
        if not appointments:
            return []
        now = dt.datetime.now(dt.UTC)
        rows: list[dict[str, Any]] = []
        for appointment in appointments:
            row = AppointmentRow(created_at=now, uid=appointment.uid or new_uid())
            _fill(row, appointment, now)
            values = {c.key: getattr(row, c.key) for c in AppointmentRow.__table__.columns if c.key != "id"}
            values["version"] = 1
            rows.append(values)
        result = self._s.execute(
            insert(AppointmentRow).returning(AppointmentRow.id, sort_by_parameter_order=True), rows
        )
        return [int(i) for i in result.scalars()]

    def get_appointment(self, appointment_id: int) -> Appointment:
        """Load one appointment."""
        found = self._s.execute(
            select(AppointmentRow, *_NAME_COLUMNS)
            .outerjoin(PatientRowModel, PatientRowModel.id == AppointmentRow.patient_id)
            .where(AppointmentRow.id == appointment_id)
        ).first()
        if found is None:
            raise NotFound(f"Le rendez-vous n° {appointment_id} n'existe pas (ou plus).")
        return _appointment(found[0], _patient_name(*found[1:]))

    def update_appointment(self, appointment: Appointment) -> Appointment:
        """Save a changed appointment; optimistic locking on ``version``."""
        assert appointment.id is not None
        row = self._s.get(AppointmentRow, appointment.id)
        if row is None:
            raise NotFound(f"Le rendez-vous n° {appointment.id} n'existe pas (ou plus).")
        if row.version != appointment.version:
            raise ConflictError("Ce rendez-vous a été modifié sur un autre poste entre-temps : l'agenda est rechargé.")
        _fill(row, appointment, dt.datetime.now(dt.UTC))
        try:
            self._s.flush()
        except StaleDataError as exc:
            raise ConflictError("Ce rendez-vous a été modifié sur un autre poste pendant l'enregistrement.") from exc
        return self.get_appointment(appointment.id)

    def delete_appointment(self, appointment_id: int) -> None:
        """Remove an appointment row."""
        self._s.execute(delete(AppointmentRow).where(AppointmentRow.id == appointment_id))

    def appointments_between(
        self, start: dt.datetime, end: dt.datetime, practitioner_ids: Collection[int] | None = None
    ) -> list[Appointment]:
        """Appointments intersecting [start, end).

        No appointment lasts more than 12 hours, so starts in [start - 12 h, end) bound the index range scan.
        """
        a = AppointmentRow
        stmt = (
            select(a, *_NAME_COLUMNS)
            .outerjoin(PatientRowModel, PatientRowModel.id == a.patient_id)
            .where(a.start_at >= _utc(start) - MAX_DURATION, a.start_at < _utc(end), a.end_at > _utc(start))
            .order_by(a.start_at, a.id)
        )
        if practitioner_ids is not None:
            stmt = stmt.where(a.practitioner_id.in_(list(practitioner_ids)))
        return [_appointment(r[0], _patient_name(*r[1:])) for r in self._s.execute(stmt)]

    def patient_appointments(self, patient_id: int) -> list[Appointment]:
        """A patient's appointments."""
        return self._where(AppointmentRow.patient_id == patient_id)

    def series_appointments(self, series_id: int) -> list[Appointment]:
        """Occurrences of a series."""
        return self._where(AppointmentRow.series_id == series_id)

    def appointment_by_uid(self, uid: str) -> Appointment | None:
        """The appointment with this UID."""
        found = self._where(AppointmentRow.uid == uid)
        return found[0] if found else None

    def _where(self, condition: Any) -> list[Appointment]:
        stmt = (
            select(AppointmentRow, *_NAME_COLUMNS)
            .outerjoin(PatientRowModel, PatientRowModel.id == AppointmentRow.patient_id)
            .where(condition)
            .order_by(AppointmentRow.start_at, AppointmentRow.id)
        )
        return [_appointment(r[0], _patient_name(*r[1:])) for r in self._s.execute(stmt)]

    def count_appointments(self) -> int:
        """How many appointments."""
        return int(self._s.scalar(select(func.count()).select_from(AppointmentRow)) or 0)

    # -- series ------------------------------------------------------------------------------------------------
    def add_series(self, series: CareSeries) -> int:
        """Store a care series."""
        row = CareSeriesRow(
            patient_id=series.patient_id,
            practitioner_id=series.practitioner_id,
            label=series.label,
            type_code=series.type_code,
            per_period=series.rhythm.per_period,
            period=series.rhythm.period.value,
            span=series.rhythm.span,
            prescribed_sessions=series.prescribed_sessions,
            prescriber=series.prescriber,
            prescription_date=series.prescription_date,
            alert_remaining=series.alert_remaining,
            place=series.place.value,
            created_at=dt.datetime.now(dt.UTC),
        )
        self._s.add(row)
        self._s.flush()
        return row.id

    def get_series(self, series_id: int) -> CareSeries:
        """Load a series."""
        row = self._s.get(CareSeriesRow, series_id)
        if row is None:
            raise NotFound(f"La série de soins n° {series_id} n'existe pas (ou plus).")
        return _series(row)

    def patient_series(self, patient_id: int) -> list[CareSeries]:
        """A patient's series, newest first."""
        stmt = select(CareSeriesRow).where(CareSeriesRow.patient_id == patient_id).order_by(CareSeriesRow.id.desc())
        return [_series(r) for r in self._s.scalars(stmt)]

    def delete_series(self, series_id: int) -> None:
        """Remove a series row."""
        self._s.execute(delete(CareSeriesRow).where(CareSeriesRow.id == series_id))

    def series_with_counts(
        self, *, practitioner_id: int | None = None, patient_id: int | None = None
    ) -> list[tuple[CareSeries, SeriesCounts]]:
        """Series with their occurrences counted by status in one grouped query (index on series_id)."""
        stmt = select(CareSeriesRow).order_by(CareSeriesRow.id.desc())
        if practitioner_id is not None:
            stmt = stmt.where(CareSeriesRow.practitioner_id == practitioner_id)
        if patient_id is not None:
            stmt = stmt.where(CareSeriesRow.patient_id == patient_id)
        series = [_series(r) for r in self._s.scalars(stmt)]
        if not series:
            return []
        a = AppointmentRow
        counts: dict[int, dict[str, int]] = {}
        last: dict[int, dt.datetime] = {}
        ids = [s.id for s in series if s.id is not None]
        for start in range(0, len(ids), 500):
            rows = self._s.execute(
                select(a.series_id, a.status, func.count(), func.max(a.start_at))
                .where(a.series_id.in_(ids[start : start + 500]))
                .group_by(a.series_id, a.status)
            ).all()
            for series_id, status, count, latest in rows:
                counts.setdefault(series_id, {})[status] = int(count)
                if status in (AppointmentStatus.DONE.value, AppointmentStatus.PLANNED.value) and latest is not None:
                    moment = _aware(latest)
                    if series_id not in last or moment > last[series_id]:
                        last[series_id] = moment
        result = []
        for item in series:
            by_status = counts.get(item.id or 0, {})
            result.append(
                (
                    item,
                    SeriesCounts(
                        by_status.get(AppointmentStatus.DONE.value, 0),
                        by_status.get(AppointmentStatus.PLANNED.value, 0),
                        by_status.get(AppointmentStatus.CANCELLED.value, 0),
                        by_status.get(AppointmentStatus.NO_SHOW.value, 0),
                        last.get(item.id or 0),
                    ),
                )
            )
        return result

    # -- working hours and absences ----------------------------------------------------------------------------
    def working_hours(self, practitioner_id: int) -> tuple[WorkingPeriod, ...] | None:
        """The working periods, or None when never configured."""
        if self._s.get(AgendaSettingsRow, practitioner_id) is None:
            return None
        rows = self._s.scalars(
            select(WorkingPeriodRow)
            .where(WorkingPeriodRow.practitioner_id == practitioner_id)
            .order_by(WorkingPeriodRow.weekday, WorkingPeriodRow.start_minute)
        )
        return tuple(WorkingPeriod(r.weekday, _time(r.start_minute), _time(r.end_minute)) for r in rows)

    def set_working_hours(self, practitioner_id: int, periods: Sequence[WorkingPeriod]) -> None:
        """Replace the working periods."""
        self._s.execute(delete(WorkingPeriodRow).where(WorkingPeriodRow.practitioner_id == practitioner_id))
        if self._s.get(AgendaSettingsRow, practitioner_id) is None:
            self._s.add(AgendaSettingsRow(practitioner_id=practitioner_id, hours_configured=True))
        self._s.add_all(
            WorkingPeriodRow(
                practitioner_id=practitioner_id,
                weekday=p.weekday,
                start_minute=p.start.hour * 60 + p.start.minute,
                end_minute=p.end.hour * 60 + p.end.minute,
            )
            for p in periods
        )
        self._s.flush()

    def absences_between(
        self, start: dt.datetime, end: dt.datetime, practitioner_ids: Collection[int] | None = None
    ) -> list[Absence]:
        """Absences intersecting [start, end)."""
        stmt = (
            select(AbsenceRow)
            .where(AbsenceRow.start_at < _utc(end), AbsenceRow.end_at > _utc(start))
            .order_by(AbsenceRow.start_at)
        )
        if practitioner_ids is not None:
            stmt = stmt.where(AbsenceRow.practitioner_id.in_(list(practitioner_ids)))
        return [
            Absence(r.id, r.practitioner_id, _aware(r.start_at), _aware(r.end_at), r.reason)
            for r in self._s.scalars(stmt)
        ]

    def add_absence(self, absence: Absence) -> int:
        """Store an absence."""
        row = AbsenceRow(
            practitioner_id=absence.practitioner_id,
            start_at=_utc(absence.start),
            end_at=_utc(absence.end),
            reason=absence.reason,
        )
        self._s.add(row)
        self._s.flush()
        return row.id

    def delete_absence(self, absence_id: int) -> None:
        """Remove an absence."""
        self._s.execute(delete(AbsenceRow).where(AbsenceRow.id == absence_id))

    # -- waiting list ------------------------------------------------------------------------------------------
    def waiting_entries(self, status: WaitingStatus | None = WaitingStatus.WAITING) -> list[WaitingEntry]:
        """Entries, oldest first."""
        stmt = (
            select(WaitingEntryRow, *_NAME_COLUMNS)
            .join(PatientRowModel, PatientRowModel.id == WaitingEntryRow.patient_id)
            .order_by(WaitingEntryRow.created_at, WaitingEntryRow.id)
        )
        if status is not None:
            stmt = stmt.where(WaitingEntryRow.status == status.value)
        return [_waiting(r[0], _patient_name(*r[1:])) for r in self._s.execute(stmt)]

    def add_waiting_entry(self, entry: WaitingEntry) -> int:
        """Store an entry."""
        row = WaitingEntryRow(
            patient_id=entry.patient_id,
            practitioner_id=entry.practitioner_id,
            type_code=entry.type_code,
            minutes=entry.minutes,
            earliest=entry.earliest,
            latest=entry.latest,
            weekdays=",".join(str(d) for d in sorted(entry.weekdays)),
            part_of_day=entry.part_of_day.value,
            note=entry.note,
            status=entry.status.value,
            created_at=_utc(entry.created_at),
        )
        self._s.add(row)
        self._s.flush()
        return row.id

    def set_waiting_status(self, entry_id: int, status: WaitingStatus) -> None:
        """Change an entry's status."""
        row = self._s.get(WaitingEntryRow, entry_id)
        if row is None:
            raise NotFound(f"L'entrée n° {entry_id} de la liste d'attente n'existe pas (ou plus).")
        row.status = status.value
        self._s.flush()


def _time(minutes: int) -> dt.time:
    return dt.time(minutes // 60, minutes % 60) if minutes < 24 * 60 else dt.time(23, 59)


def _fill(row: AppointmentRow, a: Appointment, now: dt.datetime) -> None:
    row.practitioner_id = a.practitioner_id
    row.patient_id = a.patient_id
    row.series_id = a.series_id
    row.type_code = a.type_code
    row.title = a.title
    row.start_at = _utc(a.start)
    row.end_at = _utc(a.end)
    row.place = a.place.value
    row.address = a.address
    row.door_code = a.door_code
    row.care = a.care
    row.note = a.note
    row.status = a.status.value
    row.status_reason = a.status_reason
    row.round_position = a.round_position
    row.dmp_preparation = (
        ""
        if a.dmp.is_empty
        else json.dumps(
            {
                "informed": a.dmp.informed,
                "feeding_opposed": a.dmp.feeding_opposed,
                "consultation_consent": a.dmp.consultation_consent,
                "note": a.dmp.note,
            },
            ensure_ascii=False,
        )
    )
    row.reminded_at = _utc(a.reminded_at) if a.reminded_at else None
    row.updated_at = now


def _appointment(row: AppointmentRow, patient_name: str) -> Appointment:
    dmp = DmpPreparation()
    if row.dmp_preparation:
        data = json.loads(row.dmp_preparation)
        dmp = DmpPreparation(
            informed=bool(data.get("informed")),
            feeding_opposed=bool(data.get("feeding_opposed")),
            consultation_consent=data.get("consultation_consent"),
            note=str(data.get("note", "")),
        )
    return Appointment(
        id=row.id,
        practitioner_id=row.practitioner_id,
        patient_id=row.patient_id,
        start=_aware(row.start_at),
        end=_aware(row.end_at),
        type_code=row.type_code,
        place=PlaceKind(row.place),
        status=AppointmentStatus(row.status),
        status_reason=row.status_reason,
        title=row.title,
        address=row.address,
        door_code=row.door_code,
        care=row.care,
        note=row.note,
        series_id=row.series_id,
        round_position=row.round_position,
        dmp=dmp,
        uid=row.uid,
        reminded_at=_aware(row.reminded_at) if row.reminded_at else None,
        version=row.version,
        patient_name=patient_name,
    )


def _series(row: CareSeriesRow) -> CareSeries:
    return CareSeries(
        id=row.id,
        patient_id=row.patient_id,
        practitioner_id=row.practitioner_id,
        label=row.label,
        type_code=row.type_code,
        rhythm=SeriesRhythm(row.per_period, SeriesPeriod(row.period), row.span),
        prescribed_sessions=row.prescribed_sessions,
        prescriber=row.prescriber,
        prescription_date=row.prescription_date,
        alert_remaining=row.alert_remaining,
        place=PlaceKind(row.place),
    )


def _waiting(row: WaitingEntryRow, patient_name: str) -> WaitingEntry:
    return WaitingEntry(
        id=row.id,
        patient_id=row.patient_id,
        practitioner_id=row.practitioner_id,
        type_code=row.type_code,
        minutes=row.minutes,
        created_at=_aware(row.created_at),
        earliest=row.earliest,
        latest=row.latest,
        weekdays=frozenset(int(d) for d in row.weekdays.split(",") if d),
        part_of_day=PartOfDay(row.part_of_day),
        note=row.note,
        status=WaitingStatus(row.status),
        patient_name=patient_name,
    )
