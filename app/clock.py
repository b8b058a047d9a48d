"""The system clock, and a fixed one for tests."""

from __future__ import annotations

import datetime as dt


class SystemClock:
    """Wall-clock time, timezone-aware (UTC), and the local date."""

    def now(self) -> dt.datetime:
        """Current time in UTC."""
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        """Current local date."""
        return dt.date.today()


class FixedClock:
    """A clock that says what it is told (tests, demo data)."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        """The fixed time."""
        return self.at

    def today(self) -> dt.date:
        """The fixed date."""
        return self.at.date()
