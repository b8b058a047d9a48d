"""SQLAlchemy models of the agenda (issue 5, migration 0004): appointments, series, hours, absences, waiting list."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from adapters.db.models import Base


class AppointmentTypeRow(Base):
    """A kind of appointment: colour and default duration."""

    __tablename__ = "agenda_appointment_type"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    colour: Mapped[str] = mapped_column(String(9))
    default_minutes: Mapped[int] = mapped_column(Integer)
    home_visit: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CareSeriesRow(Base):
    """A care series from a prescription; its occurrences are appointment rows."""

    __tablename__ = "agenda_care_series"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    label: Mapped[str] = mapped_column(String(200))
    type_code: Mapped[str] = mapped_column(String(40))
    per_period: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(10))
    span: Mapped[int] = mapped_column(Integer)
    prescribed_sessions: Mapped[int] = mapped_column(Integer)
    prescriber: Mapped[str] = mapped_column(String(200), default="")
    prescription_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    alert_remaining: Mapped[int] = mapped_column(Integer, default=2)
    place: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AppointmentRow(Base):
    """One appointment; each occurrence of a series is its own row (moving one never touches the others)."""

    __tablename__ = "agenda_appointment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(255), unique=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), nullable=True)
    series_id: Mapped[int | None] = mapped_column(
        ForeignKey("agenda_care_series.id", ondelete="SET NULL"), nullable=True, index=True
    )
    type_code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200), default="")
    # Stored in UTC; the agenda shows Europe/Paris.
    start_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    place: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(400), default="")
    door_code: Mapped[str] = mapped_column(String(100), default="")
    care: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10))
    status_reason: Mapped[str] = mapped_column(String(500), default="")
    round_position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # DMP information and choices recorded ahead of the visit (JSON; DSR §3.2.3 a).
    dmp_preparation: Mapped[str] = mapped_column(Text, default="")
    reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_agenda_appointment_practitioner_start", "practitioner_id", "start_at"),
        Index("ix_agenda_appointment_patient_start", "patient_id", "start_at"),
        Index("ix_agenda_appointment_start", "start_at"),
    )
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative attribute


class WorkingPeriodRow(Base):
    """A span of a weekday the practitioner works (minutes since midnight)."""

    __tablename__ = "agenda_working_period"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)


class AgendaSettingsRow(Base):
    """Marks that a practitioner's working hours were configured (an empty week is a valid choice)."""

    __tablename__ = "agenda_practitioner_settings"
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    hours_configured: Mapped[bool] = mapped_column(Boolean, default=True)


class AbsenceRow(Base):
    """Leave, training, sick leave."""

    __tablename__ = "agenda_absence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    start_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(300), default="")


class WaitingEntryRow(Base):
    """A patient waiting for a slot."""

    __tablename__ = "agenda_waiting_entry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    practitioner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    type_code: Mapped[str] = mapped_column(String(40))
    minutes: Mapped[int] = mapped_column(Integer)
    earliest: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    latest: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    weekdays: Mapped[str] = mapped_column(String(20), default="")
    part_of_day: Mapped[str] = mapped_column(String(12))
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(12), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
