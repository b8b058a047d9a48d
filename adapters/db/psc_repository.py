"""SQL storage of the Pro Santé Connect ↔ local account links."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.db.models_psc import PscLinkRow
from domain.psc import PscLink


class SqlPscLinkRepository:
    """``PscLinkRepository`` on the ``psc_link`` table."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def by_national_id(self, national_id: str) -> PscLink | None:
        """The link of a PSC identity, if any."""
        row = self._s.get(PscLinkRow, national_id)
        return _link(row) if row is not None else None

    def by_user(self, user_id: int) -> PscLink | None:
        """The link of a local account, if any."""
        row = self._s.scalars(select(PscLinkRow).where(PscLinkRow.user_id == user_id)).first()
        return _link(row) if row is not None else None

    def save(self, link: PscLink) -> None:
        """Add or update the link of ``link.national_id``."""
        row = self._s.get(PscLinkRow, link.national_id)
        if row is None:
            row = PscLinkRow(national_id=link.national_id)
            self._s.add(row)
        row.subject = link.subject
        row.user_id = link.user_id
        row.linked_at = link.linked_at
        row.last_sign_in = link.last_sign_in
        self._s.flush()


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)  # SQLite returns naive datetimes


def _link(row: PscLinkRow) -> PscLink:
    linked = _aware(row.linked_at)
    assert linked is not None
    return PscLink(row.national_id, row.subject, row.user_id, linked, _aware(row.last_sign_in))
