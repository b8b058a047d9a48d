"""Card readers for the UI and the command line: the reader/card monitor, the carte Vitale, the CPS."""

from __future__ import annotations

import logging
from collections.abc import Callable

from domain.cards import CardMonitor, PractitionerCard, PractitionerCardReader, ReaderState
from domain.errors import DomainError
from domain.insi import CardEvent, VitaleBeneficiary, VitaleCardReader

log = logging.getLogger("lgc.cards")

Post = Callable[[Callable[[], None]], None]


class CardService:
    """The card readers as the application uses them.

    Reading a card changes nothing in the store: a failed read (card pulled out, reader unplugged, unreadable
    record…) raises the port's French error and leaves everything as it was; it is logged here too.
    """

    def __init__(self, monitor: CardMonitor, vitale: VitaleCardReader, practitioner: PractitionerCardReader) -> None:
        self._monitor = monitor
        self._vitale = vitale
        self._practitioner = practitioner
        self._watching = False

    def start_monitor(self, on_event: Callable[[CardEvent], None], post: Post) -> None:
        """Watch the readers; ``on_event`` runs through ``post`` (the UI passes its TaskRunner's ``post``)."""

        def deliver(event: CardEvent) -> None:
            post(lambda: on_event(event))

        self._monitor.start(deliver)
        self._watching = True

    def stop_monitor(self) -> None:
        """Stop watching (no event is delivered afterwards)."""
        if self._watching:
            self._monitor.stop()
            self._watching = False

    def reader_states(self) -> list[ReaderState]:
        """The readers and cards the monitor currently knows."""
        return self._monitor.states()

    def read_vitale(self, reader: str | None = None) -> list[VitaleBeneficiary]:
        """The beneficiaries of the carte Vitale (DEVICE lane).

        Raises:
            DeviceUnavailable: no reader, no card, card pulled out or reader unplugged during the read.
            InvalidInput: two cards, not a carte Vitale, an unreadable record.
        """
        try:
            beneficiaries = self._vitale.read_beneficiaries(reader)
        except DomainError as exc:
            log.warning("Carte Vitale not read: %s", exc.message_fr)
            raise
        log.info("Carte Vitale read: %d beneficiaries", len(beneficiaries))
        return beneficiaries

    def read_practitioner(self, reader: str | None = None) -> PractitionerCard:
        """The holder of the CPS in the reader (DEVICE lane); errors as ``read_vitale``."""
        try:
            card = self._practitioner.read_practitioner(reader)
        except DomainError as exc:
            log.warning("CPS not read: %s", exc.message_fr)
            raise
        log.info("CPS read (%s)", card.profession_label)
        return card
