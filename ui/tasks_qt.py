"""Qt task runner: lanes of worker threads, callbacks delivered on the UI thread by one long-lived bridge."""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal, Slot

from app.tasks import ErrorCallback, Lane, LaneExecutors

T = TypeVar("T")

log = logging.getLogger("lgc.ui")


class _CallbackBridge(QObject):
    """Lives on the UI thread; drains the callbacks worker threads queue for it.

    One instance per runner for the whole life of the application: creating a QObject per task is where
    PySide6 lifetime crashes come from (anki's ``taskman`` pattern).

    Signals:
        pending: emitted (from any thread) when the queue goes from empty to non-empty.
    """

    pending = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[Callable[[], None]] = deque()
        self._lock = threading.Lock()
        self.closed = False
        self.pending.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    def push(self, callback: Callable[[], None]) -> None:
        """Queue ``callback`` for the UI thread (thread-safe)."""
        with self._lock:
            if self.closed:
                return
            was_empty = not self._queue
            self._queue.append(callback)
        # One queued event per batch: a drain already scheduled will see this callback too.
        if was_empty:
            self.pending.emit()

    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                callback = self._queue.popleft()
            try:
                callback()
            except Exception:
                # A failing callback must not stop the others; the crash handler (if installed) reports it.
                exc_type, exc, tb = sys.exc_info()
                if exc_type is not None and exc is not None:
                    sys.excepthook(exc_type, exc, tb)

    def drop_pending(self) -> None:
        """Forget queued callbacks and refuse new ones (at shutdown)."""
        with self._lock:
            self.closed = True
            self._queue.clear()


class QtTaskRunner:
    """``app.tasks.TaskRunner`` for the GUI: work runs in lanes, callbacks come back on the UI thread.

    Create it on the UI thread, after the ``QApplication``.
    """

    def __init__(self) -> None:
        if QCoreApplication.instance() is None:
            raise RuntimeError("QtTaskRunner needs a QApplication: create it first.")
        self._lanes = LaneExecutors()
        self._bridge = _CallbackBridge()
        self._shut_down = False

    def submit(
        self,
        fn: Callable[[], T],
        *,
        lane: Lane,
        on_success: Callable[[T], None] | None = None,
        on_error: ErrorCallback | None = None,
    ) -> Future[T]:
        """Run ``fn`` in ``lane``; call ``on_success(result)`` or ``on_error(exc)`` on the UI thread.

        Raises:
            RuntimeError: the runner was shut down.
        """
        if self._shut_down:
            raise RuntimeError("Task runner already shut down.")
        return self._lanes.run(fn, lane, self._bridge.push, on_success, on_error)

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the UI thread soon (callable from any thread: device monitors, crash handler)."""
        self._bridge.push(fn)

    def shutdown(self) -> None:
        """Refuse new work, wait for running tasks, and drop callbacks not yet delivered."""
        if self._shut_down:
            return
        self._shut_down = True
        self._lanes.shutdown()
        self._bridge.drop_pending()
        log.debug("Task runner stopped")
