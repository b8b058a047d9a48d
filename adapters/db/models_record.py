"""SQL models of the clinical record: observations, structured lists, drafts, macros, templates, dismissals."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from adapters.db.models import Base


class ObservationRow(Base):
    """An observation: free text or form answers (JSON) with the template version they were written with."""

    __tablename__ = "record_observation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    author_login: Mapped[str] = mapped_column(String(80))
    author: Mapped[str] = mapped_column(String(300))
    profession: Mapped[str] = mapped_column(String(20), default="")
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    template_key: Mapped[str] = mapped_column(String(80), default="")
    template_version: Mapped[int] = mapped_column(Integer, default=0)
    values_json: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (
        Index("ix_record_observation_patient_at", "patient_id", "at"),
        Index("ix_record_observation_template_at", "template_key", "at"),
        Index("ix_record_observation_author_at", "author_login", "at"),
    )


class RecordEntryRow(Base):
    """A line of a structured list (allergy, treatment, history, vaccination)."""

    __tablename__ = "record_entry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(120), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    start: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    end: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str] = mapped_column(String(300))

    # Covers the dashboard's read of every vaccination (no table lookups for tens of thousands of lines).
    __table_args__ = (Index("ix_record_entry_kind_patient", "kind", "patient_id", "start", "code", "active"),)


class DraftRow(Base):
    """The observation an author is writing for a patient (saved automatically)."""

    __tablename__ = "record_draft"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    author_login: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text, default="")
    template_key: Mapped[str] = mapped_column(String(80), default="")
    template_version: Mapped[int] = mapped_column(Integer, default=0)
    values_json: Mapped[str] = mapped_column(Text, default="{}")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("patient_id", "author_login", name="uq_record_draft_patient_author"),)


class MacroRow(Base):
    """A text macro (shared when owner is empty)."""

    __tablename__ = "record_macro"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(80), default="")
    trigger: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("owner", "trigger", name="uq_record_macro_owner_trigger"),)


class FormTemplateRow(Base):
    """One immutable version of a form template (shipped or edited in the application)."""

    __tablename__ = "record_form_template"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    author: Mapped[str] = mapped_column(String(300), default="")


class AlertDismissalRow(Base):
    """A decision-support alert set aside, with the reason."""

    __tablename__ = "record_alert_dismissal"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    alert_key: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(String(500))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(300))
