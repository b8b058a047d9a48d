"""Birth places from the INSEE Code officiel géographique (COG): value object and lookup port."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from domain.identity import UNKNOWN_BIRTH_PLACE

FRANCE_COUNTRY_CODE = "99100"


class PlaceKind(StrEnum):
    """What a COG code designates."""

    COMMUNE = "commune"
    OVERSEAS = "outre-mer"
    COUNTRY = "pays"
    UNKNOWN = "inconnu"


@dataclass(frozen=True, slots=True)
class Place:
    """A COG code with its label during a validity period (``valid_to`` exclusive, None = still valid)."""

    code: str
    label: str
    kind: PlaceKind
    valid_from: dt.date | None
    valid_to: dt.date | None
    department: str = ""

    def valid_at(self, day: dt.date) -> bool:
        """True when the code designated this place on ``day``."""
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_to is None or day < self.valid_to

    @property
    def display(self) -> str:
        """Label shown in lists: "Reims (51) — 51454", "Maroc — 99350"."""
        if self.kind is PlaceKind.COMMUNE and self.department:
            return f"{self.label} ({self.department}) — {self.code}"
        return f"{self.label} — {self.code}"


UNKNOWN_PLACE = Place(
    code=UNKNOWN_BIRTH_PLACE,
    label="Lieu de naissance inconnu",
    kind=PlaceKind.UNKNOWN,
    valid_from=None,
    valid_to=None,
)


class CogReferential(Protocol):
    """Lookup of birth places valid at a date."""

    def search(self, text: str, at: dt.date | None, limit: int = 20) -> list[Place]:
        """Places whose name (accents ignored) or code starts with ``text``, valid at ``at`` if given."""
        ...

    def get(self, code: str, at: dt.date | None) -> Place | None:
        """The place a code designated at ``at`` (any period when ``at`` is None)."""
        ...

    def periods(self, code: str) -> list[Place]:
        """Every period of a code, oldest first."""
        ...


def cog_problem(referential: CogReferential, code: str, at: dt.date) -> str | None:
    """French message when ``code`` is not a birth place valid on ``at``; None when it is."""
    if code == UNKNOWN_BIRTH_PLACE:
        return None
    if code == FRANCE_COUNTRY_CODE:
        return (
            "99100 (France) n'est pas un lieu de naissance : une naissance en France se code par sa commune "
            "(tapez son nom)."
        )
    if referential.get(code, at) is not None:
        return None
    periods = referential.periods(code)
    if not periods:
        return f"Code lieu de naissance {code} inconnu du référentiel INSEE."
    spans = ", ".join(f"{p.label} du {_fr(p.valid_from)} au {_fr(p.valid_to)}" for p in periods[:3])
    return (
        f"Le code {code} n'était pas valide le {at.strftime('%d/%m/%Y')} ({spans}) : choisissez le lieu "
        "tel qu'il existait à la date de naissance."
    )


def _fr(day: dt.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else "…"
