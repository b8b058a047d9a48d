"""Birth-place lookup for forms: autocomplete over the COG valid at the birth date."""

from __future__ import annotations

import datetime as dt

from domain.cog import CogReferential, Place


class PlaceService:
    """Autocomplete and labels of COG birth places."""

    def __init__(self, cog: CogReferential) -> None:
        self._cog = cog

    def suggest(self, text: str, birth_date: dt.date | None, limit: int = 20) -> list[Place]:
        """Places whose name or code starts with ``text``, valid at the birth date when it is known."""
        text = text.strip()
        if not text or len(text) > 80:
            return []
        return self._cog.search(text, birth_date, limit)

    def get(self, code: str, at: dt.date | None) -> Place | None:
        """The place a code designated at a date."""
        return self._cog.get(code.strip().upper(), at)

    def warm_up(self) -> None:
        """Load the referential now (called off the UI thread at start-up so the first keystroke is fast)."""
        self._cog.get("75056", None)
