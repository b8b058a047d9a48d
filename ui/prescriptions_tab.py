"""The "Prescriptions" tab of the patient file: list, editor with a scope-restricted search, print (PDF)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import replace

from PySide6.QtCore import QObject, Qt, QTimer, Signal, SignalInstance
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.dto import PatientFile
from app.services.documents import OpenedDocument
from app.services.prescriptions import PrescriptionService, ProductChoice, ScopeInfo
from app.tasks import Lane, LatestOnly, TaskRunner
from domain.errors import InvalidInput, PermissionDenied
from domain.prescriptions import ActRule, Prescription, PrescriptionLine, PrescriptionStatus
from ui.documents_tab import DocumentViewer, replace_viewer
from ui.error_presenter import ErrorPresenter

log = logging.getLogger("lgc.ui.prescriptions")

COLUMNS = ("Date", "Type", "Lignes", "Auteur", "État")
LINE_COLUMNS = (
    "Produit ou acte",
    "Posologie",
    "Durée (jours)",
    "Quantité",
    "Renouvellements",
    "Non substituable",
    "En rapport avec l'ALD",
)
EMPTY_TEXT = "Aucune prescription pour ce patient. « Nouvelle prescription » pour en rédiger une."
SEARCH_DELAY_MS = 250


def _kind_label(kind: str) -> str:
    return {
        "57833-6": "Produits de santé",
        "PRESC-KINE": "Actes de kinésithérapie",
        "PRESC-INF": "Actes infirmiers",
        "PRESC-BIO": "Examens de biologie",
        "PRESC-PEDI": "Actes de pédicurie",
        "PRESC-ORTHOPHO": "Actes d'orthophonie",
        "PRESC-ORTHOPTIE": "Actes d'orthoptie",
    }.get(kind, kind)


class PrescriptionsTab(QWidget):
    """The patient's prescriptions, newest first, with the actions on the selected one.

    Signals:
        new_requested(str): a new prescription of this document type.
        edit_requested(int), renew_requested(int), print_requested(int): a prescription id.
    """

    new_requested = Signal(str)
    edit_requested = Signal(int)
    renew_requested = Signal(int)
    print_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        bar = QHBoxLayout()
        self.new_kind = QComboBox()
        self.new_button = QPushButton("Nouvelle prescription…")
        self.new_button.clicked.connect(lambda: self.new_requested.emit(self.new_kind.currentData() or ""))
        self.edit_button = QPushButton("Modifier le brouillon…")
        self.edit_button.clicked.connect(lambda: self._emit(self.edit_requested))
        self.renew_button = QPushButton("Renouveler…")
        self.renew_button.setToolTip("Nouvelle prescription reprenant les lignes de celle-ci")
        self.renew_button.clicked.connect(lambda: self._emit(self.renew_requested))
        self.print_button = QPushButton("Imprimer / PDF")
        self.print_button.setToolTip("Ouvrir l'ordonnance produite (PDF/A) pour l'imprimer ou l'enregistrer")
        self.print_button.clicked.connect(lambda: self._emit(self.print_requested))
        for widget in (self.new_kind, self.new_button):
            bar.addWidget(widget)
        bar.addStretch(1)
        for widget in (self.edit_button, self.renew_button, self.print_button):
            bar.addWidget(widget)
        layout.addLayout(bar)
        self.scope_label = QLabel()
        self.scope_label.setWordWrap(True)
        self.scope_label.setStyleSheet("color: #444;")
        layout.addWidget(self.scope_label)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setObjectName("prescriptionsNotice")
        self.notice.setStyleSheet(
            "#prescriptionsNotice { background: #eef3fa; border: 1px solid #9fb3cc; padding: 3px; }"
        )
        self.notice.hide()
        layout.addWidget(self.notice)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        for column, width in enumerate((95, 170, 420, 180)):
            self.table.setColumnWidth(column, width)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection)
        self.table.cellDoubleClicked.connect(lambda _r, _c: self._open_selected())
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #555; font-size: 11pt;")
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty, 1)
        self.prescriptions: list[Prescription] = []
        self.set_prescriptions([])

    def set_scope(self, info: ScopeInfo | None, refusal: str = "") -> None:
        """The kinds the user may write and a sentence on the scope (or why the user may not prescribe)."""
        self.new_kind.clear()
        if info is None:
            self.scope_label.setText(refusal)
            self.new_button.setEnabled(False)
            self.new_kind.setEnabled(False)
            return
        for code, _label in info.kinds:
            self.new_kind.addItem(_kind_label(code), code)
        self.new_button.setEnabled(True)
        self.new_kind.setEnabled(True)
        where = "la base publique des médicaments (BDPM) et la liste" if info.medicines_database else "la liste"
        self.scope_label.setText(
            f"Champ de prescription : {info.profession_label}. Produits recherchés dans {where} du logiciel."
        )

    def set_prescriptions(self, prescriptions: Sequence[Prescription]) -> None:
        """Show the list (newest first)."""
        self.prescriptions = list(prescriptions)
        self.table.setRowCount(len(self.prescriptions))
        for row, presc in enumerate(self.prescriptions):
            when = (presc.validated_at or presc.created_at).astimezone().strftime("%d/%m/%Y")
            state = presc.status.label_fr + (" (renouvellement)" if presc.renews_id else "")
            cells = (when, _kind_label(presc.kind), presc.summary(), presc.author, state)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip("\n".join(line.text() for line in presc.lines) if column == 2 else text)
                if presc.status is PrescriptionStatus.DRAFT:
                    item.setForeground(QColor("#6b5a00"))
                self.table.setItem(row, column, item)
        self.table.setVisible(bool(self.prescriptions))
        self.empty.setVisible(not self.prescriptions)
        self._selection()

    def set_notice(self, text: str) -> None:
        """A sentence above the list ("" hides it)."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def selected(self) -> Prescription | None:
        """The selected prescription."""
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.prescriptions):
            return None
        return self.prescriptions[rows[0].row()]

    def select_id(self, prescription_id: int) -> None:
        """Select a prescription by id (after it was saved)."""
        for row, presc in enumerate(self.prescriptions):
            if presc.id == prescription_id:
                self.table.selectRow(row)

    def _selection(self) -> None:
        presc = self.selected()
        draft = presc is not None and presc.status is PrescriptionStatus.DRAFT
        self.edit_button.setEnabled(draft)
        self.renew_button.setEnabled(presc is not None and self.new_button.isEnabled())
        self.print_button.setEnabled(presc is not None and presc.document_row_id is not None)

    def _emit(self, signal: SignalInstance) -> None:
        presc = self.selected()
        if presc is not None and presc.id is not None:
            signal.emit(presc.id)

    def _open_selected(self) -> None:
        presc = self.selected()
        if presc is None:
            return
        self._emit(self.print_requested if presc.document_row_id is not None else self.edit_requested)


class PrescriptionEditor(QDialog):
    """Writing a prescription: type-ahead search within the user's scope, the lines, the mentions.

    Signals:
        search_requested(str): the search text changed (after a short pause).
        save_requested(bool): save the draft (False) or save and validate (True).
        lines_changed: a line was added or removed (the allergy check runs again).
    """

    search_requested = Signal(str)
    save_requested = Signal(bool)
    lines_changed = Signal()

    def __init__(
        self, info: ScopeInfo, prescription: Prescription | None, kind: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.info = info
        self.prescription = prescription
        self.kind = prescription.kind if prescription is not None else kind
        self.setWindowTitle("Prescription — " + _kind_label(self.kind))
        self.resize(1100, 760)
        layout = QVBoxLayout(self)
        head = QLabel(
            f"<b>{_kind_label(self.kind)}</b> — champ de prescription : {info.profession_label}"
            + (" — <i>renouvellement</i>" if prescription is not None and prescription.renews_id else "")
        )
        layout.addWidget(head)
        self.search = QLineEdit()
        self.search.setClearButtonEnabled(True)
        self.search.setPlaceholderText(
            "Rechercher un produit (nom, catégorie)…" if self.is_products else "Filtrer les actes…"
        )
        layout.addWidget(self.search)
        self.results = QListWidget()
        self.results.setMaximumHeight(190)
        self.results.itemDoubleClicked.connect(lambda _i: self._add_current())
        self.results.currentItemChanged.connect(lambda _c, _p: self._explain())
        layout.addWidget(self.results)
        choose = QHBoxLayout()
        self.explain = QLabel()
        self.explain.setWordWrap(True)
        self.explain.setObjectName("scopeExplain")
        self.explain.setStyleSheet("#scopeExplain { color: #5a3b00; }")
        self.add_button = QPushButton("Ajouter la ligne")
        self.add_button.clicked.connect(self._add_current)
        choose.addWidget(self.explain, 1)
        choose.addWidget(self.add_button)
        layout.addLayout(choose)
        self.lines_table = QTableWidget(0, len(LINE_COLUMNS))
        self.lines_table.setHorizontalHeaderLabels(list(LINE_COLUMNS))
        self.lines_table.verticalHeader().setVisible(True)
        self.lines_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.lines_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for column, width in ((2, 100), (3, 120), (4, 120), (5, 120)):
            self.lines_table.setColumnWidth(column, width)
        layout.addWidget(self.lines_table, 1)
        self.allergy = QLabel()
        self.allergy.setWordWrap(True)
        self.allergy.setObjectName("allergyWarning")
        self.allergy.setStyleSheet("#allergyWarning { background: #fde8e8; border: 1px solid #d08080; padding: 3px; }")
        self.allergy.hide()
        layout.addWidget(self.allergy)
        remove = QHBoxLayout()
        self.remove_button = QPushButton("Retirer la ligne")
        self.remove_button.clicked.connect(self._remove_current)
        remove.addStretch(1)
        remove.addWidget(self.remove_button)
        layout.addLayout(remove)
        layout.addWidget(QLabel("Mentions particulières :"))
        self.mentions = QPlainTextEdit()
        self.mentions.setMaximumHeight(70)
        layout.addWidget(self.mentions)
        self.errors = QLabel()
        self.errors.setWordWrap(True)
        self.errors.setStyleSheet("color: #b00020;")
        self.errors.hide()
        layout.addWidget(self.errors)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Enregistrer le brouillon")
        self.save_button.clicked.connect(lambda: self._save(False))
        self.validate_button = QPushButton("Valider et produire l'ordonnance")
        self.validate_button.setDefault(True)
        self.validate_button.clicked.connect(lambda: self._save(True))
        close = QPushButton("Fermer")
        close.clicked.connect(self.reject)
        buttons.addStretch(1)
        for button in (self.save_button, self.validate_button, close):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self._choices: list[ProductChoice | ActRule] = []
        self._lines: list[PrescriptionLine] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DELAY_MS)
        self._timer.timeout.connect(lambda: self.search_requested.emit(self.search.text()))
        self.search.textChanged.connect(lambda _t: self._timer.start())
        if prescription is not None:
            self.mentions.setPlainText(prescription.mentions)
            for line in prescription.lines:
                self.add_line(line)
        if not self.is_products:
            self.set_acts(info.acts)

    @property
    def is_products(self) -> bool:
        """True for a prescription of health products."""
        return self.kind == "57833-6"

    # -- search results ---------------------------------------------------------------------------------------
    def set_results(self, choices: Sequence[ProductChoice]) -> None:
        """Show the products found: prescribable ones first, the others greyed with the reason."""
        self.results.clear()
        self._choices = list(choices)
        for choice in choices:
            codes = " ".join(
                f"{name} {value}" for name, value in (("CIS", choice.product.cis), ("ATC", choice.product.atc)) if value
            )
            text = f"{choice.product.label}  —  {choice.category_label or 'non classé'}" + (
                f"  [{codes}]" if codes else ""
            )
            item = QListWidgetItem(("" if choice.allowed else "✖ ") + text)
            tip = choice.conditions if choice.allowed else choice.reason
            if choice.source:
                tip += f"\nSource : {choice.source}"
            item.setToolTip(tip.strip())
            if not choice.allowed:
                item.setForeground(QColor("#888888"))
            self.results.addItem(item)
        if not choices and self.search.text().strip():
            self.explain.setText("Aucun produit trouvé.")
        else:
            self.explain.setText("")
        if choices:
            self.results.setCurrentRow(0)

    def set_acts(self, acts: Sequence[ActRule]) -> None:
        """The acts of this kind the user may prescribe."""
        self.results.clear()
        own = [act for act in acts if act.kind == self.kind]
        self._choices = list(own)
        for act in own:
            item = QListWidgetItem(act.label)
            item.setToolTip(f"{act.conditions}\nSource : {act.source}".strip())
            self.results.addItem(item)
        if self._choices:
            self.results.setCurrentRow(0)

    def current_choice(self) -> ProductChoice | ActRule | None:
        """The highlighted search result."""
        row = self.results.currentRow()
        return self._choices[row] if 0 <= row < len(self._choices) else None

    def _explain(self) -> None:
        choice = self.current_choice()
        if isinstance(choice, ProductChoice) and not choice.allowed:
            self.explain.setText(choice.reason + (f" Source : {choice.source}." if choice.source else ""))
        elif choice is not None and choice.conditions:
            self.explain.setText("Conditions : " + choice.conditions)
        else:
            self.explain.setText("")

    def _add_current(self) -> None:
        choice = self.current_choice()
        if choice is None:
            return
        if isinstance(choice, ProductChoice) and not choice.allowed:
            self._explain()
            return
        if isinstance(choice, ActRule):
            self.add_line(PrescriptionLine(choice.label, "acte:" + choice.key, category="acte"))
        else:
            p = choice.product
            self.add_line(PrescriptionLine(p.label, p.key, p.category, p.cis, p.cip13, p.atc, p.lpp, p.dosage_hint))

    # -- lines --------------------------------------------------------------------------------------------------
    def add_line(self, line: PrescriptionLine) -> None:
        """Append a line with its editors."""
        row = self.lines_table.rowCount()
        self.lines_table.insertRow(row)
        self._lines.append(line)
        label = QTableWidgetItem(line.label)
        label.setFlags(label.flags() & ~Qt.ItemFlag.ItemIsEditable)
        label.setToolTip(" ".join(f"{k} {v}" for k, v in (("CIS", line.cis), ("CIP13", line.cip13)) if v))
        self.lines_table.setItem(row, 0, label)
        dosage = QLineEdit(line.dosage)
        dosage.setPlaceholderText("posologie, mode d'emploi" if not line.is_act else "rythme, nombre de séances")
        self.lines_table.setCellWidget(row, 1, dosage)
        duration = QSpinBox()
        duration.setRange(0, 999)
        duration.setSpecialValueText("—")
        duration.setValue(line.duration_days or 0)
        self.lines_table.setCellWidget(row, 2, duration)
        quantity = QLineEdit(line.quantity)
        self.lines_table.setCellWidget(row, 3, quantity)
        renewals = QSpinBox()
        renewals.setRange(0, 99)
        renewals.setValue(line.renewals)
        self.lines_table.setCellWidget(row, 4, renewals)
        substitution = QCheckBox()
        substitution.setChecked(line.non_substitutable)
        substitution.setEnabled(not line.is_act)
        self.lines_table.setCellWidget(row, 5, substitution)
        ald = QCheckBox()
        ald.setChecked(line.ald)
        ald.setToolTip(
            "Ligne en rapport avec l'affection de longue durée du patient : elle figure dans la partie haute de "
            "l'ordonnance bizone."
        )
        self.lines_table.setCellWidget(row, 6, ald)
        self.lines_changed.emit()

    def _remove_current(self) -> None:
        row = self.lines_table.currentRow()
        if 0 <= row < len(self._lines):
            self.lines_table.removeRow(row)
            del self._lines[row]
            self.lines_changed.emit()

    def set_allergy_warnings(self, warnings: Sequence[str]) -> None:
        """Recorded allergies matching a line (advisory: the prescriber decides)."""
        self.allergy.setText("\n".join("⚠ " + text for text in warnings))
        self.allergy.setVisible(bool(warnings))

    def lines(self) -> list[PrescriptionLine]:
        """The lines as edited."""
        result: list[PrescriptionLine] = []
        for row, line in enumerate(self._lines):
            dosage = self.lines_table.cellWidget(row, 1)
            duration = self.lines_table.cellWidget(row, 2)
            quantity = self.lines_table.cellWidget(row, 3)
            renewals = self.lines_table.cellWidget(row, 4)
            substitution = self.lines_table.cellWidget(row, 5)
            ald = self.lines_table.cellWidget(row, 6)
            assert isinstance(dosage, QLineEdit) and isinstance(quantity, QLineEdit)
            assert isinstance(duration, QSpinBox) and isinstance(renewals, QSpinBox)
            assert isinstance(substitution, QCheckBox) and isinstance(ald, QCheckBox)
            result.append(
                replace(
                    line,
                    dosage=dosage.text(),
                    duration_days=duration.value() or None,
                    quantity=quantity.text(),
                    renewals=renewals.value(),
                    non_substitutable=substitution.isChecked(),
                    ald=ald.isChecked(),
                )
            )
        return result

    def show_errors(self, errors: dict[str, str]) -> None:
        """The refusals, one per line (line and field named in each French message)."""
        self.errors.setText("\n".join(errors.values()))
        self.errors.setVisible(bool(errors))

    def _save(self, validate: bool) -> None:
        self.show_errors({})
        self.save_requested.emit(validate)


class PrescriptionsController(QObject):
    """Connects the tab and the editor to the PrescriptionService through the task runner.

    Signals:
        document_produced: a prescription was validated (the Documents tab has a new document).
        changed: a prescription was saved, validated or renewed (the allergy alerts may change).
    """

    document_produced = Signal()
    changed = Signal()

    def __init__(
        self,
        prescriptions: PrescriptionService,
        tasks: TaskRunner,
        presenter: ErrorPresenter,
        window: QWidget,
        tab: PrescriptionsTab,
    ) -> None:
        super().__init__(window)
        self._service = prescriptions
        self._tasks = tasks
        self._presenter = presenter
        self._window = window
        self.tab = tab
        self.patient_id: int | None = None
        self.info: ScopeInfo | None = None
        self._requests = itertools.count(1)
        self._list_loads = LatestOnly(tasks)
        self._latest_search = 0
        self.editor: PrescriptionEditor | None = None
        self.viewer: DocumentViewer | None = None
        tab.new_requested.connect(self.new_prescription)
        tab.edit_requested.connect(self.edit_prescription)
        tab.renew_requested.connect(self.renew)
        tab.print_requested.connect(self.print_prescription)

    def show_file(self, file: PatientFile) -> None:
        """A patient file is shown: the user's scope (once per user) and the patient's prescriptions."""
        if file.id != self.patient_id:
            self.tab.set_notice("")
            self.tab.set_prescriptions([])
        self.patient_id = file.id
        if self._service.can_read():
            self.load_scope()
            self.refresh()

    def load_scope(self) -> None:
        """Read the signed-in user's scope off the UI thread (the reference files are read on first use)."""
        service = self._service

        def shown(info: ScopeInfo) -> None:
            self.info = info
            self.tab.set_scope(info)

        def refused(exc: BaseException) -> None:
            self.info = None
            if isinstance(exc, PermissionDenied):
                self.tab.set_scope(None, exc.message_fr)
            else:
                self._presenter.present(exc, context="Champ de prescription")

        self._tasks.submit(service.scope_info, lane=Lane.DB, on_success=shown, on_error=refused)

    def refresh(self) -> None:
        """Reload the list (a later request wins)."""
        if self.patient_id is None:
            return
        patient_id, service = self.patient_id, self._service
        self._list_loads.submit(
            lambda: service.list_prescriptions(patient_id),
            on_success=self.tab.set_prescriptions,
            on_error=self._presenter.handler("Liste des prescriptions", self.refresh),
        )

    # -- editor ---------------------------------------------------------------------------------------------------
    def new_prescription(self, kind: str) -> None:
        """Open an empty editor of this kind."""
        if self.patient_id is None or self.info is None or not kind:
            return
        self._open_editor(None, kind)

    def edit_prescription(self, prescription_id: int) -> None:
        """Open a draft in the editor."""
        service = self._service
        self._tasks.submit(
            lambda: service.get(prescription_id),
            lane=Lane.DB,
            on_success=lambda p: self._open_editor(p, p.kind),
            on_error=self._presenter.handler("Ouverture de la prescription"),
        )

    def renew(self, prescription_id: int) -> None:
        """A new draft copying the lines of the selected prescription, opened in the editor."""
        service = self._service

        def done(draft: Prescription) -> None:
            self.refresh()
            self.changed.emit()
            self.tab.set_notice("Renouvellement préparé : vérifiez les lignes puis validez.")
            self._open_editor(draft, draft.kind)

        self._tasks.submit(
            lambda: service.renew(prescription_id),
            lane=Lane.DB,
            on_success=done,
            on_error=self._presenter.handler("Renouvellement de la prescription"),
        )

    def _open_editor(self, prescription: Prescription | None, kind: str) -> None:
        if self.info is None:
            return
        if self.editor is not None:
            self.editor.close()
        editor = PrescriptionEditor(self.info, prescription, kind, self._window)
        editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        editor.search_requested.connect(lambda text: self.search(editor, text))
        editor.save_requested.connect(lambda validate: self._save(editor, validate))
        editor.lines_changed.connect(lambda: self.check_allergies(editor))
        editor.finished.connect(lambda _r: setattr(self, "editor", None))
        self.editor = editor
        editor.open()
        if editor.is_products:
            self.search(editor, "")
            self.check_allergies(editor)

    def check_allergies(self, editor: PrescriptionEditor) -> None:
        """Compare the lines with the patient's recorded allergies (DB lane); the answer shows in the editor."""
        if self.patient_id is None or not editor.is_products:
            return
        service, patient_id, lines = self._service, self.patient_id, editor.lines()

        def shown(warnings: list[str]) -> None:
            if self.editor is editor:
                editor.set_allergy_warnings(warnings)

        self._tasks.submit(
            lambda: service.allergy_warnings(patient_id, lines),
            lane=Lane.DB,
            on_success=shown,
            on_error=lambda exc: log.warning("Allergy check failed: %s", exc),
        )

    def search(self, editor: PrescriptionEditor, text: str) -> None:
        """Type-ahead search off the UI thread (NET lane: reading the BDPM files must not hold the DB writer)."""
        if not editor.is_products:
            acts = [a for a in editor.info.acts if not text.strip() or text.lower() in a.label.lower()]
            editor.set_acts(acts)
            return
        request = next(self._requests)
        self._latest_search = request
        service = self._service

        def shown(choices: list[ProductChoice]) -> None:
            if request == self._latest_search and self.editor is editor:
                editor.set_results(choices)

        def failed(exc: BaseException) -> None:
            if isinstance(exc, InvalidInput) and self.editor is editor:
                editor.explain.setText(exc.message_fr)
            else:
                self._presenter.present(exc, context="Recherche de produits", parent=editor)

        self._tasks.submit(lambda: service.search_products(text), lane=Lane.NET, on_success=shown, on_error=failed)

    def _save(self, editor: PrescriptionEditor, validate: bool) -> None:
        if self.patient_id is None:
            return
        service, patient_id = self._service, self.patient_id
        lines, mentions, kind = editor.lines(), editor.mentions.toPlainText(), editor.kind
        current = editor.prescription
        editor_keep: list[Prescription | None] = [None]

        def work() -> Prescription:
            saved = service.save_draft(
                patient_id,
                kind,
                lines,
                mentions,
                prescription_id=current.id if current is not None else None,
                row_version=current.row_version if current is not None else 0,
            )
            editor_keep[0] = saved
            return service.validate(saved.id or 0, saved.row_version) if validate else saved

        def done(saved: Prescription) -> None:
            editor.prescription = saved
            editor.accept()
            self.refresh()
            self.changed.emit()
            if saved.status is PrescriptionStatus.VALIDATED:
                self.tab.set_notice("Prescription validée : l'ordonnance (PDF/A et CDA) est dans les documents.")
                self.document_produced.emit()
            else:
                self.tab.set_notice("Brouillon de prescription enregistré.")

        def failed(exc: BaseException) -> None:
            if editor_keep[0] is not None:
                editor.prescription = editor_keep[0]  # saved as a draft, the validation was refused
                self.refresh()
            if isinstance(exc, InvalidInput):
                editor.show_errors(exc.field_errors)
            else:
                self._presenter.present(exc, context="Enregistrement de la prescription", parent=editor)

        self._tasks.submit(work, lane=Lane.DB, on_success=done, on_error=failed)

    # -- print ----------------------------------------------------------------------------------------------------
    def print_prescription(self, prescription_id: int) -> None:
        """Open the produced PDF (to print or save it)."""
        service = self._service
        self._tasks.submit(
            lambda: service.open_document(prescription_id),
            lane=Lane.DB,
            on_success=self._show,
            on_error=self._presenter.handler("Ouverture de l'ordonnance"),
        )

    def _show(self, opened: OpenedDocument) -> None:
        self.viewer = replace_viewer(self.viewer, opened, self._window, lambda: setattr(self, "viewer", None))
