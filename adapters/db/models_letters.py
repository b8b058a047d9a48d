"""SQL models of letters: the correspondents book, its links to patients, letters and letter templates."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from adapters.db.models import Base, SearchKey


class CorrespondentRow(Base):
    """A professional of the practice's correspondents book."""

    __tablename__ = "letter_correspondent"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    civility: Mapped[str] = mapped_column(String(10), default="")
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100), default="")
    profession: Mapped[str] = mapped_column(String(100), default="")
    rpps: Mapped[str] = mapped_column(String(11), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    mssante_address: Mapped[str] = mapped_column(String(320), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_key: Mapped[str] = mapped_column(SearchKey, index=True)
    search_text: Mapped[str] = mapped_column(String(400), default="")


class PatientCorrespondentRow(Base):
    """A correspondent of the book taking care of a patient, with the role."""

    __tablename__ = "letter_patient_correspondent"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), primary_key=True)
    correspondent_id: Mapped[int] = mapped_column(
        ForeignKey("letter_correspondent.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(30))


class LetterRow(Base):
    """A letter (draft saved automatically, or validated into a health document)."""

    __tablename__ = "letter"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    author_login: Mapped[str] = mapped_column(String(80))
    author: Mapped[str] = mapped_column(String(300))
    template_key: Mapped[str] = mapped_column(String(80), default="")
    title: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300), default="")
    recipient: Mapped[str] = mapped_column(Text, default="")
    correspondent_id: Mapped[int | None] = mapped_column(
        ForeignKey("letter_correspondent.id", ondelete="SET NULL"), nullable=True
    )
    body_html: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    validated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    document_row_id: Mapped[int | None] = mapped_column(
        ForeignKey("health_document.id", ondelete="SET NULL"), nullable=True
    )
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": row_version}  # noqa: RUF012 - SQLAlchemy's declarative attribute
    __table_args__ = (Index("ix_letter_patient_updated", "patient_id", "updated_at"),)


class LetterTemplateRow(Base):
    """One immutable version of a letter template edited in the application."""

    __tablename__ = "letter_template"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    author: Mapped[str] = mapped_column(String(300), default="")
