"""Smart-card ports: the reader/card monitor and the practitioner's card (CPS); the carte Vitale is in insi.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from domain.insi import CardEvent, CardKind

CardEventCallback = Callable[[CardEvent], None]
"""Receives monitor events. The monitor calls it from its own thread: the UI passes its TaskRunner's ``post``
wrapped around its handler so that the handler runs on the UI thread."""

READER_ADDED = "reader_added"
READER_REMOVED = "reader_removed"
CARD_INSERTED = "card_inserted"
CARD_REMOVED = "card_removed"
EVENT_KINDS = (READER_ADDED, READER_REMOVED, CARD_INSERTED, CARD_REMOVED)


@dataclass(frozen=True, slots=True)
class ReaderState:
    """One reader as the monitor last saw it."""

    reader: str
    card: CardKind | None = None
    atr: str = ""


class CardMonitor(Protocol):
    """Watches the card readers in a thread of its own and reports every change through a callback.

    Events: ``reader_added`` / ``reader_removed`` (plugged, unplugged, or the PC/SC service stopped),
    ``card_inserted`` (with the card kind read from the ATR) and ``card_removed``. Readers and cards already
    present when the monitor starts are reported as added/inserted. Starting and stopping never raise: a
    missing PC/SC service is a state ("no reader"), retried in the background.
    """

    def start(self, callback: CardEventCallback) -> None:
        """Start the monitor thread; ``callback`` receives every event (from that thread)."""
        ...

    def stop(self) -> None:
        """Stop the thread and wait for it (no callback after this returns)."""
        ...

    def states(self) -> list[ReaderState]:
        """The readers and cards currently known (empty before start or without a PC/SC service)."""
        ...


@dataclass(frozen=True, slots=True)
class PractitionerCard:
    """The holder of a CPS (carte de professionnel de santé) as read from the card.

    ``id_type`` is the national identifier type of the card ("8" = RPPS, "0" = ADELI); ``national_id`` the
    identifier with its type prefix as used in the INSi/DMP headers (e.g. ``810001234567``).
    """

    card_type: str
    id_type: str
    national_id: str
    last_name: str
    first_name: str
    profession_code: str
    profession_label: str
    civility: str = ""

    @property
    def rpps(self) -> str:
        """The RPPS number (11 digits) when the identifier is an RPPS one, else ""."""
        return self.national_id[1:] if self.id_type == "8" else ""

    @property
    def display_name(self) -> str:
        """ "Prénom NOM" as printed on the card."""
        return f"{self.first_name} {self.last_name}".strip()


class PractitionerCardReader(Protocol):
    """Reads the identity of the practitioner whose CPS is in a reader.

    Raises ``DeviceUnavailable`` (no reader, no CPS, card removed mid-read) or ``InvalidInput`` (unreadable card).
    """

    def read_practitioner(self, reader: str | None = None) -> PractitionerCard:
        """The CPS holder (``reader`` None: the only reader holding a CPS)."""
        ...
