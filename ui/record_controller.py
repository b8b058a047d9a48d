"""Controllers of the clinical record: the Observations tab, the dialogs it opens, and the dashboards."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.services.record import Dashboard, ObservationDetail, RecordView, TemplateInfo
from app.tasks import Lane, TaskRunner
from domain.decision import Alert, ScheduleItem
from domain.errors import InvalidInput
from domain.forms import FormTemplate
from domain.macros import PLACEHOLDERS, Macro, MacroSet
from domain.record import EntryKind, ObservationLine, RecordEntry
from ui.error_presenter import ErrorPresenter, describe_error
from ui.record_view import DashboardView, FormView, ObservationsTab, explanation_html

if TYPE_CHECKING:
    from app.services.record import RecordService

log = logging.getLogger("lgc.ui.record")

DRAFT_DELAY_MS = 1500


class DismissDialog(QDialog):
    """Asks why an alert is set aside (the reason is traced)."""

    def __init__(self, alert: Alert, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.alert = alert
        self.setWindowTitle("Écarter une alerte")
        layout = QVBoxLayout(self)
        intro = QLabel(f"<b>{alert.title}</b><br>Indiquez pourquoi vous écartez cette alerte (motif tracé).")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("Ex. : vaccin fait en pharmacie le 12/10, refus de la patiente…")
        self.reason.setMaxLength(500)
        layout.addWidget(self.reason)
        self.error = QLabel()
        self.error.setStyleSheet("color:#a61b1b;")
        layout.addWidget(self.error)
        buttons = QDialogButtonBox()
        self.ok = buttons.addButton("Écarter", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton("Annuler", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(QSize(520, 160))


class MacroDialog(QDialog):
    """The user's macros: list, add, change, delete (shared ones may be overridden by the user's own)."""

    def __init__(self, macros: MacroSet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Macros de saisie")
        self.resize(QSize(760, 460))
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Mot-clé", "Libellé", "Texte inséré", "Propriétaire"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.horizontalHeader().setSectionResizeMode(2, self.table.horizontalHeader().ResizeMode.Stretch)
        layout.addWidget(self.table, 1)
        form = QFormLayout()
        self.trigger = QLineEdit()
        self.trigger.setPlaceholderText("@motcle ou .motcle")
        self.label = QLineEdit()
        self.body = QPlainTextEdit()
        self.body.setFixedHeight(80)
        self.shared = QCheckBox("Partagée avec tout le cabinet")
        form.addRow("Mot-clé :", self.trigger)
        form.addRow("Libellé :", self.label)
        form.addRow("Texte :", self.body)
        form.addRow("", self.shared)
        help_text = QLabel(
            "Données du dossier utilisables dans le texte : "
            + ", ".join(f"{{{k}}} ({v})" for k, v in PLACEHOLDERS.items())
        )
        help_text.setWordWrap(True)
        help_text.setStyleSheet("color:#555;")
        form.addRow(help_text)
        layout.addLayout(form)
        self.error = QLabel()
        self.error.setStyleSheet("color:#a61b1b;")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        buttons = QHBoxLayout()
        self.new_button = QPushButton("Nouvelle")
        self.save_button = QPushButton("Enregistrer la macro")
        self.delete_button = QPushButton("Supprimer")
        close = QPushButton("Fermer")
        close.clicked.connect(self.reject)
        buttons.addWidget(self.new_button)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.save_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.macros: list[Macro] = []
        self.current_id: int | None = None
        self.table.currentCellChanged.connect(self._pick)
        self.new_button.clicked.connect(self._new)
        self.set_macros(macros)

    def set_macros(self, macros: MacroSet) -> None:
        """Show the macros in effect."""
        self.macros = list(macros)
        self.table.setRowCount(len(self.macros))
        for row, macro in enumerate(self.macros):
            cells = (macro.trigger, macro.label, macro.body.replace("\n", " ⏎ "), macro.owner or "cabinet")
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))

    def _pick(self, row: int, *_: int) -> None:
        if 0 <= row < len(self.macros):
            macro = self.macros[row]
            self.current_id = macro.id
            self.trigger.setText(macro.trigger)
            self.label.setText(macro.label)
            self.body.setPlainText(macro.body)
            self.shared.setChecked(not macro.owner)

    def _new(self) -> None:
        self.current_id = None
        self.table.clearSelection()
        for edit in (self.trigger, self.label):
            edit.clear()
        self.body.clear()
        self.trigger.setFocus()

    def edited(self) -> Macro:
        """The macro in the fields."""
        return Macro(self.trigger.text(), self.label.text(), self.body.toPlainText(), id=self.current_id)


class TemplateEditorDialog(QDialog):
    """Form editor for the practice's copies: JSON text on the left, live check and preview on the right."""

    def __init__(
        self, text: str, today: Callable[[], Any], check: Callable[[str], FormTemplate], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Modèle de formulaire du cabinet")
        self.resize(QSize(1100, 700))
        self._check = check
        self._today = today
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Modifiez la copie du modèle (format JSON). Donnez-lui une clé propre au cabinet (par exemple "
            "« ide.plaie.cabinet ») ; chaque enregistrement crée une nouvelle version, les observations déjà "
            "écrites gardent la leur. Conditions : <i>champ == 'valeur' et (autre > 3 ou liste contient 'x')</i>."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.source = QPlainTextEdit()
        self.source.setPlainText(text)
        font = self.source.font()
        font.setFamily("monospace")
        self.source.setFont(font)
        splitter.addWidget(self.source)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right_layout.addWidget(self.problems)
        self.preview = QScrollArea()
        self.preview.setWidgetResizable(True)
        right_layout.addWidget(self.preview, 1)
        splitter.addWidget(right)
        splitter.setSizes([560, 540])
        layout.addWidget(splitter, 1)
        buttons = QDialogButtonBox()
        self.save_button = buttons.addButton("Enregistrer une nouvelle version", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton("Fermer", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(400)
        self.timer.timeout.connect(self.validate)
        self.source.textChanged.connect(self.timer.start)
        self.validate()

    def validate(self) -> bool:
        """Check the text (pure and quick: runs on the UI thread) and refresh the preview."""
        try:
            template = self._check(self.source.toPlainText())
        except InvalidInput as exc:
            self.problems.setText("<span style='color:#a61b1b'>⚠ " + str(exc).replace("\n", "<br>") + "</span>")
            self.save_button.setEnabled(False)
            return False
        self.problems.setText(f"✔ Modèle valide : « {template.title} », {len(template.fields)} champs.")
        self.preview.setWidget(FormView(template, self._today))
        self.save_button.setEnabled(True)
        return True


class RecordController(QObject):
    """Wires the Observations tab to the record service; every call goes through the task runner.

    Signals:
        loaded(int): the record of this patient is shown (timeline painted).
        saved(object): an observation was stored (its ObservationLine).
        alerts_shown(int): the alerts of the patient are displayed (their number).
    """

    loaded = Signal(int)
    saved = Signal(object)
    alerts_shown = Signal(int)

    def __init__(
        self, tab: ObservationsTab, record: RecordService, tasks: TaskRunner, presenter: ErrorPresenter
    ) -> None:
        super().__init__(tab)
        self.tab = tab
        self.record = record
        self.tasks = tasks
        self.presenter = presenter
        self.patient_id: int | None = None
        self.form_template: FormTemplate | None = None
        self._request = 0
        self._restoring = False
        self.dialog: QDialog | None = None
        self.draft_timer = QTimer(self)
        self.draft_timer.setSingleShot(True)
        self.draft_timer.setInterval(DRAFT_DELAY_MS)
        self.draft_timer.timeout.connect(self.save_draft)
        tab.editor.textChanged.connect(self._edited)
        tab.save_text_button.clicked.connect(self.save_text)
        tab.open_form_button.clicked.connect(self.open_selected_form)
        tab.save_form_button.clicked.connect(self.save_form)
        tab.edit_template_button.clicked.connect(self.edit_template)
        tab.macros_button.clicked.connect(self.edit_macros)
        tab.selected.connect(self.show_observation)
        for kind, entry_list in tab.lists.items():
            entry_list.add_requested.connect(lambda data, k=kind: self.add_entry(k, data))
            entry_list.close_requested.connect(self.close_entry)
        self._templates_loaded = False

    # -- loading -------------------------------------------------------------------------------------------------
    def set_patient(self, patient_id: int) -> None:
        """Show the record of a patient (a later request wins); unsaved typing goes to the draft first."""
        if self.patient_id is not None and self.draft_timer.isActive():
            self.draft_timer.stop()
            self.save_draft()
        self.patient_id = patient_id
        self._request += 1
        request = self._request
        record = self.record
        self.tab.set_alerts([])
        self.tab.reader.setHtml("<p style='color:#555'>Sélectionnez une observation dans la chronologie.</p>")
        self.tasks.submit(
            lambda: record.open_record(patient_id),
            lane=Lane.DB,
            on_success=lambda view: self._opened(request, view),
            on_error=lambda exc: self._failed(exc, "Ouverture des observations"),
        )

    def _opened(self, request: int, view: RecordView) -> None:
        if request != self._request:
            return
        self.tab.set_timeline(view.timeline)
        self._show_entries(view.entries)
        self._restore_draft(view)
        self.loaded.emit(view.patient_id)
        record, pid = self.record, view.patient_id
        self.tasks.submit(
            lambda: (record.alerts(pid), record.pregnancy_plan(pid), record.schedule_link),
            lane=Lane.DB,
            on_success=lambda result: self._alerts(request, *result),
            on_error=lambda exc: self._failed(exc, "Aide à la décision"),
        )
        self.tasks.submit(
            lambda: (record.macros(), record.macro_context(pid)),
            lane=Lane.DB,
            on_success=lambda result: self._macros(request, *result),
            on_error=lambda exc: log.warning("Macros unavailable: %s", type(exc).__name__),
        )
        if not self._templates_loaded:
            self._templates_loaded = True
            self.tasks.submit(
                lambda: (record.templates(_profession(record)), record.vaccine_products()),
                lane=Lane.DB,
                on_success=self._templates,
                on_error=lambda exc: self._failed(exc, "Modèles de formulaires"),
            )

    def _restore_draft(self, view: RecordView) -> None:
        self._restoring = True
        try:
            draft = view.draft
            self.tab.editor.setPlainText(draft.text if draft else "")
            self.tab.draft_label.setText(
                f"Brouillon repris (enregistré le {draft.updated_at.astimezone():%d/%m/%Y à %H:%M})."
                if draft and draft.updated_at
                else ""
            )
            self.tab.text_error.clear()
            self.form_template = None
            self.tab.close_form()
            if draft and draft.template_key:
                key, version, values = draft.template_key, draft.template_version, dict(draft.values)
                record = self.record
                self.tasks.submit(
                    lambda: record.template(key, version),
                    lane=Lane.DB,
                    on_success=lambda template: self._show_form(template, values),
                    on_error=lambda exc: self._failed(exc, "Reprise du brouillon"),
                )
            elif draft and draft.text:
                self.tab.work.setCurrentIndex(1)
        finally:
            self._restoring = False

    def _alerts(self, request: int, alerts: list[Alert], plan: list[ScheduleItem], link: str) -> None:
        if request != self._request:
            return
        for row in self.tab.set_alerts(alerts):
            row.explain_requested.connect(self.explain)
            row.dismiss_requested.connect(self.dismiss)
        self.tab.set_pregnancy_plan(plan)
        self.tab.set_schedule_link(link)
        self.alerts_shown.emit(len(alerts))

    def _macros(self, request: int, macros: MacroSet, context: dict[str, str]) -> None:
        if request != self._request:
            return
        self.tab.editor.macros = macros
        self.tab.editor.context = context
        triggers = ", ".join(m.trigger for m in list(macros)[:8])
        self.tab.macro_hint.setText(f"Macros : {triggers}… (mot-clé puis Espace)")
        self.tab.macro_hint.setToolTip("\n".join(f"{m.trigger} : {m.label}" for m in macros))

    def _templates(self, result: tuple[list[TemplateInfo], dict[str, tuple[str, ...]]]) -> None:
        templates, products = result
        self.tab.set_templates(templates)
        self.tab.lists[EntryKind.VACCINATION].set_products(products)

    def refresh_templates(self) -> None:
        """Re-read the template list (after saving a copy)."""
        record = self.record
        self.tasks.submit(
            lambda: (record.templates(_profession(record)), record.vaccine_products()),
            lane=Lane.DB,
            on_success=self._templates,
            on_error=lambda exc: self._failed(exc, "Modèles de formulaires"),
        )

    def _show_entries(self, entries: tuple[RecordEntry, ...] | list[RecordEntry]) -> None:
        for entry_list in self.tab.lists.values():
            entry_list.set_entries(entries)

    # -- reading -------------------------------------------------------------------------------------------------
    def show_observation(self, observation_id: int) -> None:
        """Load one observation's body on the DB lane and render it."""
        record = self.record
        self.tasks.submit(
            lambda: record.observation(observation_id),
            lane=Lane.DB,
            on_success=self._show_detail,
            on_error=lambda exc: self._failed(exc, "Lecture de l'observation"),
        )

    def _show_detail(self, detail: ObservationDetail) -> None:
        if detail.observation.patient_id == self.patient_id:
            self.tab.show_observation(detail)

    # -- writing -------------------------------------------------------------------------------------------------
    def _edited(self) -> None:
        if not self._restoring and self.patient_id is not None:
            self.tab.draft_label.setText("Modifié — enregistrement automatique du brouillon…")
            self.draft_timer.start()

    def save_draft(self) -> None:
        """Save the text or the form being typed (drafts: nothing is lost if the workstation stops)."""
        pid = self.patient_id
        if pid is None:
            return
        record = self.record
        text = self.tab.editor.toPlainText()
        view = self.tab.form_view
        key, version, values = "", 0, {}
        if view is not None:
            key, version = view.template.key, view.template.version
            values = view.raw_values()
        self.tasks.submit(
            lambda: record.save_draft(pid, text, key, version, values),
            lane=Lane.DB,
            on_success=lambda _r: self.tab.draft_label.setText("Brouillon enregistré."),
            on_error=lambda exc: self._failed(exc, "Enregistrement du brouillon"),
        )

    def save_text(self) -> None:
        """Store the free-text observation."""
        pid = self.patient_id
        if pid is None:
            return
        self.draft_timer.stop()
        text = self.tab.editor.toPlainText()
        record = self.record
        self.tab.save_text_button.setEnabled(False)

        def done(line: ObservationLine) -> None:
            self.tab.save_text_button.setEnabled(True)
            self._restoring = True
            self.tab.editor.clear()
            self._restoring = False
            self.tab.text_error.clear()
            self.tab.draft_label.setText("Observation enregistrée.")
            self._stored(line)

        def failed(exc: BaseException) -> None:
            self.tab.save_text_button.setEnabled(True)
            if isinstance(exc, InvalidInput):
                self.tab.text_error.setText("⚠ " + " ".join(exc.field_errors.values()))
                self.save_draft()  # the text is kept as a draft
            else:
                self._failed(exc, "Enregistrement de l'observation")

        self.tasks.submit(
            lambda: record.save_text_observation(pid, text), lane=Lane.DB, on_success=done, on_error=failed
        )

    def open_selected_form(self) -> None:
        """Load the chosen template and render it."""
        data = self.tab.template_combo.currentData()
        if not data:
            return
        key, version = data
        record = self.record
        self.tasks.submit(
            lambda: record.template(key, version),
            lane=Lane.DB,
            on_success=lambda template: self._show_form(template, {}),
            on_error=lambda exc: self._failed(exc, "Ouverture du formulaire"),
        )

    def _show_form(self, template: FormTemplate, values: dict[str, object]) -> None:
        self.form_template = template
        view = self.tab.show_form(template)
        self._restoring = True
        view.set_values(values)
        self._restoring = False
        view.changed.connect(self._edited)
        view.attach_requested.connect(self.attach)

    def save_form(self) -> None:
        """Check and store the filled form; errors come back next to their fields."""
        pid, view = self.patient_id, self.tab.form_view
        if pid is None or view is None:
            return
        self.draft_timer.stop()
        template, values = view.template, view.raw_values()
        record = self.record

        def done(line: ObservationLine) -> None:
            self.tab.close_form()
            self.form_template = None
            self.tab.form_error.clear()
            self._stored(line)

        def failed(exc: BaseException) -> None:
            if isinstance(exc, InvalidInput) and self.tab.form_view is view:
                view.show_errors(exc.field_errors)
                count = len(exc.field_errors)
                self.tab.form_error.setText(f"⚠ {count} réponse(s) à corriger (en rouge). Le brouillon est conservé.")
                self.save_draft()
            else:
                self._failed(exc, "Enregistrement du formulaire")

        self.tasks.submit(
            lambda: record.save_form_observation(pid, template.key, template.version, values),
            lane=Lane.DB,
            on_success=done,
            on_error=failed,
        )

    def _stored(self, line: ObservationLine) -> None:
        self.tab.add_line(line)
        self.saved.emit(line)
        if self.patient_id is not None:
            record, pid, request = self.record, self.patient_id, self._request
            self.tasks.submit(
                lambda: (record.alerts(pid), record.pregnancy_plan(pid), record.schedule_link),
                lane=Lane.DB,
                on_success=lambda result: self._alerts(request, *result),
                on_error=lambda exc: self._failed(exc, "Aide à la décision"),
            )

    def attach(self, field_id: str) -> None:
        """Pick a photo and store it (DB lane: the file is read and hashed off the UI thread)."""
        dialog = QFileDialog(
            self.tab, "Joindre une photo", str(Path.home()), "Images (*.jpg *.jpeg *.png);;PDF (*.pdf)"
        )
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        record = self.record
        view = self.tab.form_view

        def chosen(path: str) -> None:
            def attached(value: dict[str, object]) -> None:
                if view is not None and view is self.tab.form_view:
                    view.add_attachment(field_id, value)

            self.tasks.submit(
                lambda: record.attach(path, Path(path).read_bytes()),
                lane=Lane.DB,
                on_success=attached,
                on_error=lambda exc: self._failed(exc, "Pièce jointe"),
            )

        dialog.fileSelected.connect(chosen)
        self.dialog = dialog
        dialog.open()

    # -- lists ---------------------------------------------------------------------------------------------------
    def add_entry(self, kind: EntryKind, data: dict[str, str]) -> None:
        """Add a line to a structured list."""
        pid = self.patient_id
        if pid is None:
            return
        record = self.record
        entry_list = self.tab.lists[kind]

        def done(_entry: RecordEntry) -> None:
            entry_list.added()
            self.set_patient(pid)

        def failed(exc: BaseException) -> None:
            if isinstance(exc, InvalidInput):
                entry_list.show_error(" ".join(exc.field_errors.values()))
            else:
                self._failed(exc, "Ajout à la liste")

        self.tasks.submit(
            lambda: record.add_entry(
                pid, kind, data["label"], code=data["code"], detail=data["detail"], start=data["start"]
            ),
            lane=Lane.DB,
            on_success=done,
            on_error=failed,
        )

    def close_entry(self, entry_id: int) -> None:
        """Stop or remove a line."""
        pid = self.patient_id
        if pid is None:
            return
        record = self.record
        self.tasks.submit(
            lambda: record.close_entry(pid, entry_id),
            lane=Lane.DB,
            on_success=lambda _e: self.set_patient(pid),
            on_error=lambda exc: self._failed(exc, "Modification de la liste"),
        )

    # -- alerts --------------------------------------------------------------------------------------------------
    def explain(self, alert: Alert) -> None:
        """Show which rule fired on which data."""
        box = QMessageBox(self.tab)
        box.setWindowTitle("Pourquoi cette alerte ?")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(explanation_html(alert))
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        box.addButton("Fermer", QMessageBox.ButtonRole.AcceptRole)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = box
        box.open()

    def dismiss(self, alert: Alert) -> None:
        """Ask for a reason, then set the alert aside (traced)."""
        pid = self.patient_id
        if pid is None:
            return
        dialog = DismissDialog(alert, self.tab)
        record = self.record

        def accepted() -> None:
            reason = dialog.reason.text()

            def failed(exc: BaseException) -> None:
                if isinstance(exc, InvalidInput):
                    dialog.error.setText("⚠ " + " ".join(exc.field_errors.values()))
                    dialog.open()
                else:
                    self._failed(exc, "Alerte")

            self.tasks.submit(
                lambda: record.dismiss(pid, alert, reason),
                lane=Lane.DB,
                on_success=lambda _r: self._stored_alerts_refresh(),
                on_error=failed,
            )

        dialog.accepted.connect(accepted)
        self.dialog = dialog
        dialog.open()

    def refresh(self) -> None:
        """Re-read the timeline and the alerts of the open record (a prescription, letter or document was
        produced elsewhere); the editor and its draft are left alone."""
        if self.patient_id is None:
            return
        record, pid, request = self.record, self.patient_id, self._request

        def reloaded(view: RecordView) -> None:
            if request == self._request:
                self.tab.set_timeline(view.timeline)
                self._stored_alerts_refresh()

        self.tasks.submit(
            lambda: record.open_record(pid),
            lane=Lane.DB,
            on_success=reloaded,
            on_error=lambda exc: self._failed(exc, "Chronologie"),
        )

    def _stored_alerts_refresh(self) -> None:
        if self.patient_id is None:
            return
        record, pid, request = self.record, self.patient_id, self._request
        self.tasks.submit(
            lambda: (record.alerts(pid), record.pregnancy_plan(pid), record.schedule_link),
            lane=Lane.DB,
            on_success=lambda result: self._alerts(request, *result),
            on_error=lambda exc: self._failed(exc, "Aide à la décision"),
        )

    # -- settings dialogs ----------------------------------------------------------------------------------------
    def edit_macros(self) -> None:
        """Open the macro editor."""
        record = self.record
        self.tasks.submit(
            record.macros, lane=Lane.DB, on_success=self._open_macros, on_error=lambda e: self._failed(e, "Macros")
        )

    def _open_macros(self, macros: MacroSet) -> None:
        dialog = MacroDialog(macros, self.tab)
        record = self.record

        def reload(_r: object = None) -> None:
            self.tasks.submit(
                record.macros, lane=Lane.DB, on_success=loaded, on_error=lambda e: self._failed(e, "Macros")
            )

        def loaded(fresh: MacroSet) -> None:
            dialog.set_macros(fresh)
            self.tab.editor.macros = fresh
            dialog.error.clear()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, InvalidInput):
                dialog.error.setText("⚠ " + " ".join(exc.field_errors.values()))
            else:
                self._failed(exc, "Macros")

        def save() -> None:
            macro, shared = dialog.edited(), dialog.shared.isChecked()
            self.tasks.submit(
                lambda: record.save_macro(macro, shared=shared), lane=Lane.DB, on_success=reload, on_error=failed
            )

        def delete() -> None:
            if dialog.current_id is not None:
                macro_id = dialog.current_id
                self.tasks.submit(
                    lambda: record.delete_macro(macro_id), lane=Lane.DB, on_success=reload, on_error=failed
                )

        dialog.save_button.clicked.connect(save)
        dialog.delete_button.clicked.connect(delete)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.open()

    def edit_template(self) -> None:
        """Open the form editor on a copy of the chosen template."""
        data = self.tab.template_combo.currentData()
        if not data:
            return
        key, version = data
        record = self.record
        self.tasks.submit(
            lambda: record.template_source(key, version),
            lane=Lane.DB,
            on_success=lambda text: self._open_editor(key, text),
            on_error=lambda exc: self._failed(exc, "Modèle de formulaire"),
        )

    def _open_editor(self, key: str, text: str) -> None:
        raw = json.loads(text)
        if key in self.record.catalog.shipped():
            raw["key"] = f"{key}.cabinet"
            raw["title"] = f"{raw.get('title', key)} (cabinet)"
        today = self.tab.today
        dialog = TemplateEditorDialog(
            json.dumps(raw, ensure_ascii=False, indent=1), today, self.record.check_template, self.tab
        )
        record = self.record

        def save() -> None:
            if not dialog.validate():
                return
            source = dialog.source.toPlainText()

            def failed(exc: BaseException) -> None:
                if isinstance(exc, InvalidInput):
                    dialog.problems.setText("<span style='color:#a61b1b'>⚠ " + str(exc) + "</span>")
                else:
                    self._failed(exc, "Modèle de formulaire")

            def done(template: FormTemplate) -> None:
                dialog.problems.setText(f"✔ Version {template.version} de « {template.key} » enregistrée.")
                self.refresh_templates()

            self.tasks.submit(lambda: record.save_template_copy(source), lane=Lane.DB, on_success=done, on_error=failed)

        dialog.save_button.clicked.connect(save)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.open()

    def _failed(self, exc: BaseException, context: str) -> None:
        message = describe_error(exc)
        if not message.expected:
            log.error("%s failed", context, exc_info=exc)
        self.presenter.present(exc, context=context)


def _profession(record: RecordService) -> str | None:
    return record.current_profession()


class DashboardController(QObject):
    """Computes a dashboard on the DB lane and forwards "open this patient".

    Signals:
        shown(object): a Dashboard is displayed.
        patient_requested(int): the user wants this patient's file.
    """

    shown = Signal(object)
    patient_requested = Signal(int)

    def __init__(
        self, view: DashboardView, record: RecordService, tasks: TaskRunner, presenter: ErrorPresenter
    ) -> None:
        super().__init__(view)
        self.view = view
        self.record = record
        self.tasks = tasks
        self.presenter = presenter
        view.refresh_requested.connect(self.refresh)
        view.patient_requested.connect(self.patient_requested)

    def refresh(self) -> None:
        """Recompute the dashboard in the background."""
        self.view.set_waiting()
        record = self.record
        self.tasks.submit(record.dashboard, lane=Lane.DB, on_success=self._done, on_error=self._failed)

    def _done(self, dashboard: Dashboard) -> None:
        self.view.set_dashboard(dashboard)
        self.shown.emit(dashboard)

    def _failed(self, exc: BaseException) -> None:
        self.view.status.setText("Le tableau de bord n'a pas pu être calculé.")
        self.view.refresh_button.setEnabled(True)
        self.presenter.present(exc, context="Tableau de bord", retry=self.refresh)


class DashboardWindow(QDialog):
    """The dashboard in its own window (Dossier > Tableau de bord de suivi)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Tableau de bord de suivi")
        self.resize(QSize(1000, 640))
        layout = QVBoxLayout(self)
        self.view = DashboardView()
        layout.addWidget(self.view)


class RecordLauncher(QObject):
    """Everything the clinical record adds to the main window: the Observations tab, the dashboard tab and
    window; the main controller only forwards the displayed file.
    """

    def __init__(
        self,
        record: RecordService,
        tasks: TaskRunner,
        presenter: ErrorPresenter,
        window: QWidget,
        observations_tab: ObservationsTab,
        dashboard_view: DashboardView,
        dashboard_first_shown: Any,
        open_patient: Callable[[int], None],
    ) -> None:
        super().__init__(window)
        self._record = record
        self._tasks = tasks
        self._presenter = presenter
        self._window = window
        self._open_patient = open_patient
        self.controller = RecordController(observations_tab, record, tasks, presenter)
        self.tab_dashboard = DashboardController(dashboard_view, record, tasks, presenter)
        self.tab_dashboard.patient_requested.connect(open_patient)
        dashboard_first_shown.connect(self.tab_dashboard.refresh)
        self.dashboard_window: DashboardWindow | None = None
        self.window_dashboard: DashboardController | None = None

    def show_file(self, file: Any) -> None:
        """A patient file is displayed: load its record (not for profiles that do not read care records)."""
        if self._record.can_read():
            self.controller.set_patient(int(file.id))

    def open_dashboard(self) -> None:
        """Dossier > Tableau de bord de suivi: a non-modal window, computed in the background."""
        if self.dashboard_window is not None and self.dashboard_window.isVisible():
            self.dashboard_window.raise_()
            self.dashboard_window.activateWindow()
            return
        window = DashboardWindow(self._window)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        controller = DashboardController(window.view, self._record, self._tasks, self._presenter)
        controller.patient_requested.connect(self._open_patient)
        window.finished.connect(lambda _r: self._closed())
        self.dashboard_window, self.window_dashboard = window, controller
        window.show()
        controller.refresh()

    def _closed(self) -> None:
        self.dashboard_window = None
        self.window_dashboard = None
