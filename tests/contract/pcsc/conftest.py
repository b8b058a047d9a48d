"""PC/SC fixtures: pcscd with vpcd (started here when not running), the virtual card deck, serial use.

pcscd is one per machine and the vpcd ports are fixed: every PC/SC test holds the machine-wide lock of the
virtual readers (``sandbox.pcscd.pcsc_lock``) for its duration, so that two test runs, or a test run and
``lgc sandbox``, take turns test by test. Every test leaves both readers empty; a pcscd started here is
stopped at the end of the session.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from domain.insi import CardEvent
from sandbox.pcscd import PcscDaemon, pcsc_lock, wait_for_card
from sandbox.vitale_card import CardImage, VirtualCard, VirtualCardDeck


@dataclass
class PcscStack:
    """The running pcscd, its two virtual readers and the cards in them."""

    daemon: PcscDaemon
    deck: VirtualCardDeck
    readers: list[str] = field(default_factory=list)
    events: queue.Queue[CardEvent] = field(default_factory=queue.Queue)

    def insert(self, card: CardImage | str, slot: int = 0) -> VirtualCard:
        """Insert a card and wait until pcscd sees it."""
        virtual = self.deck.insert(card, slot)
        assert wait_for_card(self.readers[slot], True), f"pcscd does not see the card in {self.readers[slot]}"
        return virtual

    def remove(self, slot: int = 0) -> None:
        """Pull the card out and wait until pcscd sees the reader empty."""
        self.deck.remove(slot)
        assert wait_for_card(self.readers[slot], False), f"pcscd still sees a card in {self.readers[slot]}"

    def unplug(self) -> None:
        """Every reader disappears: stop pcscd (one started by LGC tests or sandboxes; never a system one)."""
        self.deck.remove_all()
        assert self.daemon.stop_any_started_by_lgc(), (
            "pcscd was started outside LGC (systemd?): stop it to run this test (the tests start their own)"
        )

    def replug(self) -> None:
        """Start pcscd again and wait for its virtual readers."""
        self.readers = self.daemon.ensure()


@pytest.fixture(scope="session")
def pcsc_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscStack]:
    """The deck and the pcscd handle for the session; a pcscd started by these tests is stopped at the end."""
    daemon = PcscDaemon(log_path=tmp_path_factory.mktemp("pcscd") / "pcscd.log")
    deck = VirtualCardDeck()
    try:
        yield PcscStack(daemon, deck)
    finally:
        deck.close()
        with pcsc_lock(timeout_s=900):
            daemon.stop()


@pytest.fixture
def pcsc(pcsc_stack: PcscStack) -> Iterator[PcscStack]:
    """The PC/SC stack under the machine-wide lock, pcscd running, both readers empty before and after."""
    with pcsc_lock(timeout_s=900):
        pcsc_stack.readers = pcsc_stack.daemon.ensure()
        for reader in pcsc_stack.readers:
            assert wait_for_card(reader, False), f"a card is left in {reader}"
        try:
            yield pcsc_stack
        finally:
            pcsc_stack.deck.remove_all()
            for reader in pcsc_stack.readers:
                wait_for_card(reader, False)
