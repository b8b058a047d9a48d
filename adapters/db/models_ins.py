"""SQLAlchemy models of the INS area: INS history and the queue of pending INSi verifications."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from adapters.db.models import Base


class InsHistoryRow(Base):
    """One matricule INS a patient had (the active one has position 0), as INSi returned it."""

    __tablename__ = "ins_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    matricule: Mapped[str] = mapped_column(String(15), index=True)
    oid: Mapped[str] = mapped_column(String(40))
    valid_from: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class InsVerificationQueueRow(Base):
    """A patient whose INS waits for a verification with INSi (periodic, NIA at an event, received INS)."""

    __tablename__ = "ins_verification_queue"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
