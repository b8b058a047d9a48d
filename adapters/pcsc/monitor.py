"""PC/SC reader and card monitor: a thread of its own blocking in SCardGetStatusChange, events to a callback."""

from __future__ import annotations

import logging
import threading
from typing import Any

from adapters.pcsc.atr import atr_hex, classify_atr
from domain.cards import (
    CARD_INSERTED,
    CARD_REMOVED,
    READER_ADDED,
    READER_REMOVED,
    CardEventCallback,
    ReaderState,
)
from domain.insi import CardEvent

log = logging.getLogger("lgc.cards")

PNP_NOTIFICATION = "\\\\?PnP?\\Notification"
"""The pseudo-reader whose state changes when a reader is plugged or unplugged (pcsc-lite, WinSCard)."""


class PcscCardMonitor:
    """``CardMonitor`` over PC/SC.

    The thread (owned by this object, started by ``start`` and joined by ``stop``) waits in
    ``SCardGetStatusChange`` on every reader plus the plug-and-play pseudo-reader, so that insertion,
    removal, plugging and unplugging are reported within ``wait_s``. When the PC/SC service is absent or
    stops, every known reader is reported removed and the connection is retried every ``retry_s``.

    Args:
        wait_s: longest wait in one ``SCardGetStatusChange`` call (``stop`` cancels it at once).
        retry_s: delay between attempts to reach a missing PC/SC service.
    """

    def __init__(self, *, wait_s: float = 0.5, retry_s: float = 1.0) -> None:
        self._wait_ms = int(wait_s * 1000)
        self._retry_s = retry_s
        self._callback: CardEventCallback | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._context: Any = None
        self._readers: dict[str, ReaderState] = {}
        self._event_state: dict[str, int] = {}

    def start(self, callback: CardEventCallback) -> None:
        """Start watching; ``callback`` receives every event from the monitor thread."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._callback = callback
                return
            self._callback = callback
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="lgc-cartes", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread (cancelling its wait) and join it; no callback afterwards."""
        self._stop.set()
        with self._lock:
            context = self._context
            thread = self._thread
        if context is not None:
            from smartcard import scard

            scard.SCardCancel(context)
        if thread is not None:
            thread.join(timeout=5.0)
        with self._lock:
            self._thread = None
            self._callback = None

    def states(self) -> list[ReaderState]:
        """Readers and cards as last seen."""
        with self._lock:
            return sorted(self._readers.values(), key=lambda state: state.reader)

    # -- thread ------------------------------------------------------------------------------------

    def _emit(self, event: CardEvent) -> None:
        if self._stop.is_set():
            return
        callback = self._callback
        log.info("Card monitor: %s %s %s", event.kind, event.reader, event.card or "")
        if callback is None:
            return
        try:
            callback(event)
        except Exception:
            log.exception("Card event callback failed")

    def _run(self) -> None:
        from smartcard import scard

        while not self._stop.is_set():
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult != scard.SCARD_S_SUCCESS:
                self._forget_all()
                self._stop.wait(self._retry_s)
                continue
            with self._lock:
                self._context = context
            try:
                self._watch(context)
            except Exception:
                log.exception("Card monitor failed; restarting")
                self._stop.wait(self._retry_s)
            finally:
                with self._lock:
                    self._context = None
                scard.SCardReleaseContext(context)
        self._forget_all(emit=False)

    def _watch(self, context: Any) -> None:
        from smartcard import scard

        gone = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_INVALID_HANDLE}
        pnp_state = scard.SCARD_STATE_UNAWARE
        while not self._stop.is_set():
            hresult, names = scard.SCardListReaders(context, [])
            if hresult in gone:
                self._forget_all()
                return
            current = list(names) if hresult == scard.SCARD_S_SUCCESS else []
            self._sync_readers(current)
            watched = [(name, self._event_state.get(name, scard.SCARD_STATE_UNAWARE)) for name in current]
            watched.append((PNP_NOTIFICATION, pnp_state))
            hresult, changes = scard.SCardGetStatusChange(context, self._wait_ms, watched)
            if hresult == scard.SCARD_E_CANCELLED or self._stop.is_set():
                return
            if hresult in gone:
                self._forget_all()
                return
            if hresult == scard.SCARD_E_TIMEOUT:
                continue
            if hresult != scard.SCARD_S_SUCCESS:
                # A reader vanished between the list and the wait: list again (after a short pause, so that
                # an error repeated by the service cannot spin).
                self._stop.wait(0.1)
                continue
            for name, event_state, atr in changes:
                state = event_state & ~scard.SCARD_STATE_CHANGED
                if name == PNP_NOTIFICATION:
                    pnp_state = state
                    continue
                self._event_state[name] = state
                if state & (scard.SCARD_STATE_UNAVAILABLE | scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_IGNORE):
                    continue  # the reader is going away; the next list says so
                present = bool(state & scard.SCARD_STATE_PRESENT) and not state & scard.SCARD_STATE_MUTE
                self._card_state(name, atr_hex(atr) if present and atr else "", present)

    def _sync_readers(self, names: list[str]) -> None:
        with self._lock:
            known = set(self._readers)
        for name in names:
            if name not in known:
                with self._lock:
                    self._readers[name] = ReaderState(name)
                self._emit(CardEvent(READER_ADDED, name))
        for name in known - set(names):
            self._drop_reader(name)

    def _drop_reader(self, name: str, *, emit: bool = True) -> None:
        with self._lock:
            state = self._readers.pop(name, None)
        self._event_state.pop(name, None)
        if state is None or not emit:
            return
        if state.card is not None:
            self._emit(CardEvent(CARD_REMOVED, name, state.card, state.atr))
        self._emit(CardEvent(READER_REMOVED, name))

    def _forget_all(self, *, emit: bool = True) -> None:
        with self._lock:
            names = list(self._readers)
        for name in names:
            self._drop_reader(name, emit=emit)

    def _card_state(self, name: str, atr: str, present: bool) -> None:
        with self._lock:
            before = self._readers.get(name, ReaderState(name))
        if before.card is not None and (not present or atr != before.atr):
            with self._lock:
                self._readers[name] = ReaderState(name)
            self._emit(CardEvent(CARD_REMOVED, name, before.card, before.atr))
            before = ReaderState(name)
        if present and before.card is None:
            kind = classify_atr(bytes.fromhex(atr))
            with self._lock:
                self._readers[name] = ReaderState(name, kind, atr)
            self._emit(CardEvent(CARD_INSERTED, name, kind, atr))
