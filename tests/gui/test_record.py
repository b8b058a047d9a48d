"""The Observations tab on real services: macros as typed, a form filled and checked, drafts, alerts, dashboard."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLineEdit
from pytestqt.qtbot import QtBot

from app.bootstrap import Services
from domain.audit import AuditAction
from domain.record import EntryKind
from tests.gui.conftest import ServicesFactory
from ui.app import create_main_window
from ui.main_window import MainController, MainWindow
from ui.record_controller import DismissDialog
from ui.tasks_qt import QtTaskRunner


def _open(qtbot: QtBot, services: Services) -> tuple[MainWindow, MainController, int]:
    window, controller = create_main_window(services)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(controller.ready, timeout=20_000):
        controller.start()
    patient_id = services.patients.search("mar").rows[0].id
    with qtbot.waitSignal(controller.record.controller.loaded, timeout=10_000):
        controller.open_patient(patient_id)
    window.patient_file.tabs.setCurrentWidget(window.patient_file.observations_tab)
    return window, controller, patient_id


def test_free_text_with_macro_expansion_and_draft(qtbot: QtBot, make_services: ServicesFactory) -> None:
    services = make_services(QtTaskRunner())
    services.record.add_entry(services.patients.search("mar").rows[0].id, EntryKind.ALLERGY, "Pénicilline")
    window, controller, pid = _open(qtbot, services)
    tab = window.patient_file.observations_tab
    record = controller.record.controller
    tab.work.setCurrentIndex(1)
    qtbot.waitUntil(lambda: tab.editor.macros is not None, timeout=5000)
    tab.editor.setFocus()
    qtbot.keyClicks(tab.editor, "Vu ce jour. @allergies")
    qtbot.keyClick(tab.editor, Qt.Key.Key_Space)
    assert tab.editor.toPlainText() == "Vu ce jour. Allergies : Pénicilline. "
    # The draft is saved by itself a moment later: reopening the file brings it back.
    qtbot.waitUntil(lambda: services.record.open_record(pid).draft is not None, timeout=5000)
    other = services.patients.search("mar").rows[1].id
    with qtbot.waitSignal(record.loaded, timeout=5000):
        record.set_patient(other)
    assert tab.editor.toPlainText() == ""  # another patient, no draft
    with qtbot.waitSignal(record.loaded, timeout=5000):
        record.set_patient(pid)
    qtbot.waitUntil(lambda: tab.editor.toPlainText().startswith("Vu ce jour. Allergies"), timeout=5000)
    with qtbot.waitSignal(record.saved, timeout=5000):
        qtbot.mouseClick(tab.save_text_button, Qt.MouseButton.LeftButton)
    assert tab.model.rows[0].summary.startswith("Vu ce jour. Allergies : Pénicilline.")
    assert tab.editor.toPlainText() == "" and services.record.open_record(pid).draft is None


def test_fill_a_form_errors_by_field_then_save(qtbot: QtBot, make_services: ServicesFactory) -> None:
    services = make_services(QtTaskRunner())
    window, controller, pid = _open(qtbot, services)
    tab = window.patient_file.observations_tab
    record = controller.record.controller
    qtbot.waitUntil(lambda: tab.template_combo.count() > 10, timeout=5000)
    # The nurse's templates come first.
    assert "Braden" in tab.template_combo.itemText(0) or tab.template_combo.itemData(0)[0].startswith("ide.")
    index = next(i for i in range(tab.template_combo.count()) if tab.template_combo.itemData(i)[0] == "ide.plaie")
    tab.template_combo.setCurrentIndex(index)
    qtbot.mouseClick(tab.open_form_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.form_view is not None, timeout=5000)
    view = tab.form_view
    assert view is not None
    qtbot.keyClicks(view.editors["plaie"], "Talon gauche")  # type: ignore[arg-type]
    kind = view.editors["type"]
    assert isinstance(kind, QComboBox)
    kind.setCurrentIndex(kind.findData("escarre"))
    assert view.form.isRowVisible(view.rows["stade"])  # the condition shows the stage
    length, width = view.editors["longueur"], view.editors["largeur"]
    assert isinstance(length, QLineEdit) and isinstance(width, QLineEdit)
    qtbot.keyClicks(length, "3 kg")
    qtbot.keyClicks(width, "20 mm")
    qtbot.mouseClick(tab.save_form_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.errors["longueur"].isVisible(), timeout=5000)
    assert "unité « kg » non reconnue" in view.errors["longueur"].text()
    assert "réponse obligatoire" in view.errors["stade"].text()
    assert "réponse(s) à corriger" in tab.form_error.text()
    length.clear()
    qtbot.keyClicks(length, "3,5")
    assert view.derived["surface"].text() == "7 cm²" or view.derived["surface"].text() == "7"
    stage = view.editors["stade"]
    assert isinstance(stage, QComboBox)
    stage.setCurrentIndex(stage.findData("2"))
    view.checks["aspect"]["fibrine"].setChecked(True)
    with qtbot.waitSignal(record.saved, timeout=5000):
        qtbot.mouseClick(tab.save_form_button, Qt.MouseButton.LeftButton)
    line = tab.model.rows[0]
    assert line.title == "Suivi de plaie" and "Talon gauche" in line.summary and "7" in line.summary
    # Reading it back shows the template version it was written with.
    tab.timeline.setCurrentIndex(tab.model.index(0))
    qtbot.waitUntil(lambda: "version 1" in tab.reader.toPlainText(), timeout=5000)
    assert "Fibrine" in tab.reader.toPlainText()
    traces = services.traces
    assert traces is not None
    with services.record._uow() as uow:
        assert AuditAction.RECORD_WRITE in [e.action for e in uow.audit.list(patient_id=pid)]


def test_alert_explained_and_dismissed_and_dashboard_opens_a_patient(
    qtbot: QtBot, make_services: ServicesFactory
) -> None:
    services = make_services(QtTaskRunner())
    window, controller, pid = _open(qtbot, services)
    tab = window.patient_file.observations_tab
    record = controller.record.controller
    services.record.save_form_observation(
        pid,
        "ide.braden",
        1,
        {"perception": "1", "humidite": "2", "activite": "1", "mobilite": "2", "nutrition": "2", "friction": "1"},
    )
    with qtbot.waitSignal(record.alerts_shown, timeout=5000):
        record.set_patient(pid)
    row = next(r for r in tab.alert_rows if r.alert.rule == "Score de Braden")
    assert "Attention" in row.text.text() and "Braden 9" in row.text.text()
    record.explain(row.alert)
    assert "Données du dossier utilisées" in record.dialog.text()  # type: ignore[union-attr]
    record.dialog.close()  # type: ignore[union-attr]
    record.dismiss(row.alert)
    dialog = record.dialog
    assert isinstance(dialog, DismissDialog)
    dialog.reason.setText("Patient hospitalisé, suivi par l'équipe du service")
    with qtbot.waitSignal(record.alerts_shown, timeout=5000):
        dialog.accept()
    assert all(r.alert.key != row.alert.key for r in tab.alert_rows)

    window.dashboard_action.trigger()
    launcher = controller.record
    assert launcher.window_dashboard is not None
    with qtbot.waitSignal(launcher.window_dashboard.shown, timeout=20_000):
        pass
    view = launcher.dashboard_window.view  # type: ignore[union-attr]
    dashboard = view.dashboard
    assert dashboard is not None and dashboard.patients_scanned == 300
    follow = dashboard.section("suivi")
    assert [line.patient_id for line in follow.lines] == [pid]
    assert pid not in [line.patient_id for line in dashboard.section("braden").lines]  # dismissed
    parent = view.tree.topLevelItem(0)
    assert parent is not None and parent.childCount() == 1
    other = services.patients.search("mar").rows[1].id
    window.patient_file.file = None
    with qtbot.waitSignal(controller.file_shown, timeout=5000):
        view.patient_requested.emit(other)
    assert window.patient_file.file is not None and window.patient_file.file.id == other


def test_timeline_shows_documents_and_care_tabs_follow_the_profile(
    qtbot: QtBot, make_services: ServicesFactory
) -> None:
    from PySide6.QtCore import QUrl

    from domain.practice import UserRole
    from domain.record import TimelineSource

    services = make_services(QtTaskRunner())
    window, controller, _pid = _open(qtbot, services)
    rows = services.patients.search("", limit=300).rows
    with_docs = next(r.id for r in rows if services.documents.list_documents(r.id))
    record = controller.record.controller
    with qtbot.waitSignal(record.loaded, timeout=10_000):
        controller.open_patient(with_docs)
    tab = window.patient_file.observations_tab
    sources = {line.source for line in tab.model.rows}
    assert TimelineSource.DOCUMENT in sources
    assert tab.kind_filter.findText("Documents") >= 0 and "autre" in tab.count_label.text()
    tab.kind_filter.setCurrentText("Documents")
    assert tab.model.rowCount() >= 1 and all(line.source is TimelineSource.DOCUMENT for line in tab.model.rows)
    tab.timeline.setCurrentIndex(tab.model.index(0))
    assert "Ouvrir le document" in tab.reader.toHtml()
    first = tab.model.rows[0].id
    with qtbot.waitSignal(tab.document_requested, timeout=2000) as signal:
        tab._anchor(QUrl(f"document:{first}"))
    assert signal.args == [first]

    # A secretary sees the identity and the agenda, not the care record: the tabs say why.
    secretary = next(u for u in services.practice.users() if u.role is UserRole.SECRETARY)
    services.current_user.set(secretary)
    controller.open_patient(with_docs)
    tabs = window.patient_file.tabs
    qtbot.waitUntil(lambda: not tabs.isTabEnabled(tabs.indexOf(window.patient_file.observations_tab)), timeout=5000)
    documents_index = tabs.indexOf(window.patient_file.documents_tab)
    assert not tabs.isTabEnabled(documents_index)
    assert "ne permet pas de consulter le dossier de soins" in tabs.tabToolTip(documents_index)
    assert tabs.isTabEnabled(tabs.indexOf(window.patient_file.agenda_tab))
    assert not window.dashboard_action.isEnabled()
