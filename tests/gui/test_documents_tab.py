"""The Documents tab on real services: the demo list, filters, the viewer (PDF first), a new document, import."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from app.tasks import InlineTaskRunner
from domain.documents import DocumentFormat, Provenance
from domain.identity import IdentityStatus
from tests.gui.conftest import ServicesFactory
from ui.app import create_main_window
from ui.documents_tab import DocumentForm, DocumentViewer

SHOTS = os.environ.get("LGC_DOC_SHOTS", "")


def _shot(widget: object, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(SHOTS) / name))  # type: ignore[attr-defined]


def test_documents_tab_list_viewer_form_and_import(
    qtbot: QtBot, make_services: ServicesFactory, tmp_path: Path
) -> None:
    services = make_services(InlineTaskRunner())
    window, controller = create_main_window(services)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    rows = [r for r in services.patients.search("", limit=300).rows if r.status is IdentityStatus.QUALIFIED]
    patient = next(r for r in rows if services.documents.list_documents(r.id))
    controller.open_patient(patient.id)
    view = window.patient_file
    view.tabs.setCurrentWidget(view.documents_tab)
    tab = view.documents_tab
    qtbot.waitUntil(lambda: len(tab.model.all_rows) >= 16, timeout=10_000)
    assert tab.table.isVisible() and not tab.empty.isVisible()
    texts = [tab.model.index(r, 4).data() for r in range(tab.model.rowCount())]
    assert set(texts) == {"Produit ici", "Importé", "DMP", "MSSanté"}  # demo documents of every provenance
    flags = [(tab.model.index(r, 5).data(), tab.model.index(r, 6).data()) for r in range(tab.model.rowCount())]
    assert ("✔ Oui", "✔ Oui") in flags
    states = [tab.model.index(r, 7).data() for r in range(tab.model.rowCount())]
    assert any("version plus récente" in s for s in states) and any("N3 + PDF" in s for s in states)
    _shot(window, "documents-tab.png")

    # Filter by type.
    tab.type_filter.setCurrentIndex(tab.type_filter.findData("87273-9"))
    assert tab.model.rowCount() == 1 and "1 affiché sur" in tab.count_label.text()
    # Open the vaccination note: the PDF first, the structured document one click away.
    vac = tab.model.rows[0]
    controller.documents.open_document(vac.id)
    viewer = controller.documents.viewer
    assert isinstance(viewer, DocumentViewer)
    assert viewer.tabs.currentIndex() == 0 and viewer.tabs.tabText(0) == "PDF"
    assert viewer.pdf_document.pageCount() == 1
    if SHOTS:
        qtbot.wait(1500)  # QPdfView renders pages in the background
    _shot(viewer, "document-viewer-pdf.png")
    viewer.switch_button.click()
    assert viewer.tabs.currentIndex() == 1 and "Lot n°" in viewer.browser.toPlainText()
    _shot(viewer, "document-viewer-n3.png")
    viewer.close()
    tab.type_filter.setCurrentIndex(0)

    # A new document from the form: required fields first, then validation.
    before = len(tab.model.all_rows)
    controller.documents.new_document("11488-4")
    form = controller.documents.form
    assert isinstance(form, DocumentForm)
    form.validate_button.click()
    assert form.errors["motif"].isVisible() and "obligatoire" in form.errors["motif"].text()
    form.inputs["motif"].setPlainText("Douleurs lombaires")  # type: ignore[union-attr]
    form.inputs["conclusion"].setPlainText("Rééducation")  # type: ignore[union-attr]
    _shot(form, "document-form.png")
    form.validate_button.click()
    qtbot.waitUntil(lambda: len(tab.model.all_rows) == before + 1, timeout=5000)
    assert "validé" in tab.notice.text()

    # Import: a received document (rendered for this patient), then the same file again.
    newest = services.documents.list_documents(patient.id)[0]
    n1 = services.documents.render(newest.id, DocumentFormat.CDA_N1)
    path = tmp_path / "recu.xml"
    path.write_bytes(n1.data)
    controller.documents.import_files([str(path)])
    assert "déjà dans le dossier" in tab.notice.text()
    bad = tmp_path / "faux.pdf"
    bad.write_bytes(b"pas un pdf")
    controller.documents.import_files([str(bad)])
    assert "n'est pas un PDF" in tab.notice.text()
    received = [r for r in services.documents.list_documents(patient.id) if r.provenance is not Provenance.PRODUCED]
    assert len(received) == 3  # the demo's received documents only: nothing was integrated by the refusals

    # The structured prescription lines are never a free-text box: shown read-only, never sent back.
    controller.documents.new_document("57833-6")
    form = controller.documents.form
    assert isinstance(form, DocumentForm)
    assert "lignes" not in form.inputs and "produits" in form.inputs
    assert "lignes" not in form.values(validate=False)["values"]
    assert any("Aucune ligne structurée" in label.text() for label in form.findChildren(QLabel))
    form.reject()
