"""SQLAlchemy models of health documents: one metadata row per document version, its content apart."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from adapters.db.models import Base


class DocumentRowModel(Base):
    """A health document (one version): what the list shows and the duplicate rules need, plus its data."""

    __tablename__ = "health_document"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    document_id: Mapped[str] = mapped_column(String(200))
    set_id: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    type_code: Mapped[str] = mapped_column(String(40))
    type_system: Mapped[str] = mapped_column(String(64))
    type_display: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(250))
    act_date: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    author_name: Mapped[str] = mapped_column(String(250), default="")
    provenance: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    confidentiality: Mapped[str] = mapped_column(String(2), default="N")
    flags: Mapped[str] = mapped_column(String(200), default="")
    source_format: Mapped[str] = mapped_column(String(10), default="")
    model: Mapped[str] = mapped_column(String(40), default="")
    structured: Mapped[bool] = mapped_column(Boolean, default=False)
    replaces_document_id: Mapped[str] = mapped_column(String(200), default="")
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_dmp: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_mss: Mapped[bool] = mapped_column(Boolean, default=False)
    validated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    validated_by: Mapped[str] = mapped_column(String(300), default="")
    data: Mapped[str] = mapped_column(Text)
    """JSON: fields, patient snapshot, author (the single source the renderings are produced from)."""
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": row_version}  # noqa: RUF012 - SQLAlchemy's declarative attribute
    __table_args__ = (
        UniqueConstraint("patient_id", "document_id", name="uq_health_document_patient_document"),
        Index("ix_health_document_patient_act", "patient_id", "act_date"),
    )


class DocumentContentRow(Base):
    """The stored bytes of a document: the CDA (produced or received) and its PDF."""

    __tablename__ = "health_document_content"
    document_pk: Mapped[int] = mapped_column(ForeignKey("health_document.id", ondelete="CASCADE"), primary_key=True)
    cda: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
