"""The "Documents" tab of the patient file: list, viewer (PDF first, structured view on demand), form, import."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QBuffer,
    QByteArray,
    QDate,
    QIODevice,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.dto import PatientFile
from app.services.documents import DocumentService, ImportReport, OpenedDocument
from app.tasks import Lane, LatestOnly, TaskRunner
from domain.documents import (
    DOCUMENT_KINDS,
    DocumentKind,
    DocumentRow,
    DocumentStatus,
    DuplicateVerdict,
    HealthDocument,
    Provenance,
    document_kind,
    document_lines,
)
from domain.errors import InvalidInput
from ui.error_presenter import ErrorPresenter

log = logging.getLogger("lgc.ui.documents")

COLUMNS = ("Date de l'acte", "Type", "Titre", "Auteur", "Provenance", "Envoyé DMP", "Envoyé MSSanté", "État")
MAX_IMPORT_FILE = 60 * 1024 * 1024
EMPTY_TEXT = "Aucun document. Créez-en un, ou glissez-déposez ici un fichier CDA, une archive IHE_XDM.ZIP ou un PDF."


def _state(row: DocumentRow) -> str:
    parts = []
    if row.status is DocumentStatus.DRAFT:
        parts.append("Brouillon")
    if row.version > 1:
        parts.append(f"v{row.version}")
    if row.has_structured_body:
        parts.append("N3 + PDF")
    if row.superseded:
        parts.append("⚠ version plus récente disponible")
    return " · ".join(parts) or "Validé"


def _cells(row: DocumentRow) -> tuple[str, ...]:
    return (
        row.act_date.astimezone().strftime("%d/%m/%Y"),
        row.type_display,
        row.title,
        row.author,
        row.provenance.label_fr,
        "✔ Oui" if row.sent_dmp else "—",
        "✔ Oui" if row.sent_mss else "—",
        _state(row),
    )


class DocumentTableModel(QAbstractTableModel):
    """The patient's documents, sorted and filtered here (a proxy model is ten times slower on 1,000 rows).

    Display texts are computed once per row when the list is set, so painting costs a tuple lookup.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.all_rows: list[tuple[DocumentRow, tuple[str, ...]]] = []
        self.visible: list[tuple[DocumentRow, tuple[str, ...]]] = []
        self.type_code = ""
        self.since: dt.date | None = None
        self.sort_column = 0
        self.sort_order = Qt.SortOrder.DescendingOrder

    @property
    def rows(self) -> list[DocumentRow]:
        """The rows shown, in display order."""
        return [row for row, _ in self.visible]

    def set_rows(self, rows: Sequence[DocumentRow]) -> None:
        """Replace the content (the current sort and filter apply)."""
        self.all_rows = [(row, _cells(row)) for row in rows]
        self._apply()

    def set_filter(self, type_code: str, since: dt.date | None) -> None:
        """Show only one type and/or acts from a day on."""
        self.type_code, self.since = type_code, since
        self._apply()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Qt API: sort by a column (act date by its instant, others by their text)."""
        self.sort_column, self.sort_order = column, order
        self._apply()

    def _apply(self) -> None:
        self.beginResetModel()
        since = self.since
        kept = [
            item
            for item in self.all_rows
            if (not self.type_code or item[0].type_code == self.type_code)
            and (since is None or item[0].act_date.astimezone().date() >= since)
        ]
        column = self.sort_column
        if column == 0:
            kept.sort(key=lambda item: (item[0].act_date, item[0].id))
        else:
            kept.sort(key=lambda item: (item[1][column].lower(), item[0].act_date))
        if self.sort_order == Qt.SortOrder.DescendingOrder:
            kept.reverse()
        self.visible = kept
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        """Qt API."""
        return 0 if parent.isValid() else len(self.visible)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        """Qt API."""
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        """Qt API."""
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Qt API: display text, tooltips and colours."""
        if not index.isValid():
            return None
        row, cells = self.visible[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return cells[column]
        if role == Qt.ItemDataRole.ToolTipRole and column == 7 and row.superseded:
            return "Une version plus récente de ce document est dans le dossier."
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == 7 and row.superseded:
                return QColor("#9a5b00")
            if row.status is DocumentStatus.DRAFT:
                return QColor("#6b6b6b")
        return None


class DocumentsTab(QWidget):
    """List of the patient's documents with type/date filters, provenance and sent flags visible.

    Signals:
        new_requested(str): the user asked for a new document of this typeCode.
        import_requested(list): file paths chosen or dropped.
        open_requested(int): a document row id to open.
    """

    new_requested = Signal(str)
    import_requested = Signal(list)
    open_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        bar = QHBoxLayout()
        self.new_kind = QComboBox()
        for kind in DOCUMENT_KINDS:
            self.new_kind.addItem(kind.title if kind.code != "87273-9" else "Note de vaccination", kind.code)
        self.new_button = QPushButton("Nouveau document…")
        self.new_button.clicked.connect(lambda: self.new_requested.emit(self.new_kind.currentData()))
        self.import_button = QPushButton("Importer…")
        self.import_button.setToolTip("Importer un CDA (N1/N3), une archive IHE_XDM.ZIP ou un PDF (ou glissez-déposez)")
        self.import_button.clicked.connect(self.choose_files)
        self.type_filter = QComboBox()
        self.type_filter.setMaximumWidth(260)
        self.type_filter.addItem("Tous les types", "")
        for kind in DOCUMENT_KINDS:
            self.type_filter.addItem(kind.display_name, kind.code)
        self.since_check = QCheckBox("Actes depuis le")
        self.since_edit = QDateEdit(QDate.currentDate().addYears(-1))
        self.since_edit.setDisplayFormat("dd/MM/yyyy")
        self.since_edit.setCalendarPopup(True)
        self.since_edit.setEnabled(False)
        left: tuple[QWidget, ...] = (self.new_kind, self.new_button, self.import_button)
        for widget in left:
            bar.addWidget(widget)
        bar.addStretch(1)
        right: tuple[QWidget, ...] = (QLabel("Filtrer :"), self.type_filter, self.since_check, self.since_edit)
        for widget in right:
            bar.addWidget(widget)
        layout.addLayout(bar)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setObjectName("documentsNotice")
        self.notice.setStyleSheet("#documentsNotice { background: #eef3fa; border: 1px solid #9fb3cc; padding: 3px; }")
        self.notice.hide()
        layout.addWidget(self.notice)
        self.model = DocumentTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((110, 230, 250, 130, 90, 85, 105)):
            self.table.setColumnWidth(column, width)
        self.table.doubleClicked.connect(self._activated)
        self.table.activated.connect(self._activated)
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #555; font-size: 11pt;")
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty, 1)
        self.count_label = QLabel()
        layout.addWidget(self.count_label)
        self.type_filter.currentIndexChanged.connect(self._filter)
        self.since_check.toggled.connect(self.since_edit.setEnabled)
        self.since_check.toggled.connect(self._filter)
        self.since_edit.dateChanged.connect(self._filter)
        self.file_dialog: QFileDialog | None = None
        self.set_rows([])

    def set_rows(self, rows: Sequence[DocumentRow]) -> None:
        """Show the list (newest act first unless the user sorted otherwise)."""
        self.model.set_rows(rows)
        self.table.setVisible(bool(rows))
        self.empty.setVisible(not rows)
        self._count()

    def set_notice(self, text: str) -> None:
        """A sentence above the list ("" hides it): import results, progress."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def _filter(self) -> None:
        since = self.since_edit.date().toPython() if self.since_check.isChecked() else None
        self.model.set_filter(self.type_filter.currentData() or "", since)  # type: ignore[arg-type]
        self._count()

    def _count(self) -> None:
        shown, total = self.model.rowCount(), len(self.model.all_rows)
        text = f"{total} document{'s' if total > 1 else ''}"
        if shown != total:
            text = f"{shown} affiché{'s' if shown > 1 else ''} sur {text}"
        self.count_label.setText(text)

    def _activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_requested.emit(self.model.visible[index.row()][0].id)

    def choose_files(self) -> None:
        """The file dialog (non-blocking)."""
        dialog = QFileDialog(self, "Importer des documents de santé")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.setNameFilters(["Documents de santé (*.xml *.XML *.zip *.ZIP *.pdf *.PDF)", "Tous les fichiers (*)"])
        dialog.filesSelected.connect(lambda files: self.import_requested.emit(list(files)))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.file_dialog = dialog
        dialog.open()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        """Accept local files."""
        if event.mimeData().hasUrls() and all(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt API)
        """Import the dropped files."""
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.import_requested.emit(paths)


class DocumentViewer(QDialog):
    """One document: its PDF first (SC.CDA/VISU.03), the structured document one click away (VISU.01).

    Signals:
        edit_requested(int), validate_requested(int), new_version_requested(int): actions on the document.
    """

    edit_requested = Signal(int)
    validate_requested = Signal(int)
    new_version_requested = Signal(int)

    def __init__(self, opened: OpenedDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from PySide6.QtPdf import QPdfDocument
        from PySide6.QtPdfWidgets import QPdfView

        doc = opened.document
        self.document = doc
        self.setWindowTitle(f"{doc.title} — {doc.type_display or 'Document'}")
        self.resize(900, 1000)
        layout = QVBoxLayout(self)
        info = QLabel(
            f"<b>{_html(doc.title)}</b> — acte du {doc.act_date.astimezone().strftime('%d/%m/%Y')} — "
            f"{_html(doc.author_display)} — {doc.provenance.label_fr} — version {doc.version}"
            + (" — <i>brouillon</i>" if doc.status is DocumentStatus.DRAFT else "")
        )
        info.setWordWrap(True)
        layout.addWidget(info)
        self.notice = QLabel(opened.newer_version_notice)
        self.notice.setObjectName("newerVersion")
        self.notice.setStyleSheet("#newerVersion { background: #fff4d6; border: 1px solid #e0b44c; padding: 4px; }")
        self.notice.setVisible(bool(opened.newer_version_notice))
        layout.addWidget(self.notice)
        self.tabs = QTabWidget()
        self.pdf_document = QPdfDocument(self)
        self.pdf_view = QPdfView()
        self.pdf_view.setDocument(self.pdf_document)
        self.pdf_view.setPageMode(QPdfView.PageMode.MultiPage)
        self.pdf_view.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        self._buffer: QBuffer | None = None
        if opened.pdf:
            self._bytes = QByteArray(opened.pdf)
            self._buffer = QBuffer(self._bytes, self)
            self._buffer.open(QIODevice.OpenModeFlag.ReadOnly)
            self.pdf_document.load(self._buffer)
            self.tabs.addTab(self.pdf_view, "PDF")
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        if opened.html:
            self.browser.setHtml(opened.html)
            label = "Document structuré (CDA N3)" if opened.structured else "En-tête CDA"
            self.tabs.addTab(self.browser, label)
        layout.addWidget(self.tabs, 1)
        buttons = QHBoxLayout()
        self.switch_button = QPushButton(
            "Afficher le document structuré" if opened.structured else "Afficher l'en-tête CDA"
        )
        self.switch_button.setVisible(self.tabs.count() > 1)
        self.switch_button.clicked.connect(self._switch)
        buttons.addWidget(self.switch_button)
        buttons.addStretch(1)
        row_id = doc.id or 0
        produced = doc.provenance is Provenance.PRODUCED
        if produced and doc.status is DocumentStatus.DRAFT:
            self.edit_button = QPushButton("Modifier…")
            self.edit_button.clicked.connect(lambda: self.edit_requested.emit(row_id))
            buttons.addWidget(self.edit_button)
        if (
            produced
            and doc.status is DocumentStatus.VALIDATED
            and not doc.superseded
            and not opened.newer_version_notice
        ):
            self.version_button = QPushButton("Nouvelle version…")
            self.version_button.setToolTip("Corriger ce document : la nouvelle version remplacera celle-ci")
            self.version_button.clicked.connect(lambda: self.new_version_requested.emit(row_id))
            buttons.addWidget(self.version_button)
        close = QPushButton("Fermer")
        close.clicked.connect(self.accept)
        buttons.addWidget(close)
        layout.addLayout(buttons)

    def _switch(self) -> None:
        self.tabs.setCurrentIndex(1 - self.tabs.currentIndex())
        on_pdf = self.tabs.currentIndex() == 0
        self.switch_button.setText("Afficher le document structuré" if on_pdf else "Afficher le PDF")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")



def replace_viewer(
    previous: DocumentViewer | None, opened: OpenedDocument, parent: QWidget, forget: Callable[[], None]
) -> DocumentViewer:
    """Close the viewer already open (if any) and open one on ``opened``; ``forget`` runs when it is closed."""
    if previous is not None:
        previous.close()
    viewer = DocumentViewer(opened, parent)
    viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    viewer.finished.connect(lambda _r: forget())
    viewer.open()
    return viewer

class DocumentForm(QDialog):
    """Edit a draft: title, act date and every field of its kind; save as draft or validate.

    Signals:
        save_requested(dict): the values, with ``"_validate"`` True when the user asked to validate.
    """

    save_requested = Signal(dict)

    def __init__(self, document: HealthDocument, today: dt.date, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        kind: DocumentKind = document.kind or document_kind(document.type_code)
        self.setWindowTitle(f"{kind.display_name} — brouillon")
        self.resize(720, 760)
        outer = QVBoxLayout(self)
        patient = document.patient
        head = QLabel(
            f"Patient(e) : <b>{_html(patient.display_name)}</b> — né(e) le "
            f"{patient.birth_date.strftime('%d/%m/%Y') if patient.birth_date else '?'}"
            + (" — INS qualifié" if patient.qualified else " — identité non qualifiée (INS non transmis)")
        )
        head.setWordWrap(True)
        outer.addWidget(head)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        content = QWidget()
        self.form = QFormLayout(content)
        self.title = QLineEdit(document.title)
        self.act_date = QDateEdit(QDate(document.act_date.year, document.act_date.month, document.act_date.day))
        self.act_date.setDisplayFormat("dd/MM/yyyy")
        self.act_date.setCalendarPopup(True)
        self.act_date.setMaximumDate(QDate(today.year, today.month, today.day))
        self.errors: dict[str, QLabel] = {}
        self._add("title", "Titre", self.title)
        self._add("act_date", "Date de l'acte", self.act_date)
        self.inputs: dict[str, QLineEdit | QPlainTextEdit | QComboBox] = {}
        for spec in kind.fields:
            widget: QLineEdit | QPlainTextEdit | QComboBox
            value = document.value(spec.key)
            if spec.structured and spec.key == "corps_html":
                continue  # a letter's rich body, written by the Courriers tab; its plain text is the "corps" field
            if spec.structured:
                # Filled by its own editor (the prescription lines): shown read-only, never sent back from here.
                lines = document_lines(document)
                shown = QLabel(
                    "<br/>".join(f"{n}. {_html(line.summary())}" for n, line in enumerate(lines, start=1))
                    or "<i>Aucune ligne structurée (saisie depuis l'onglet Prescriptions).</i>"
                )
                shown.setWordWrap(True)
                shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                self._add(spec.key, spec.label, shown)
                continue
            if spec.choices:
                widget = QComboBox()
                for code, label in spec.choices:
                    widget.addItem(label, code)
                widget.setCurrentIndex(max(0, widget.findData(value)))
            elif spec.multiline:
                widget = QPlainTextEdit(value)
                widget.setMinimumHeight(70)
            else:
                widget = QLineEdit(value)
            self.inputs[spec.key] = widget
            self._add(spec.key, spec.label + (" *" if spec.required else ""), widget)
        scroll.setWidget(content)
        outer.addWidget(scroll, 1)
        outer.addWidget(QLabel("* champ obligatoire pour valider. Un document validé ne peut plus être modifié."))
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Enregistrer le brouillon")
        self.validate_button = QPushButton("Valider le document")
        self.validate_button.setToolTip("Produit le PDF/A et le CDA ; le document ne pourra plus être modifié")
        cancel = QPushButton("Annuler")
        self.save_button.clicked.connect(lambda: self.save_requested.emit(self.values(validate=False)))
        self.validate_button.clicked.connect(lambda: self.save_requested.emit(self.values(validate=True)))
        cancel.clicked.connect(self.reject)
        buttons.addStretch(1)
        for button in (cancel, self.save_button, self.validate_button):
            buttons.addWidget(button)
        outer.addLayout(buttons)

    def _add(self, key: str, label: str, widget: QWidget) -> None:
        error = QLabel()
        error.setStyleSheet("color: #b00020;")
        error.setWordWrap(True)
        error.hide()
        self.errors[key] = error
        box = QVBoxLayout()
        box.setSpacing(1)
        box.addWidget(widget)
        box.addWidget(error)
        self.form.addRow(label + " :", box)

    def values(self, *, validate: bool) -> dict[str, Any]:
        """What the user typed."""
        fields: dict[str, str] = {}
        for key, widget in self.inputs.items():
            if isinstance(widget, QComboBox):
                fields[key] = str(widget.currentData() or "")
            elif isinstance(widget, QPlainTextEdit):
                fields[key] = widget.toPlainText()
            else:
                fields[key] = widget.text()
        return {
            "title": self.title.text(),
            "act_date": self.act_date.date().toPython(),
            "values": fields,
            "_validate": validate,
        }

    def show_errors(self, errors: dict[str, str]) -> None:
        """Show French messages next to their fields (others at the top of the form)."""
        for key, label in self.errors.items():
            label.setText(errors.get(key, ""))
            label.setVisible(key in errors)
        loose = [m for k, m in errors.items() if k not in self.errors]
        if loose:
            self.errors["title"].setText(" ; ".join(loose))
            self.errors["title"].show()


class DocumentsController(QObject):
    """Connects the tab, the viewer and the form to the DocumentService through the task runner.

    Signals:
        changed: a document was saved, validated or imported (the timeline of the record shows it).
    """

    changed = Signal()

    def __init__(
        self,
        documents: DocumentService,
        tasks: TaskRunner,
        presenter: ErrorPresenter,
        window: QWidget,
        tab: DocumentsTab,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        super().__init__(window)
        self._docs = documents
        self._tasks = tasks
        self._presenter = presenter
        self._window = window
        self.tab = tab
        self._today = today
        self.patient_id: int | None = None
        self._list_loads = LatestOnly(tasks)
        self.viewer: DocumentViewer | None = None
        self.form: DocumentForm | None = None
        self.question: QMessageBox | None = None
        tab.new_requested.connect(self.new_document)
        tab.open_requested.connect(self.open_document)
        tab.import_requested.connect(self.import_files)

    def show_file(self, file: PatientFile) -> None:
        """A patient file is shown: load its documents."""
        if file.id != self.patient_id:
            self.tab.set_notice("")
            self.tab.set_rows([])
        self.patient_id = file.id
        if self._docs.can_read():
            self.refresh()

    def refresh(self) -> None:
        """Reload the list off the UI thread (a later request wins)."""
        if self.patient_id is None:
            return
        patient_id, docs = self.patient_id, self._docs
        self._list_loads.submit(
            lambda: docs.list_documents(patient_id),
            on_success=self.tab.set_rows,
            on_error=self._presenter.handler("Liste des documents", self.refresh),
        )

    # -- produce --------------------------------------------------------------------------------------
    def new_document(self, type_code: str) -> None:
        """Create a pre-filled draft, then open its form."""
        if self.patient_id is None:
            return
        patient_id, docs = self.patient_id, self._docs
        self._tasks.submit(
            lambda: docs.create_draft(patient_id, type_code),
            lane=Lane.DB,
            on_success=self._edit,
            on_error=self._presenter.handler("Nouveau document"),
        )

    def edit_document(self, row_id: int) -> None:
        """Open the form of a draft."""
        docs = self._docs
        self._tasks.submit(
            lambda: docs.get(row_id),
            lane=Lane.DB,
            on_success=self._edit,
            on_error=self._presenter.handler("Ouverture du brouillon"),
        )

    def _edit(self, document: HealthDocument) -> None:
        self.refresh()
        if self.viewer is not None:
            self.viewer.close()
        form = DocumentForm(document, self._today(), self._window)
        form.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        form.save_requested.connect(lambda values: self._save(form, values))
        form.finished.connect(lambda _r: setattr(self, "form", None))
        self.form = form
        form.open()

    def _save(self, form: DocumentForm, values: dict[str, Any]) -> None:
        docs, doc = self._docs, form.document
        validate = bool(values.pop("_validate"))

        def work() -> HealthDocument:
            saved = docs.edit_draft(
                doc.id or 0,
                doc.row_version,
                title=values["title"],
                act_date=values["act_date"],
                values=values["values"],
            )
            return docs.validate_document(saved.id or 0, saved.row_version) if validate else saved

        def done(saved: HealthDocument) -> None:
            form.document = saved
            form.accept()
            self.refresh()
            self.changed.emit()
            self.tab.set_notice(
                f"« {saved.title} » validé : PDF/A et CDA produits."
                if validate
                else f"Brouillon « {saved.title} » enregistré."
            )

        def failed(exc: BaseException) -> None:
            if isinstance(exc, InvalidInput):
                form.show_errors(exc.field_errors)
                # A validation refusal after a successful save: the draft was saved, keep editing it.
                self._tasks.submit(lambda: docs.get(doc.id or 0), lane=Lane.DB, on_success=_keep(form))
            else:
                self._presenter.present(exc, context="Enregistrement du document", parent=form)

        self._tasks.submit(work, lane=Lane.DB, on_success=done, on_error=failed)

    # -- open -----------------------------------------------------------------------------------------
    def open_document(self, row_id: int) -> None:
        """Open a document in the viewer (PDF first)."""
        docs = self._docs
        self._tasks.submit(
            lambda: docs.open_document(row_id),
            lane=Lane.DB,
            on_success=self._show,
            on_error=self._presenter.handler("Ouverture du document"),
        )

    def _show(self, opened: OpenedDocument) -> None:
        viewer = replace_viewer(self.viewer, opened, self._window, lambda: setattr(self, "viewer", None))
        viewer.edit_requested.connect(self.edit_document)
        viewer.new_version_requested.connect(self.new_version)
        self.viewer = viewer

    def new_version(self, row_id: int) -> None:
        """Start a new version of a validated document."""
        docs = self._docs
        self._tasks.submit(
            lambda: docs.new_version(row_id),
            lane=Lane.DB,
            on_success=self._edit,
            on_error=self._presenter.handler("Nouvelle version"),
        )

    # -- import ---------------------------------------------------------------------------------------
    def import_files(self, paths: Sequence[str], replace_older: bool = False) -> None:
        """Import files (read and checked off the UI thread); ask before replacing an older version."""
        if self.patient_id is None or not paths:
            return
        patient_id, docs = self.patient_id, self._docs
        self.tab.set_notice(f"Import de {len(paths)} fichier(s) en cours…")

        def work() -> list[tuple[str, ImportReport | str]]:
            unread: list[tuple[str, ImportReport | str]] = []
            files: list[tuple[str, bytes]] = []
            full: dict[str, str] = {}
            for raw in paths:
                path = Path(raw)
                try:
                    if path.stat().st_size > MAX_IMPORT_FILE:
                        unread.append((raw, f"« {path.name} » est trop volumineux : il n'est pas intégré."))
                        continue
                    files.append((path.name, path.read_bytes()))
                    full[path.name] = raw
                except OSError as exc:
                    unread.append((raw, f"« {path.name} » ne peut pas être lu ({exc.strerror})."))
            done = docs.import_files(patient_id, files, replace_older=replace_older) if files else []
            return unread + [(full.get(name, name), result) for name, result in done]

        self._tasks.submit(
            work,
            lane=Lane.DB,
            on_success=self._imported,
            on_error=self._presenter.handler("Import de documents"),
        )

    def _imported(self, results: list[tuple[str, ImportReport | str]]) -> None:
        lines: list[str] = []
        to_confirm: list[str] = []
        for path, result in results:
            name = Path(path).name
            if isinstance(result, str):
                lines.append(f"✖ {result}")
                continue
            for outcome in result.outcomes:
                mark = "✔" if outcome.document_id is not None else "✖"
                lines.append(f"{mark} {name} — {outcome.title} : {outcome.message_fr}")
                if outcome.verdict is DuplicateVerdict.REPLACES_OLDER and outcome.document_id is None:
                    to_confirm.append(path)
        self.tab.set_notice("\n".join(lines))
        self.refresh()
        self.changed.emit()
        if to_confirm:
            box = QMessageBox(self._window)
            box.setIcon(QMessageBox.Icon.Question)
            box.setWindowTitle("Nouvelle version d'un document")
            box.setText("Une version plus ancienne de ce document est déjà dans le dossier.")
            box.setInformativeText(
                "Remplacer l'ancienne version par la nouvelle ? L'ancienne restera consultable dans l'historique."
            )
            yes = box.addButton("Remplacer", QMessageBox.ButtonRole.AcceptRole)
            box.addButton("Ne pas intégrer", QMessageBox.ButtonRole.RejectRole)

            def answered(_result: int) -> None:
                if box.clickedButton() is yes:
                    self.import_files(to_confirm, replace_older=True)
                box.deleteLater()
                self.question = None

            box.finished.connect(answered)
            self.question = box
            box.open()


def _keep(form: DocumentForm) -> Callable[[HealthDocument], None]:
    def keep(document: HealthDocument) -> None:
        form.document = document

    return keep
