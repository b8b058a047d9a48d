"""The Courriers tab on real services: write a letter (text, bold, a merge field), autosave, preview, validate,
save its PDF; pasted images refused with a message; the correspondents book."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QImage, QTextCursor
from pytestqt.qtbot import QtBot

from app.tasks import InlineTaskRunner
from domain.identity import IdentityStatus
from domain.letters import LetterStatus
from tests.gui.conftest import ServicesFactory
from ui.app import create_main_window
from ui.letters_tab import CorrespondentsDialog, LetterEditor


def test_write_a_letter_and_produce_its_pdf(qtbot: QtBot, make_services: ServicesFactory, tmp_path: Path) -> None:
    services = make_services(InlineTaskRunner())
    window, controller = create_main_window(services)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    patient = next(r for r in services.patients.search("", limit=300).rows if r.status is IdentityStatus.QUALIFIED)
    controller.open_patient(patient.id)
    view = window.patient_file
    tab = view.letters_tab
    view.tabs.setCurrentWidget(tab)
    assert view.tabs.tabText(view.tabs.indexOf(tab)) == "Courriers"
    assert view.tabs.indexOf(tab) == view.tabs.indexOf(view.prescriptions_tab) + 1  # where the placeholder was
    letters = controller.letters
    qtbot.waitUntil(lambda: tab.template_box.count() >= 4, timeout=5000)
    before = len(tab.rows)  # the demo letter, for the first qualified patient

    # A new letter from the "adressage" template, to the patient's first correspondent.
    tab.template_box.setCurrentIndex(tab.template_box.findData("adressage_medecin"))
    tab.new_button.click()
    editor = letters.editor
    assert isinstance(editor, LetterEditor)
    assert "Je vous adresse" in editor.body.toPlainText() and "{{" not in editor.body.toPlainText()

    # Type a sentence, make a word bold, insert a merge field.
    body = editor.body
    cursor = body.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.End)
    body.setTextCursor(cursor)
    qtbot.keyClick(body, Qt.Key.Key_Return)
    qtbot.keyClicks(body, "Plaie du talon ")
    editor.bold_action.trigger()
    qtbot.keyClicks(body, "stable")
    editor.bold_action.trigger()
    qtbot.keyClicks(body, " pour ")
    editor.insert_field("patient.nom")
    assert letters.save_timer.isActive()  # autosave after a pause
    letters.save_timer.timeout.emit()
    saved = services.letters.letter(editor.letter.id)
    assert "<b>stable</b>" in saved.body_html and "{{patient.nom}}" in saved.body_html
    assert "Brouillon enregistré" in editor.status.text()

    # A pasted image is refused with a message; the text around it is kept.
    mime = QMimeData()
    mime.setImageData(QImage(8, 8, QImage.Format.Format_RGB32))
    body.insertFromMimeData(mime)
    assert "images collées ne sont pas conservées" in editor.status.text()
    html = QMimeData()
    html.setHtml('<p>Voir photo <img src="data:image/png;base64,AAAA"> <a href="https://x.fr">ici</a></p>')
    body.insertFromMimeData(html)
    assert "Voir photo ici" in body.toPlainText()

    # Print preview, then validation: the PDF comes from the documents pipeline.
    letters.preview()
    assert letters.preview_dialog is not None and letters.preview_document is not None
    assert "Objet" in letters.preview_document.toPlainText()
    assert saved.subject in letters.preview_document.toPlainText()
    assert not letters.preview_dialog.grab().isNull()  # painted through the printer it keeps alive
    letters.preview_dialog.close()
    editor.validate_button.click()
    assert editor.letter.status is LetterStatus.VALIDATED, editor.status.text()
    assert editor.body.isReadOnly() and editor.pdf_button.isEnabled()
    target = tmp_path / "courrier.pdf"
    letters.ask_pdf_path = lambda _name: str(target)
    editor.pdf_button.click()
    assert target.read_bytes().startswith(b"%PDF")
    editor.close()
    qtbot.waitUntil(lambda: len(tab.rows) == before + 1, timeout=5000)
    assert tab.rows[0].status is LetterStatus.VALIDATED
    document = services.documents.get(tab.rows[0].document_row_id)
    assert "stable" in document.value("corps") and "{{" not in document.value("corps")
    assert "<b>stable</b>" in document.value("corps_html")


def test_correspondents_book_search_add_and_link(qtbot: QtBot, make_services: ServicesFactory) -> None:
    services = make_services(InlineTaskRunner())
    window, controller = create_main_window(services)
    qtbot.addWidget(window)
    window.show()
    patient = services.patients.search("", limit=300).rows[-1]
    controller.open_patient(patient.id)
    tab = window.patient_file.letters_tab
    tab.book_button.click()
    book = controller.letters.book
    assert isinstance(book, CorrespondentsDialog)
    assert len(book.rows) >= 5  # the demo book
    book.search.setText("pharma")
    assert [c.profession for c in book.rows] == ["Pharmacie"]

    book.new_button.click()
    book.family_name.setText("LEROUX")
    book.rpps.setText("12345678901")
    book.mssante.setText("leroux@gmail.com")
    book.save_button.click()
    assert "clé de contrôle" in book.errors["rpps"].text() and book.errors["mssante_address"].isVisible()
    book.rpps.setText("")
    book.mssante.setText("anne.leroux@orthophonie.mssante.fr")
    book.given_name.setText("Anne")
    book.profession.setText("Orthophoniste")
    book.save_button.click()
    assert book.current is not None and book.current.id is not None
    book.role.setCurrentIndex(book.role.findData("correspondant"))
    book.link_button.click()
    assert any(r.name == "Anne LEROUX" for r in controller.letters.recipients)
    assert any("Anne LEROUX" in tab.recipient_box.itemText(i) for i in range(tab.recipient_box.count()))
    book.close()
