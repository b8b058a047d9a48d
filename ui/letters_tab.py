"""The "Courriers" tab of the patient file: letters list, rich-text editor with templates and merge fields,
print preview, PDF, and the correspondents book."""

from __future__ import annotations

import html
import itertools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFont, QKeySequence, QTextCharFormat, QTextDocument, QTextListFormat
from PySide6.QtPrintSupport import QPrinter, QPrintPreviewDialog
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextEdit,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.dto import PatientFile
from app.services.letters import DraftSaved, LetterPreview, LetterService
from app.tasks import Lane, LatestOnly, TaskRunner
from domain.errors import InvalidInput
from domain.letters import (
    IMAGES_DROPPED,
    MAX_LETTER_CHARS,
    Civility,
    Correspondent,
    Letter,
    LetterLine,
    LetterStatus,
    LetterTemplate,
    MergeField,
    Recipient,
    sanitise,
)
from domain.patient import CareRole
from ui.error_presenter import ErrorPresenter

log = logging.getLogger("lgc.ui.letters")

COLUMNS = ("Modifié le", "Titre", "Destinataire", "État", "Auteur")
AUTOSAVE_MS = 1500
"""The draft is saved this long after the last keystroke."""
MAX_RICH_PASTE = 200_000
"""Pasted HTML longer than this is inserted as plain text (sanitising it on the UI thread would freeze it)."""
EMPTY_TEXT = "Aucun courrier pour ce patient. Choisissez un modèle et un destinataire, puis « Nouveau courrier »."


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


# --------------------------------------------------------------------------------------------------------------
# The tab
# --------------------------------------------------------------------------------------------------------------


class LettersTab(QWidget):
    """List of the patient's letters and the "new letter" bar (layout only).

    Signals:
        new_requested(str, int): template key, index of the chosen recipient (-1: none).
        open_requested(int): letter id.
        book_requested(): open the correspondents book.
    """

    new_requested = Signal(str, int)
    open_requested = Signal(int)
    book_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.template_box = QComboBox()
        self.template_box.setMinimumWidth(260)
        self.recipient_box = QComboBox()
        self.recipient_box.setMinimumWidth(300)
        self.new_button = QPushButton("Nouveau courrier")
        self.new_button.setToolTip("Crée le courrier à partir du modèle, fusionné avec le dossier")
        self.book_button = QPushButton("Correspondants…")
        self.book_button.setToolTip("Carnet des correspondants du cabinet ; lier un correspondant au patient")
        bar.addWidget(QLabel("Modèle :"))
        bar.addWidget(self.template_box)
        bar.addWidget(QLabel("Destinataire :"))
        bar.addWidget(self.recipient_box, 1)
        bar.addWidget(self.new_button)
        bar.addWidget(self.book_button)
        layout.addLayout(bar)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.hide()
        layout.addWidget(self.notice)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self._open_selected)
        layout.addWidget(self.table, 1)
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #555;")
        layout.addWidget(self.empty)
        self.open_button = QPushButton("Ouvrir")
        self.open_button.clicked.connect(self._open_selected)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.open_button)
        layout.addLayout(row)
        self.rows: list[LetterLine] = []
        self.new_button.clicked.connect(
            lambda: self.new_requested.emit(
                str(self.template_box.currentData() or ""), self.recipient_box.currentIndex() - 1
            )
        )
        self.book_button.clicked.connect(self.book_requested)
        self.set_rows([])

    def set_templates(self, templates: Sequence[LetterTemplate]) -> None:
        """Fill the template chooser."""
        current = self.template_box.currentData()
        self.template_box.clear()
        for template in templates:
            self.template_box.addItem(template.title, template.key)
            self.template_box.setItemData(
                self.template_box.count() - 1, template.description, Qt.ItemDataRole.ToolTipRole
            )
        index = self.template_box.findData(current)
        self.template_box.setCurrentIndex(max(0, index))

    def set_recipients(self, recipients: Sequence[Recipient]) -> None:
        """Fill the recipient chooser (the patient's correspondents)."""
        self.recipient_box.clear()
        self.recipient_box.addItem("(aucun — à saisir dans le courrier)")
        for recipient in recipients:
            self.recipient_box.addItem(recipient.label)
        self.recipient_box.setCurrentIndex(1 if recipients else 0)

    def set_rows(self, rows: Sequence[LetterLine]) -> None:
        """Show the letters."""
        self.rows = list(rows)
        self.table.setRowCount(len(rows))
        for r, line in enumerate(rows):
            cells = (
                line.updated_at.astimezone().strftime("%d/%m/%Y %H:%M"),
                line.title,
                line.recipient,
                line.status.label_fr,
                line.author,
            )
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, line.id)
                self.table.setItem(r, c, item)
        self.table.setVisible(bool(rows))
        self.empty.setVisible(not rows)
        self.open_button.setEnabled(bool(rows))

    def set_notice(self, text: str) -> None:
        """A French sentence above the list ("" hides it)."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def _open_selected(self) -> None:
        row = self.table.currentRow()
        if 0 <= row < len(self.rows):
            self.open_requested.emit(self.rows[row].id)


# --------------------------------------------------------------------------------------------------------------
# The editor
# --------------------------------------------------------------------------------------------------------------


class LetterTextEdit(QTextEdit):
    """The letter body: rich text limited to the letter subset; pasted images are refused with a message.

    Signals:
        paste_notice(str): a French sentence about what a paste did not keep.
    """

    paste_notice = Signal(str)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802 - Qt override
        """Accept text and HTML; images are accepted only to say why they are not inserted."""
        return source.hasText() or source.hasHtml() or source.hasImage()

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 - Qt override
        """Insert the pasted content reduced to the letter subset (no image, no link, no foreign style)."""
        if source.hasHtml():
            raw = source.html()
            if len(raw) > MAX_RICH_PASTE:
                self.insertPlainText(source.text())
                self.paste_notice.emit("Texte collé très long : il a été repris sans sa mise en forme (gras, listes…).")
                return
            body = sanitise(raw)
            if body.html:
                self.textCursor().insertHtml(body.html)
            if body.notices:
                self.paste_notice.emit(" ".join(body.notices))
            return
        if source.hasText():
            self.insertPlainText(source.text())
            return
        if source.hasImage():
            self.paste_notice.emit(IMAGES_DROPPED)


class LetterEditor(QDialog):
    """Write a letter: title, recipient, subject, the body with a small toolbar, autosave, preview, validation.

    Signals:
        changed(): the user changed something (the controller saves the draft after a pause).
        preview_requested(): "Aperçu avant impression".
        validate_requested(): "Valider et produire le PDF".
        save_pdf_requested(): "Enregistrer le PDF…".
    """

    changed = Signal()
    preview_requested = Signal()
    validate_requested = Signal()
    save_pdf_requested = Signal()

    def __init__(
        self,
        letter: Letter,
        recipients: Sequence[Recipient],
        fields: Sequence[MergeField],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.letter = letter
        self.recipients = list(recipients)
        self.setWindowTitle(f"Courrier — {letter.title}")
        self.resize(900, 820)
        outer = QVBoxLayout(self)
        form = QFormLayout()
        self.title = QLineEdit(letter.title)
        self.recipient_box = QComboBox()
        self.recipient_box.addItem("(choisir parmi les correspondants du patient)")
        for recipient in self.recipients:
            self.recipient_box.addItem(recipient.label)
        self.recipient = QPlainTextEdit(letter.recipient)
        self.recipient.setFixedHeight(72)
        self.subject = QLineEdit(letter.subject)
        self.errors: dict[str, QLabel] = {}
        form.addRow("Titre :", self._with_error("title", self.title))
        form.addRow("Correspondant :", self.recipient_box)
        form.addRow("Destinataire :", self._with_error("recipient", self.recipient))
        form.addRow("Objet :", self._with_error("subject", self.subject))
        outer.addLayout(form)

        self.toolbar = QToolBar()
        self.bold_action = self._action("Gras", QKeySequence.StandardKey.Bold, self._toggle_bold, checkable=True)
        self.italic_action = self._action(
            "Italique", QKeySequence.StandardKey.Italic, self._toggle_italic, checkable=True
        )
        self.underline_action = self._action(
            "Souligné", QKeySequence.StandardKey.Underline, self._toggle_underline, checkable=True
        )
        self.toolbar.addSeparator()
        self.bullets_action = self._action("• Liste", None, lambda: self._list(QTextListFormat.Style.ListDisc))
        self.numbers_action = self._action("1. Liste", None, lambda: self._list(QTextListFormat.Style.ListDecimal))
        self.toolbar.addSeparator()
        self.fields_menu = QMenu("Insérer un champ", self)
        for merge_field in fields:
            action = self.fields_menu.addAction(merge_field.label)
            action.setData(merge_field.key)
            action.triggered.connect(lambda _c=False, key=merge_field.key: self.insert_field(key))
        fields_button = QToolButton()
        fields_button.setText("Insérer un champ")
        fields_button.setMenu(self.fields_menu)
        fields_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.toolbar.addWidget(fields_button)
        outer.addWidget(self.toolbar)

        self.body = LetterTextEdit()
        self.body.setAcceptRichText(True)
        self.body.setHtml(letter.body_html)
        font = QFont(self.body.font())
        font.setPointSize(11)
        self.body.document().setDefaultFont(font)
        outer.addWidget(self._with_error("corps", self.body), 1)
        self.status = QLabel()
        self.status.setWordWrap(True)
        outer.addWidget(self.status)
        self.count_label = QLabel()
        outer.addWidget(self.count_label)

        buttons = QHBoxLayout()
        self.preview_button = QPushButton("Aperçu avant impression")
        self.validate_button = QPushButton("Valider et produire le PDF")
        self.validate_button.setToolTip("Produit le PDF/A et le CDA du courrier ; il ne pourra plus être modifié")
        self.pdf_button = QPushButton("Enregistrer le PDF…")
        close = QPushButton("Fermer")
        close.clicked.connect(self.close)
        buttons.addWidget(self.preview_button)
        buttons.addStretch(1)
        for button in (close, self.pdf_button, self.validate_button):
            buttons.addWidget(button)
        outer.addLayout(buttons)
        self.preview_button.clicked.connect(self.preview_requested)
        self.validate_button.clicked.connect(self.validate_requested)
        self.pdf_button.clicked.connect(self.save_pdf_requested)

        for signal in (self.title.textEdited, self.subject.textEdited):
            signal.connect(self.changed)
        self.recipient.textChanged.connect(self.changed)
        self.body.textChanged.connect(self.changed)
        self.body.textChanged.connect(self._count)
        self.body.currentCharFormatChanged.connect(self._format_shown)
        self.body.paste_notice.connect(self.show_status)
        self.recipient_box.activated.connect(self._recipient_chosen)
        self.set_letter(letter)
        self._count()

    # -- layout helpers --------------------------------------------------------------------------------------
    def _with_error(self, key: str, widget: QWidget) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        layout.addWidget(widget)
        error = QLabel()
        error.setStyleSheet("color: #b00020;")
        error.setWordWrap(True)
        error.hide()
        layout.addWidget(error)
        self.errors[key] = error
        return box

    def _action(
        self, text: str, shortcut: QKeySequence.StandardKey | None, slot: Callable[[], None], *, checkable: bool = False
    ) -> QAction:
        action = QAction(text, self)
        action.setCheckable(checkable)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda _c=False: slot())
        self.toolbar.addAction(action)
        return action

    # -- formatting ------------------------------------------------------------------------------------------
    def _merge(self, fmt: QTextCharFormat) -> None:
        self.body.mergeCurrentCharFormat(fmt)
        self.body.setFocus()

    def _toggle_bold(self) -> None:
        fmt = QTextCharFormat()
        fmt.setFontWeight(QFont.Weight.Bold if self.bold_action.isChecked() else QFont.Weight.Normal)
        self._merge(fmt)

    def _toggle_italic(self) -> None:
        fmt = QTextCharFormat()
        fmt.setFontItalic(self.italic_action.isChecked())
        self._merge(fmt)

    def _toggle_underline(self) -> None:
        fmt = QTextCharFormat()
        fmt.setFontUnderline(self.underline_action.isChecked())
        self._merge(fmt)

    def _list(self, style: QTextListFormat.Style) -> None:
        cursor = self.body.textCursor()
        current = cursor.currentList()
        if current is not None and current.format().style() == style:
            # the same button again: back to a paragraph
            block_format = cursor.blockFormat()
            current.remove(cursor.block())
            block_format.setIndent(0)
            cursor.setBlockFormat(block_format)
        else:
            list_format = QTextListFormat()
            list_format.setStyle(style)
            cursor.createList(list_format)
        self.body.setFocus()

    def _format_shown(self, fmt: QTextCharFormat) -> None:
        self.bold_action.setChecked(fmt.fontWeight() >= QFont.Weight.DemiBold)
        self.italic_action.setChecked(fmt.fontItalic())
        self.underline_action.setChecked(fmt.fontUnderline())

    def insert_field(self, key: str) -> None:
        """Insert ``{{key}}`` at the cursor (merged when the letter is validated, and in the preview)."""
        self.body.textCursor().insertText("{{" + key + "}}")
        self.body.setFocus()

    def _recipient_chosen(self, index: int) -> None:
        if 1 <= index <= len(self.recipients):
            self.recipient.setPlainText(self.recipients[index - 1].block)

    @property
    def chosen_correspondent(self) -> int | None:
        """The book id of the recipient picked in this editor (0 when one without id was picked, None if none)."""
        index = self.recipient_box.currentIndex()
        if 1 <= index <= len(self.recipients):
            return self.recipients[index - 1].correspondent_id or 0
        return None

    # -- state ---------------------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """What the user wrote (the body as HTML, sanitised by the service)."""
        return {
            "title": self.title.text(),
            "subject": self.subject.text(),
            "recipient": self.recipient.toPlainText(),
            "body_html": self.body.toHtml(),
            "correspondent_id": self.chosen_correspondent,
        }

    def set_letter(self, letter: Letter) -> None:
        """Take the saved letter (its row version, and read-only once validated)."""
        self.letter = letter
        frozen = letter.status is LetterStatus.VALIDATED
        for widget in (self.title, self.subject):
            widget.setReadOnly(frozen)
        self.recipient.setReadOnly(frozen)
        self.body.setReadOnly(frozen)
        self.recipient_box.setEnabled(not frozen)
        self.toolbar.setEnabled(not frozen)
        self.validate_button.setEnabled(not frozen)
        self.pdf_button.setEnabled(frozen)
        if frozen:
            self.setWindowTitle(f"Courrier — {letter.title} (validé)")

    def show_status(self, text: str, *, error: bool = False) -> None:
        """A French sentence under the editor."""
        self.status.setText(text)
        self.status.setStyleSheet("color: #b00020;" if error else "color: #1d2b3a;")

    def show_errors(self, errors: dict[str, str]) -> None:
        """Messages next to their fields (others in the status line)."""
        for key, label in self.errors.items():
            label.setText(errors.get(key, ""))
            label.setVisible(key in errors)
        loose = [m for k, m in errors.items() if k not in self.errors]
        if loose:
            self.show_status(" ; ".join(loose), error=True)

    def _count(self) -> None:
        count = max(0, self.body.document().characterCount() - 1)
        over = count > MAX_LETTER_CHARS
        text = f"{count:,} caractères".replace(",", "\u202f")
        if over:
            text += (
                f" — au-delà de {MAX_LETTER_CHARS:,} (environ 30 pages), le courrier ne pourra pas être validé".replace(
                    ",", "\u202f"
                )
            )
        self.count_label.setText(text)
        self.count_label.setStyleSheet("color: #b00020;" if over else "color: #555;")


def preview_html(preview: LetterPreview) -> str:
    """The letter as HTML for Qt's print preview (same parts as the PDF: letterhead, recipient, date, body…)."""
    head = "<br/>".join(
        (f"<b style='font-size:13pt'>{_escape(line)}</b>" if i == 0 else _escape(line))
        for i, line in enumerate(preview.letterhead)
    )
    recipient = "<br/>".join(_escape(line) for line in preview.recipient)
    signature = _escape(preview.signature)
    return (
        "<html><body style='font-family: DejaVu Sans, sans-serif; font-size: 10.5pt;'>"
        f"<p style='font-size:9pt'>{head}</p><hr/>"
        f"<table width='100%'><tr><td width='55%'></td><td><b>{recipient}</b></td></tr></table>"
        f"<p align='right'>{_escape(preview.place_date)}</p>"
        f"<p><b>Objet :</b> {_escape(preview.subject)}</p>"
        f"{preview.body_html}"
        f"<table width='100%'><tr><td width='55%'></td><td><br/><b>{signature}</b></td></tr></table>"
        f"<p style='font-size:7.5pt; color:#333'>{_escape(preview.footer)}</p>"
        "</body></html>"
    )


# --------------------------------------------------------------------------------------------------------------
# The correspondents book
# --------------------------------------------------------------------------------------------------------------

ROLES = (CareRole.CORRESPONDENT, CareRole.ATTENDING_DOCTOR, CareRole.PRESCRIBER)


class CorrespondentsDialog(QDialog):
    """The practice's correspondents book: search, add, edit, link to the patient (layout only).

    Signals:
        search_requested(str): the search text changed.
        save_requested(object): a Correspondent to add (id None) or change.
        link_requested(int, str): correspondent id, CareRole value.
        unlink_requested(int): correspondent id.
    """

    search_requested = Signal(str)
    save_requested = Signal(object)
    link_requested = Signal(int, str)
    unlink_requested = Signal(int)

    def __init__(self, patient_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Carnet des correspondants")
        self.resize(1000, 640)
        outer = QVBoxLayout(self)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Rechercher : nom, profession, ville…")
        self.search.setClearButtonEnabled(True)
        outer.addWidget(self.search)
        split = QSplitter()
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(("Nom", "Profession", "Ville", "MSSanté"))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        left_layout.addWidget(self.table, 1)
        self.linked_label = QLabel()
        self.linked_label.setWordWrap(True)
        left_layout.addWidget(self.linked_label)
        split.addWidget(left)

        right = QWidget()
        form = QFormLayout(right)
        self.civility = QComboBox()
        for civility in Civility:
            self.civility.addItem(civility.short or "—", civility.value)
        self.family_name = QLineEdit()
        self.given_name = QLineEdit()
        self.profession = QLineEdit()
        self.profession.setPlaceholderText("Médecin généraliste, Pharmacie, Kinésithérapeute…")
        self.rpps = QLineEdit()
        self.rpps.setPlaceholderText("11 chiffres (facultatif)")
        self.address = QPlainTextEdit()
        self.address.setFixedHeight(64)
        self.phone = QLineEdit()
        self.mssante = QLineEdit()
        self.mssante.setPlaceholderText("prenom.nom@domaine.mssante.fr")
        self.notes = QPlainTextEdit()
        self.notes.setFixedHeight(50)
        self.errors: dict[str, QLabel] = {}
        for key, label, widget in (
            ("civility", "Civilité", self.civility),
            ("family_name", "Nom ou raison sociale *", self.family_name),
            ("given_name", "Prénom", self.given_name),
            ("profession", "Profession, spécialité", self.profession),
            ("rpps", "RPPS", self.rpps),
            ("address", "Adresse", self.address),
            ("phone", "Téléphone", self.phone),
            ("mssante_address", "Adresse MSSanté", self.mssante),
            ("notes", "Notes", self.notes),
        ):
            box = QWidget()
            layout = QVBoxLayout(box)
            layout.setContentsMargins(0, 0, 0, 0)
            layout.setSpacing(1)
            layout.addWidget(widget)
            error = QLabel()
            error.setStyleSheet("color: #b00020;")
            error.setWordWrap(True)
            error.hide()
            layout.addWidget(error)
            self.errors[key] = error
            form.addRow(label + " :", box)
        self.new_button = QPushButton("Nouveau")
        self.save_button = QPushButton("Enregistrer")
        row = QHBoxLayout()
        row.addWidget(self.new_button)
        row.addStretch(1)
        row.addWidget(self.save_button)
        form.addRow(row)
        self.role = QComboBox()
        for role in ROLES:
            self.role.addItem(role.label_fr, role.value)
        self.link_button = QPushButton(f"Lier à {patient_label}")
        self.unlink_button = QPushButton("Retirer le lien")
        link_row = QHBoxLayout()
        link_row.addWidget(QLabel("Rôle :"))
        link_row.addWidget(self.role)
        link_row.addWidget(self.link_button)
        link_row.addWidget(self.unlink_button)
        form.addRow(link_row)
        self.status = QLabel()
        self.status.setWordWrap(True)
        form.addRow(self.status)
        split.addWidget(right)
        split.setSizes([560, 440])
        outer.addWidget(split, 1)
        close = QPushButton("Fermer")
        close.clicked.connect(self.accept)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(close)
        outer.addLayout(bottom)

        self.rows: list[Correspondent] = []
        self.current: Correspondent | None = None
        self.search.textChanged.connect(self.search_requested)
        self.table.itemSelectionChanged.connect(self._selected)
        self.new_button.clicked.connect(lambda: self.edit(None))
        self.save_button.clicked.connect(lambda: self.save_requested.emit(self.correspondent()))
        self.link_button.clicked.connect(self._link)
        self.unlink_button.clicked.connect(self._unlink)
        self.edit(None)

    def set_rows(self, rows: Sequence[Correspondent]) -> None:
        """Show the search results."""
        self.rows = list(rows)
        self.table.setRowCount(len(rows))
        for r, c in enumerate(rows):
            city = c.address.splitlines()[-1] if c.address else ""
            for col, text in enumerate((c.display_name, c.profession, city, c.mssante_address)):
                self.table.setItem(r, col, QTableWidgetItem(text))

    def set_linked(self, recipients: Sequence[Recipient]) -> None:
        """The patient's correspondents, under the list."""
        names = ", ".join(r.label for r in recipients) or "aucun"
        self.linked_label.setText(f"<b>Correspondants du patient :</b> {_escape(names)}")

    def _selected(self) -> None:
        row = self.table.currentRow()
        if 0 <= row < len(self.rows):
            self.edit(self.rows[row])

    def edit(self, c: Correspondent | None) -> None:
        """Show a correspondent in the form (None: a new one)."""
        self.current = c
        c = c or Correspondent(None, "")
        self.civility.setCurrentIndex(max(0, self.civility.findData(c.civility.value)))
        self.family_name.setText(c.family_name)
        self.given_name.setText(c.given_name)
        self.profession.setText(c.profession)
        self.rpps.setText(c.rpps)
        self.address.setPlainText(c.address)
        self.phone.setText(c.phone)
        self.mssante.setText(c.mssante_address)
        self.notes.setPlainText(c.notes)
        self.link_button.setEnabled(c.id is not None)
        self.unlink_button.setEnabled(c.id is not None)
        self.show_errors({})

    def correspondent(self) -> Correspondent:
        """What the form holds."""
        return Correspondent(
            id=self.current.id if self.current else None,
            family_name=self.family_name.text(),
            given_name=self.given_name.text(),
            civility=Civility(self.civility.currentData() or ""),
            profession=self.profession.text(),
            rpps=self.rpps.text(),
            address=self.address.toPlainText(),
            phone=self.phone.text(),
            mssante_address=self.mssante.text(),
            notes=self.notes.toPlainText(),
        )

    def show_errors(self, errors: dict[str, str]) -> None:
        """Messages next to their fields."""
        for key, label in self.errors.items():
            label.setText(errors.get(key, ""))
            label.setVisible(key in errors)
        loose = [m for k, m in errors.items() if k not in self.errors]
        self.status.setText(" ; ".join(loose))

    def _link(self) -> None:
        if self.current is not None and self.current.id is not None:
            self.link_requested.emit(self.current.id, str(self.role.currentData()))

    def _unlink(self) -> None:
        if self.current is not None and self.current.id is not None:
            self.unlink_requested.emit(self.current.id)


# --------------------------------------------------------------------------------------------------------------
# The controller
# --------------------------------------------------------------------------------------------------------------


class LettersController(QObject):
    """Connects the tab, the editor and the book to the LetterService through the task runner (DB lane).

    Signals:
        document_produced: a letter was validated into a document (Documents tab and timeline show it).
    """

    document_produced = Signal()

    def __init__(
        self,
        letters: LetterService,
        tasks: TaskRunner,
        presenter: ErrorPresenter,
        window: QWidget,
        tab: LettersTab,
    ) -> None:
        super().__init__(window)
        self._letters = letters
        self._tasks = tasks
        self._presenter = presenter
        self._window = window
        self.tab = tab
        self.patient_id: int | None = None
        self.patient_label = ""
        self.recipients: list[Recipient] = []
        self.editor: LetterEditor | None = None
        self.book: CorrespondentsDialog | None = None
        self.preview_dialog: QPrintPreviewDialog | None = None
        self._requests = itertools.count(1)
        self._list_loads = LatestOnly(tasks)
        self._book_request = 0
        self.preview_document: QTextDocument | None = None
        self.preview_printer: QPrinter | None = None
        self._saving = False
        self._dirty = False
        self.save_timer = QTimer(self)
        self.save_timer.setSingleShot(True)
        self.save_timer.setInterval(AUTOSAVE_MS)
        self.save_timer.timeout.connect(self.save_draft)
        self.ask_pdf_path: Callable[[str], str] = self._ask_pdf_path
        """Returns where to write the PDF ("" when cancelled); tests replace it."""
        tab.new_requested.connect(self.new_letter)
        tab.open_requested.connect(self.open_letter)
        tab.book_requested.connect(self.open_book)

    # -- list ----------------------------------------------------------------------------------------------
    def show_file(self, file: PatientFile) -> None:
        """A patient file is shown: load its letters, the templates and the patient's correspondents."""
        if file.id != self.patient_id:
            self.tab.set_notice("")
            self.tab.set_rows([])
        self.patient_id = file.id
        traits = file.patient.identity.traits
        self.patient_label = f"{traits.used_name or traits.birth_name} {traits.first_birth_given_name}".strip()
        if self._letters.can_read():
            self.refresh()

    def refresh(self) -> None:
        """Reload the list, the templates and the correspondents off the UI thread (a later request wins)."""
        if self.patient_id is None:
            return
        patient_id, letters = self.patient_id, self._letters

        def load() -> tuple[list[LetterLine], list[LetterTemplate], list[Recipient]]:
            return letters.letters(patient_id), letters.templates(), letters.patient_correspondents(patient_id)

        def shown(result: tuple[list[LetterLine], list[LetterTemplate], list[Recipient]]) -> None:
            rows, templates, recipients = result
            self.recipients = recipients
            self.tab.set_rows(rows)
            self.tab.set_templates(templates)
            self.tab.set_recipients(recipients)

        self._list_loads.submit(
            load, on_success=shown, on_error=self._presenter.handler("Liste des courriers", self.refresh)
        )

    # -- editor --------------------------------------------------------------------------------------------
    def new_letter(self, template_key: str, recipient_index: int) -> None:
        """Create the merged draft, then open it."""
        if self.patient_id is None or not template_key:
            return
        recipient = self.recipients[recipient_index] if 0 <= recipient_index < len(self.recipients) else None
        patient_id, letters = self.patient_id, self._letters
        self._tasks.submit(
            lambda: letters.new_letter(patient_id, template_key, recipient),
            lane=Lane.DB,
            on_success=self._edit,
            on_error=self._presenter.handler("Nouveau courrier"),
        )

    def open_letter(self, letter_id: int) -> None:
        """Open a letter (a draft to go on writing, a validated one to read and save its PDF)."""
        letters = self._letters
        self._tasks.submit(
            lambda: letters.letter(letter_id),
            lane=Lane.DB,
            on_success=self._edit,
            on_error=self._presenter.handler("Ouverture du courrier"),
        )

    def _edit(self, letter: Letter) -> None:
        self.refresh()
        if self.editor is not None:
            self.flush()
            self.editor.close()
        editor = LetterEditor(letter, self.recipients, self._letters.merge_fields(), self._window)
        editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        editor.changed.connect(self._changed)
        editor.preview_requested.connect(self.preview)
        editor.validate_requested.connect(self.validate)
        editor.save_pdf_requested.connect(self.save_pdf)
        editor.finished.connect(lambda _r: self._closed(editor))
        self.editor = editor
        self._dirty = False
        editor.show_status(
            "Brouillon enregistré automatiquement pendant la saisie."
            if letter.status is LetterStatus.DRAFT
            else "Courrier validé : lecture seule. « Enregistrer le PDF… » pour en garder une copie."
        )
        editor.open()

    def _closed(self, editor: LetterEditor) -> None:
        if self.editor is editor:
            self.flush()
            self.editor = None
            self.refresh()

    def _changed(self) -> None:
        if self.editor is None or self.editor.letter.status is LetterStatus.VALIDATED:
            return
        self._dirty = True
        self.save_timer.start()

    def flush(self) -> None:
        """Save now what is waiting for the autosave timer."""
        if self.save_timer.isActive() or self._dirty:
            self.save_timer.stop()
            self.save_draft()

    def save_draft(self, then: Callable[[Letter], None] | None = None) -> None:
        """Save the draft off the UI thread (one save at a time; changes made meanwhile are saved next)."""
        editor = self.editor
        if editor is None or editor.letter.status is LetterStatus.VALIDATED:
            return
        if self._saving:
            self._dirty = True
            self.save_timer.start()
            return
        self._saving, self._dirty = True, False
        values = editor.values()
        letter, letters = editor.letter, self._letters
        chosen = values.pop("correspondent_id")

        def work() -> DraftSaved:
            return letters.save_draft(letter.id or 0, letter.row_version, correspondent_id=chosen, **values)

        def done(saved: DraftSaved) -> None:
            self._saving = False
            if self.editor is editor:
                editor.letter = saved.letter
                editor.show_errors({})
                when = saved.letter.updated_at.astimezone().strftime("%H:%M:%S")
                text = " ".join((f"Brouillon enregistré à {when}.", *saved.notices))
                editor.show_status(text, error=bool(saved.notices))
            if then is not None:
                then(saved.letter)

        def failed(exc: BaseException) -> None:
            self._saving = False
            if isinstance(exc, InvalidInput) and self.editor is editor:
                editor.show_errors(exc.field_errors)
                return
            self._presenter.present(exc, context="Enregistrement du brouillon", parent=editor)

        self._tasks.submit(work, lane=Lane.DB, on_success=done, on_error=failed)

    def preview(self) -> None:
        """Save, then show the print preview (merge fields expanded)."""
        editor = self.editor
        if editor is None:
            return
        letters = self._letters

        def show(letter: Letter) -> None:
            self._tasks.submit(
                lambda: letters.preview(letter.id or 0),
                lane=Lane.DB,
                on_success=self._show_preview,
                on_error=self._presenter.handler("Aperçu avant impression"),
            )

        if editor.letter.status is LetterStatus.VALIDATED:
            show(editor.letter)
        else:
            self.save_timer.stop()
            self.save_draft(then=show)

    def _show_preview(self, preview: LetterPreview) -> None:
        document = QTextDocument(self)
        document.setHtml(preview_html(preview))
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setDocName(preview.title)
        dialog = QPrintPreviewDialog(printer, self.editor or self._window)
        dialog.setWindowTitle(f"Aperçu avant impression — {preview.title}")
        dialog.paintRequested.connect(document.print_)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: setattr(self, "preview_dialog", None))
        self.preview_dialog = dialog
        self.preview_document = document
        # The dialog does not own the printer: without this reference Python frees it under the dialog's feet.
        self.preview_printer = printer
        dialog.open()

    def validate(self) -> None:
        """Save, then validate: the PDF/A and the CDA are produced; the letter is then read-only."""
        editor = self.editor
        if editor is None:
            return
        letters = self._letters

        def go(letter: Letter) -> None:
            self._tasks.submit(
                lambda: letters.validate(letter.id or 0, letter.row_version),
                lane=Lane.DB,
                on_success=validated,
                on_error=failed,
            )

        def validated(letter: Letter) -> None:
            if self.editor is editor:
                editor.set_letter(letter)
                editor.show_errors({})
                editor.show_status(
                    "Courrier validé : PDF/A et CDA produits (onglet Documents). Il n'est plus modifiable."
                )
            self.tab.set_notice(f"« {letter.title} » validé : le PDF est dans l'onglet Documents.")
            self.refresh()
            self.document_produced.emit()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, InvalidInput) and self.editor is editor:
                editor.show_errors(exc.field_errors)
                editor.show_status("Le courrier n'est pas validé : corrigez ce qui est indiqué.", error=True)
                return
            self._presenter.present(exc, context="Validation du courrier", parent=editor)

        self.save_timer.stop()
        self.save_draft(then=go)

    def save_pdf(self) -> None:
        """Write the validated letter's PDF/A where the user chooses."""
        editor = self.editor
        if editor is None or editor.letter.id is None:
            return
        letter_id, letters = editor.letter.id, self._letters

        def write(file: Any) -> None:
            path = self.ask_pdf_path(file.file_name)
            if not path:
                return
            try:
                Path(path).write_bytes(file.data)
            except OSError as exc:
                log.warning("Letter PDF not written: %s", exc)
                QMessageBox.warning(editor, "Enregistrer le PDF", f"Le fichier n'a pas pu être écrit : {exc.strerror}.")
                return
            editor.show_status(f"PDF enregistré : {path}")

        self._tasks.submit(
            lambda: letters.pdf(letter_id),
            lane=Lane.DB,
            on_success=write,
            on_error=self._presenter.handler("PDF du courrier"),
        )

    def _ask_pdf_path(self, file_name: str) -> str:
        path, _filter = QFileDialog.getSaveFileName(
            self.editor or self._window, "Enregistrer le PDF du courrier", str(Path.home() / file_name), "PDF (*.pdf)"
        )
        return path

    # -- correspondents book -------------------------------------------------------------------------------
    def open_book(self) -> None:
        """Open the correspondents book."""
        dialog = CorrespondentsDialog(self.patient_label or "ce patient", self._window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.search_requested.connect(self.search_book)
        dialog.save_requested.connect(self.save_correspondent)
        dialog.link_requested.connect(self.link)
        dialog.unlink_requested.connect(self.unlink)
        dialog.finished.connect(lambda _r: self._book_closed(dialog))
        self.book = dialog
        dialog.set_linked(self.recipients)
        dialog.open()
        self.search_book("")

    def _book_closed(self, dialog: CorrespondentsDialog) -> None:
        if self.book is dialog:
            self.book = None
        self.refresh()

    def search_book(self, text: str) -> None:
        """Search the book (a later search wins)."""
        letters = self._letters
        request = next(self._requests)
        self._book_request = request

        def shown(rows: list[Correspondent]) -> None:
            if self.book is not None and request == self._book_request:
                self.book.set_rows(rows)

        self._tasks.submit(
            lambda: letters.search_correspondents(text),
            lane=Lane.DB,
            on_success=shown,
            on_error=self._presenter.handler("Carnet"),
        )

    def save_correspondent(self, correspondent: Correspondent) -> None:
        """Add or change a correspondent."""
        letters, book = self._letters, self.book

        def done(saved: Correspondent) -> None:
            if self.book is book and book is not None:
                book.edit(saved)
                book.status.setText(f"{saved.display_name} enregistré dans le carnet.")
                self.search_book(book.search.text())

        def failed(exc: BaseException) -> None:
            if isinstance(exc, InvalidInput) and self.book is book and book is not None:
                book.show_errors(exc.field_errors)
                return
            self._presenter.present(exc, context="Carnet des correspondants", parent=book)

        self._tasks.submit(
            lambda: letters.save_correspondent(correspondent), lane=Lane.DB, on_success=done, on_error=failed
        )

    def link(self, correspondent_id: int, role: str) -> None:
        """Link the correspondent to the open patient."""
        if self.patient_id is None:
            return
        patient_id, letters = self.patient_id, self._letters

        def work() -> list[Recipient]:
            letters.link(patient_id, correspondent_id, CareRole(role))
            return letters.patient_correspondents(patient_id)

        self._tasks.submit(
            work, lane=Lane.DB, on_success=self._linked, on_error=self._presenter.handler("Lien au patient")
        )

    def unlink(self, correspondent_id: int) -> None:
        """Remove the link with the open patient."""
        if self.patient_id is None:
            return
        patient_id, letters = self.patient_id, self._letters

        def work() -> list[Recipient]:
            letters.unlink(patient_id, correspondent_id)
            return letters.patient_correspondents(patient_id)

        self._tasks.submit(
            work, lane=Lane.DB, on_success=self._linked, on_error=self._presenter.handler("Lien au patient")
        )

    def _linked(self, recipients: list[Recipient]) -> None:
        self.recipients = recipients
        self.tab.set_recipients(recipients)
        if self.book is not None:
            self.book.set_linked(recipients)
            self.book.status.setText("Correspondants du patient mis à jour.")
