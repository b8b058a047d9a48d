"""Last-resort handlers: log any uncaught exception and show a crash report on the UI thread."""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from ui.error_presenter import GENERIC_ACTION

log = logging.getLogger("lgc.crash")

ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], None]


class CrashHandler(QObject):
    """Installs ``sys.excepthook`` and ``threading.excepthook``; reports crashes without recursion.

    The hooks may run on any thread: they log at once, then hand the report to the UI thread through a
    queued signal. If showing the report fails, the failure is logged and no further dialog is attempted.

    Signals:
        crash_reported(str, str): summary and formatted traceback, delivered on the UI thread.
    """

    crash_reported = Signal(str, str)

    def __init__(self, parent_window: Callable[[], QWidget | None] = lambda: None, log_path: str = "") -> None:
        super().__init__()
        self._parent_window = parent_window
        self._log_path = log_path
        self._lock = threading.Lock()
        self._showing = False
        self._disabled = False
        self._previous_sys: ExceptHook | None = None
        self._previous_threading: Callable[[threading.ExceptHookArgs], object] | None = None
        self.reports = 0
        self.crash_reported.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        """Become the process's exception hooks (call once, on the UI thread)."""
        self._previous_sys = sys.excepthook
        self._previous_threading = threading.excepthook
        sys.excepthook = self.handle
        threading.excepthook = self._handle_thread

    def uninstall(self) -> None:
        """Restore the hooks found by ``install``."""
        if self._previous_sys is not None:
            sys.excepthook = self._previous_sys
        if self._previous_threading is not None:
            threading.excepthook = self._previous_threading

    def handle(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        """``sys.excepthook``: log, then ask the UI thread to show the report."""
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        try:
            log.critical("Uncaught exception", exc_info=(exc_type, exc, tb))
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            summary = f"{exc_type.__name__} (thread {threading.current_thread().name})"
            self.reports += 1
            self.crash_reported.emit(summary, text)
        except Exception:
            sys.__excepthook__(exc_type, exc, tb)

    def _handle_thread(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        self.handle(args.exc_type, args.exc_value, args.exc_traceback)

    @Slot(str, str)
    def _show(self, summary: str, text: str) -> None:
        with self._lock:
            if self._showing or self._disabled:
                # A crash while a report is open (or after showing failed) is only logged: no dialog storm.
                return
            self._showing = True
        try:
            box = QMessageBox(self._parent_window())
            box.setIcon(QMessageBox.Icon.Critical)
            box.setWindowTitle("Erreur du logiciel")
            box.setText("<b>Le logiciel a rencontré une erreur qu'il n'a pas su traiter.</b>")
            where = f" ({self._log_path})" if self._log_path else ""
            box.setInformativeText(
                "Vos données enregistrées ne sont pas touchées ; la saisie en cours a pu être perdue.<br><br>"
                f"L'incident est enregistré dans le journal technique{where}. {GENERIC_ACTION}"
            )
            box.setDetailedText(f"{summary}\n\n{text}")
            box.addButton("Fermer", QMessageBox.ButtonRole.AcceptRole)
            box.finished.connect(self._closed)
            box.finished.connect(box.deleteLater)
            box.open()
        except Exception:
            log.exception("Could not show the crash report")
            with self._lock:
                self._disabled = True
                self._showing = False

    @Slot()
    def _closed(self) -> None:
        with self._lock:
            self._showing = False
