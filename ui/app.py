"""Creates the windows and runs the Qt event loop for built services."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app.dto import PatientFile
from app.version import __version__
from ui.crash import CrashHandler
from ui.main_window import MainController, MainWindow

if TYPE_CHECKING:  # only for the type: the composition root is called by app.main, not here
    from app.bootstrap import Services

log = logging.getLogger("lgc.ui")

UI_SETTINGS_FILE = "interface.ini"
ENV_SCREENSHOT = "LGC_SCREENSHOT"


def ensure_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created if needed) with the product's names, so QSettings and dialogs agree."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(argv if argv is not None else ["lgc"])
    app.setApplicationName("LGC")
    app.setOrganizationName("lgc-libre")
    app.setApplicationVersion(__version__)
    app.setApplicationDisplayName("LGC")
    return app


def show_fatal_error(title: str, text: str) -> None:
    """A French message the user must read before the software closes (start-up failures, no traceback).

    Runs before the event loop exists, so a modal ``exec()`` is the only way to keep it on screen.
    """
    box = QMessageBox(QMessageBox.Icon.Critical, title, text)
    box.setInformativeText("Le logiciel va se fermer. Aucune donnée n'a été modifiée.")
    box.addButton("Fermer", QMessageBox.ButtonRole.AcceptRole)
    box.exec()


def ui_settings_for(data_dir: Path) -> QSettings:
    """Window state (geometry, splitter) kept next to the data it belongs to, as an INI file."""
    return QSettings(str(data_dir / UI_SETTINGS_FILE), QSettings.Format.IniFormat)


def create_main_window(
    services: Services, *, prepare: Callable[[], None] | None = None
) -> tuple[MainWindow, MainController]:
    """Build the main window and its controller (not shown, not started)."""
    window = MainWindow(ui_settings_for(services.settings.data_dir), demo=services.settings.is_demo)
    controller = MainController(window, services, prepare=prepare)
    return window, controller


def run_gui(
    services: Services,
    *,
    stop_sandbox: Callable[[], None] | None = None,
    prepare: Callable[[], None] | None = None,
    on_ready: Callable[[MainWindow, MainController], None] | None = None,
) -> int:
    """Show the main window, open the practice in the background and run the event loop until quit.

    Args:
        services: built by ``app.bootstrap.build`` with a ``QtTaskRunner``.
        stop_sandbox: stops the demo stand-ins; called on exit, after ``services.close()``.
        prepare: run on the DB lane before the list is filled (demo installation and sign-in).
        on_ready: called once the window is shown and the patient list populated.

    Returns:
        The event loop's exit code.
    """
    app = ensure_application()
    window, controller = create_main_window(services, prepare=prepare)
    crash = CrashHandler(lambda: QApplication.activeWindow() or window, str(services.settings.log_dir / "lgc.log"))
    crash.install()
    if on_ready is not None:
        controller.ready.connect(lambda: on_ready(window, controller))
    screenshot = os.environ.get(ENV_SCREENSHOT)
    if screenshot:
        controller.ready.connect(lambda: _screenshot_tour(window, controller, Path(screenshot)))
    # The card monitor and the periodic INS verification run in the application only (not in embedded tests).
    controller.ready.connect(controller.qualification.start_background)
    window.show()
    controller.start()
    try:
        return app.exec()
    finally:
        crash.uninstall()
        services.close()
        if stop_sandbox is not None:
            stop_sandbox()


def _screenshot_tour(window: MainWindow, controller: MainController, path: Path) -> None:
    """Developer aid (LGC_SCREENSHOT=shot.png): save the window with a file open, then the form, then quit."""
    rows = controller.list_controller.model.rows
    target = next((r for r in rows if r.used_name and r.status.protects_strict_traits), rows[0] if rows else None)
    if target is None:
        QApplication.quit()
        return

    def grab(widget: QWidget, destination: Path) -> None:
        widget.grab().save(str(destination))
        log.info("Screenshot saved to %s", destination)

    def file_shown(_file: PatientFile) -> None:
        controller.file_shown.disconnect(file_shown)
        QTimer.singleShot(300, lambda: grab(window, path))
        QTimer.singleShot(400, controller.edit_open_patient)
        QTimer.singleShot(900, lambda: _grab_form(controller, path, grab))

    controller.file_shown.connect(file_shown)
    controller.list_controller.view.table.selectRow(rows.index(target))
    controller.open_patient(target.id)


def _grab_form(controller: MainController, path: Path, grab: Callable[[QWidget, Path], None]) -> None:
    dialog = controller.form_dialog
    if dialog is not None:
        grab(dialog, path.with_name(f"{path.stem}-formulaire{path.suffix}"))
        dialog.reject()
    controller.new_patient()
    QTimer.singleShot(300, lambda: _grab_new(controller, path, grab))


def _grab_new(controller: MainController, path: Path, grab: Callable[[QWidget, Path], None]) -> None:
    dialog = controller.form_dialog
    if dialog is not None:
        dialog.save_requested.emit()
        QTimer.singleShot(300, lambda: grab(dialog, path.with_name(f"{path.stem}-nouveau{path.suffix}")))
    QTimer.singleShot(700, QApplication.quit)
