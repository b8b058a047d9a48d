"""The Prescriptions tab on real services: demo list, scope-restricted type-ahead, refusal explained, validation
into a document, print (PDF), renewal."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from app.tasks import InlineTaskRunner
from domain.prescriptions import PrescriptionStatus
from domain.record import EntryKind
from tests.gui.conftest import ServicesFactory
from ui.app import create_main_window
from ui.documents_tab import DocumentViewer
from ui.prescriptions_tab import PrescriptionEditor


def test_prescriptions_tab_write_validate_print_and_renew(qtbot: QtBot, make_services: ServicesFactory) -> None:
    services = make_services(InlineTaskRunner())
    window, controller = create_main_window(services)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    rows = services.patients.search("", limit=300).rows
    patient = next(r for r in rows if services.prescriptions.list_prescriptions(r.id))
    controller.open_patient(patient.id)
    view = window.patient_file
    tab = view.prescriptions_tab
    view.tabs.setCurrentWidget(tab)
    assert view.tabs.tabText(view.tabs.indexOf(tab)) == "Prescriptions"
    assert view.tabs.tabText(view.tabs.indexOf(tab) - 1) == "Documents"
    qtbot.waitUntil(lambda: len(tab.prescriptions) == 2, timeout=10_000)  # demo: one validated, one draft
    assert {p.status for p in tab.prescriptions} == {PrescriptionStatus.VALIDATED, PrescriptionStatus.DRAFT}
    assert "Infirmier" in tab.scope_label.text() and tab.new_button.isEnabled()
    documents_before = len(services.documents.list_documents(patient.id))
    services.record.add_entry(patient.id, EntryKind.ALLERGY, "Hydrocolloïde")

    # A new prescription: the type-ahead search, a refused product explained, an allowed one added.
    tab.new_button.click()
    editor = controller.prescriptions.editor
    assert isinstance(editor, PrescriptionEditor)
    editor.search.setText("paracétamol")
    qtbot.waitUntil(lambda: editor.results.count() > 0 and "aracétamol" in editor.results.item(0).text(), timeout=5000)
    editor.results.setCurrentRow(0)
    editor.add_button.click()
    assert editor.lines_table.rowCount() == 0
    assert "n'est pas dans le champ de prescription" in editor.explain.text() and "Source :" in editor.explain.text()
    editor.search.setText("compresses stériles")
    qtbot.waitUntil(lambda: editor.results.count() > 0 and "Compresses" in editor.results.item(0).text(), timeout=5000)
    editor.results.setCurrentRow(0)
    editor.add_button.click()
    assert editor.lines_table.rowCount() == 1 and not editor.allergy.isVisible()
    # A product matching a recorded allergy: warned in the editor (advisory), then removed.
    editor.search.setText("hydrocolloïde")
    qtbot.waitUntil(lambda: editor.results.count() > 0 and "hydrocollo" in editor.results.item(0).text(), timeout=5000)
    editor.results.setCurrentRow(0)
    editor.add_button.click()
    qtbot.waitUntil(lambda: editor.allergy.isVisible(), timeout=5000)
    assert "Allergie à « Hydrocolloïde »" in editor.allergy.text()
    editor.lines_table.selectRow(1)
    editor.remove_button.click()
    qtbot.waitUntil(lambda: not editor.allergy.isVisible(), timeout=5000)
    duration = editor.lines_table.cellWidget(0, 2)
    duration.setValue(400)  # type: ignore[union-attr]
    editor.validate_button.click()
    assert editor.errors.isVisible() and "entre 1 et 365 jours" in editor.errors.text()
    duration.setValue(15)  # type: ignore[union-attr]
    editor.lines_table.cellWidget(0, 6).setChecked(True)  # type: ignore[union-attr]  # "En rapport avec l'ALD"
    editor.validate_button.click()
    qtbot.waitUntil(lambda: len(tab.prescriptions) == 3, timeout=5000)
    assert "validée" in tab.notice.text()
    assert len(services.documents.list_documents(patient.id)) == documents_before + 1
    newest = tab.prescriptions[0]
    assert newest.status is PrescriptionStatus.VALIDATED and newest.lines[0].duration_days == 15
    assert newest.lines[0].ald

    # Print: the produced PDF opens in the document viewer.
    tab.select_id(newest.id or 0)
    assert tab.print_button.isEnabled() and not tab.edit_button.isEnabled()
    tab.print_button.click()
    viewer = controller.prescriptions.viewer
    assert isinstance(viewer, DocumentViewer) and viewer.tabs.tabText(0) == "PDF"
    assert viewer.pdf_document.pageCount() >= 1
    viewer.close()

    # Renew: a new draft with the same lines, opened in the editor.
    tab.renew_button.click()
    renewed = controller.prescriptions.editor
    assert isinstance(renewed, PrescriptionEditor) and renewed.lines_table.rowCount() == 1
    qtbot.waitUntil(lambda: len(tab.prescriptions) == 4, timeout=5000)
    renewed.reject()
