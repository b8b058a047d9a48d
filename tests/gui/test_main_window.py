"""The main window on real services: search, open a file, create a patient, protected strict traits."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.bootstrap import Services
from app.tasks import InlineTaskRunner, Lane
from domain.errors import ConflictError, InvalidInput, PermissionDenied, RemoteServiceError
from domain.identity import IdentityStatus
from tests.gui.conftest import DEMO_PATIENTS, ServicesFactory
from ui.app import create_main_window
from ui.error_presenter import GENERIC_MESSAGE, describe_error
from ui.main_window import MainController, MainWindow
from ui.patient_file import NOT_YET
from ui.patient_form import PatientFormDialog
from ui.tasks_qt import QtTaskRunner


def _window(qtbot: QtBot, services: Services) -> tuple[MainWindow, MainController]:
    window, controller = create_main_window(services)
    qtbot.addWidget(window)
    window.show()
    return window, controller


def _count(services: Services) -> int:
    return services.practice.overview().patient_count


def test_search_open_file_and_tabs_with_the_real_qt_runner(qtbot: QtBot, make_services: ServicesFactory) -> None:
    services = make_services(QtTaskRunner())
    window, controller = _window(qtbot, services)
    with qtbot.waitSignal(controller.ready, timeout=10_000):
        controller.start()
    model = controller.list_controller.model
    assert model.rowCount() > 0
    assert "patients affichés" in window.patient_list.count_label.text()

    box = window.patient_list.search_box
    expected = [r.id for r in services.patients.search("mar").rows]
    assert expected
    qtbot.keyClicks(box, "mar")
    qtbot.waitUntil(lambda: [r.id for r in model.rows] == expected, timeout=5000)

    # One letter does not search: a French hint says why.
    box.clear()
    qtbot.keyClicks(box, "z")
    qtbot.waitUntil(lambda: "au moins 2 lettres" in window.patient_list.hint_label.text(), timeout=5000)

    # A bad query is explained under the box, without a dialog.
    box.clear()
    qtbot.keyClicks(box, "31/02/1990")
    qtbot.waitUntil(lambda: "Date impossible" in window.patient_list.error_label.text(), timeout=5000)
    assert window.patient_list.error_label.text().startswith("⚠")

    box.clear()
    qtbot.keyClicks(box, "mar")
    qtbot.waitUntil(lambda: model.rowCount() > 0 and not window.patient_list.error_label.text(), timeout=5000)
    row = model.rows[0]
    table = window.patient_list.table
    table.setFocus()
    table.selectRow(0)
    with qtbot.waitSignal(controller.file_shown, timeout=5000):
        qtbot.keyClick(table, Qt.Key.Key_Return)

    file = window.patient_file.file
    assert file is not None and file.id == row.id
    banner = window.patient_file.banner.visible_text()
    assert file.status.label_fr.upper() in banner
    assert row.birth_name in banner
    if file.status is IdentityStatus.QUALIFIED:
        assert "INS :" in banner
    else:
        assert "INS non qualifié" in banner
    assert window.patient_file.banner.status_frame.toolTip() == file.status.advice_fr

    tabs = window.patient_file.tabs
    titles = [tabs.tabText(i) for i in range(tabs.count())]
    assert titles[0] == "Identité"
    for title in NOT_YET:
        assert title in titles
        assert "pas encore disponible" in window.patient_file.placeholder_labels[title].text()


def test_callbacks_of_the_qt_runner_come_back_on_the_ui_thread(qtbot: QtBot, qapp: object) -> None:
    runner = QtTaskRunner()
    seen: list[tuple[str, object]] = []
    try:
        runner.submit(
            lambda: threading.current_thread().name,
            lane=Lane.DB,
            on_success=lambda worker: seen.append((threading.current_thread().name, worker)),
        )
        runner.submit(
            lambda: 1 / 0, lane=Lane.NET, on_error=lambda exc: seen.append((threading.current_thread().name, type(exc)))
        )
        qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    finally:
        runner.shutdown()
    assert all(thread == threading.main_thread().name for thread, _ in seen)
    assert any(isinstance(value, str) and value.startswith("lgc-db") for _, value in seen)
    assert (threading.main_thread().name, ZeroDivisionError) in seen


def test_create_patient_refused_then_saved(qtbot: QtBot, make_services: ServicesFactory) -> None:
    services = make_services(InlineTaskRunner())
    window, controller = _window(qtbot, services)
    controller.start()
    assert services.current_user().login == "ide"
    window.new_patient_action.trigger()
    dialog = controller.form_dialog
    assert isinstance(dialog, PatientFormDialog)
    assert dialog.selected_sex() == ""  # no default sex
    assert dialog.birth_place.text() == ""  # never pre-filled (no 99999)

    qtbot.keyClicks(dialog.birth_name, "Testeur")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    errors = dialog.visible_errors()
    assert "birth_name" not in errors
    assert errors["birth_given_names"] == "⚠ Le premier prénom de naissance est obligatoire."
    assert "obligatoire" in errors["sex"]
    assert "obligatoire" in errors["birth_date"]
    assert "obligatoire" in errors["birth_place_code"]
    assert dialog.isVisible()
    assert _count(services) == DEMO_PATIENTS

    qtbot.keyClicks(dialog.birth_given_names, "Marie Claire")
    assert dialog.first_given_name.text() == "1er prénom de naissance : Marie"
    dialog.sex_buttons["F"].click()
    dialog.birth_date.setFocus()
    dialog.birth_date.home(False)
    qtbot.keyClicks(dialog.birth_date, "14031988")
    assert dialog.birth_date.text() == "14/03/1988"
    qtbot.keyClicks(dialog.birth_place, "Reims")
    qtbot.waitUntil(lambda: "Reims (51) — 51454" in dialog.place_model.stringList(), timeout=5000)
    dialog.completer.activated.emit("Reims (51) — 51454")
    assert controller.form_controller is not None and controller.form_controller.place_code == "51454"

    with qtbot.waitSignal(controller.file_shown, timeout=5000):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert _count(services) == DEMO_PATIENTS + 1
    file = window.patient_file.file
    assert file is not None
    traits = file.patient.identity.traits
    assert (traits.birth_name, traits.birth_given_names, traits.birth_place_code) == (
        "TESTEUR",
        ("MARIE", "CLAIRE"),
        "51454",
    )
    assert "PROVISOIRE" in window.patient_file.banner.visible_text()
    assert controller.form_dialog is None


def test_protected_strict_traits_are_read_only_for_a_non_admin(qtbot: QtBot, make_services: ServicesFactory) -> None:
    services = make_services(InlineTaskRunner())
    window, controller = _window(qtbot, services)
    controller.start()
    assert not services.current_user().is_admin
    rows = services.patients.search("").rows
    row = next(r for r in rows if r.status.protects_strict_traits)
    controller.open_patient(row.id)
    controller.edit_open_patient()
    dialog = controller.form_dialog
    assert isinstance(dialog, PatientFormDialog)
    assert dialog.strict_traits_locked()
    for edit in (dialog.birth_name, dialog.birth_given_names, dialog.birth_date, dialog.birth_place):
        assert edit.isReadOnly()
        assert "administrateur" in edit.toolTip()
    assert not any(button.isEnabled() for button in dialog.sex_buttons.values())
    assert all(not lock.isHidden() for lock in dialog.lock_labels.values())
    assert not dialog.used_name.isReadOnly() and not dialog.used_given_name.isReadOnly()
    assert "administrateur" in dialog.notice.text()

    dialog.used_given_name.setText("Mimi")
    with qtbot.waitSignal(controller.file_shown, timeout=5000):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    file = window.patient_file.file
    assert file is not None and file.patient.identity.traits.used_given_name == "MIMI"
    assert file.status is row.status


def test_error_messages_are_french_with_an_action() -> None:
    assert "administrateur" in describe_error(PermissionDenied("Non.")).action
    assert describe_error(ConflictError("Modifié.")).retryable
    assert describe_error(RemoteServiceError("Pas de réponse.", retryable=True)).retryable
    assert describe_error(InvalidInput({"x": "Mauvais."})).text == "Mauvais."
    unexpected = describe_error(KeyError("boom"))
    assert unexpected.text == GENERIC_MESSAGE and not unexpected.expected


def test_unusable_store_at_start_up_gives_a_french_message_and_exit_code_2(
    qapp: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ui.app
    from app.main import main

    data = tmp_path / "data"
    data.mkdir()
    (data / "lgc.sqlite3").write_bytes(b"pas une base SQLite" * 200)
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(ui.app, "show_fatal_error", lambda title, text: shown.append((title, text)))
    areas = ("lgc", "lgc.net", "py.warnings")
    before = {name: list(logging.getLogger(name).handlers) for name in areas}
    try:
        assert main(["--data-dir", str(data)]) == 2
    finally:
        # main() configured the log files of this data directory: detach them for the next tests.
        logging.captureWarnings(False)
        for name in areas:
            logger = logging.getLogger(name)
            for handler in logger.handlers[:]:
                if handler not in before[name]:
                    logger.removeHandler(handler)
                    handler.close()
    assert len(shown) == 1
    title, text = shown[0]
    assert title == "Base de données inutilisable"
    assert "n'est pas une base LGC" in text
