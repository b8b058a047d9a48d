"""SQL models of prescriptions: one row per prescription, its structured lines apart."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from adapters.db.models import Base


class PrescriptionRow(Base):
    """A prescription (products or acts), draft or validated, with the document produced from it."""

    __tablename__ = "prescription"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    author_login: Mapped[str] = mapped_column(String(80))
    author: Mapped[str] = mapped_column(String(300))
    profession: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    validated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    mentions: Mapped[str] = mapped_column(Text, default="")
    document_row_id: Mapped[int | None] = mapped_column(
        ForeignKey("health_document.id", ondelete="SET NULL"), nullable=True
    )
    renews_id: Mapped[int | None] = mapped_column(ForeignKey("prescription.id", ondelete="SET NULL"), nullable=True)
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": row_version}  # noqa: RUF012 - SQLAlchemy's declarative attribute
    __table_args__ = (Index("ix_prescription_patient_created", "patient_id", "created_at"),)


class PrescriptionLineRow(Base):
    """One line of a prescription: a product (codes when known) or an act, posologie, duration, renewals."""

    __tablename__ = "prescription_line"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prescription_id: Mapped[int] = mapped_column(ForeignKey("prescription.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(300))
    item_key: Mapped[str] = mapped_column(String(80))
    category: Mapped[str] = mapped_column(String(60), default="")
    cis: Mapped[str] = mapped_column(String(8), default="")
    cip13: Mapped[str] = mapped_column(String(13), default="")
    atc: Mapped[str] = mapped_column(String(10), default="")
    lpp: Mapped[str] = mapped_column(String(13), default="")
    dosage: Mapped[str] = mapped_column(Text, default="")
    duration_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    quantity: Mapped[str] = mapped_column(String(100), default="")
    renewals: Mapped[int] = mapped_column(Integer, default=0)
    non_substitutable: Mapped[bool] = mapped_column(Boolean, default=False)
    ald: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """In relation to the patient's affection de longue durée (migration 0010)."""

    __table_args__ = (UniqueConstraint("prescription_id", "position", name="uq_prescription_line_position"),)
