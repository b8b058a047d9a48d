"""Table linking Pro Santé Connect identities to local accounts (issue 7, migration 0006)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from adapters.db.models import Base


class PscLinkRow(Base):
    """One PSC identity (``SubjectNameID``) linked to one local account (SC.PSC.02/15)."""

    __tablename__ = "psc_link"
    national_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), unique=True)
    linked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_sign_in: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
