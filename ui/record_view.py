"""Views of the clinical record: the Observations tab (timeline, editors, forms, lists, alerts) and the dashboard."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.services.record import Dashboard, ObservationDetail, TemplateInfo
from domain.decision import Alert, AlertLevel, ScheduleItem
from domain.forms import FieldSpec, FieldType, FormTemplate, display_value, preview, visible_fields
from domain.macros import MacroSet
from domain.record import EntryKind, ObservationKind, ObservationLine, RecordEntry, TimelineSource

LEVEL_MARK = {AlertLevel.ALERT: "⚠", AlertLevel.WARNING: "●", AlertLevel.INFO: "ℹ"}
LEVEL_STYLE = {
    AlertLevel.ALERT: "background:#fde8e8; border:1px solid #c0392b; color:#5a1010;",
    AlertLevel.WARNING: "background:#fff6dc; border:1px solid #b7950b; color:#4a3b00;",
    AlertLevel.INFO: "background:#eaf2fb; border:1px solid #7f9cbf; color:#1d2b3a;",
}
ALL_KINDS = "Tout le dossier"
OBSERVATIONS = "Toutes les observations"
FREE_TEXT = "Texte libre"
SOURCE_MARK = {
    TimelineSource.OBSERVATION: "",
    TimelineSource.DOCUMENT: "▤ ",
    TimelineSource.PRESCRIPTION: "℞ ",
    TimelineSource.APPOINTMENT: "◷ ",
}
SOURCE_ROLE = Qt.ItemDataRole.UserRole + 1


def fr_datetime(moment: dt.datetime) -> str:
    """JJ/MM/AAAA HH:MM in local time."""
    return moment.astimezone().strftime("%d/%m/%Y %H:%M")


def fr_day(day: dt.date | None) -> str:
    """JJ/MM/AAAA, or "" for no date."""
    return day.strftime("%d/%m/%Y") if day else ""


# ------------------------------------------------------------------------------------------------------------
# Timeline
# ------------------------------------------------------------------------------------------------------------


class TimelineModel(QAbstractListModel):
    """The timeline of a patient (observations, documents, prescriptions, appointments), most recent first,
    filtered by text and kind (thousands of lines)."""

    def __init__(self) -> None:
        super().__init__()
        self._all: list[ObservationLine] = []
        self._keys: list[str] = []
        self.rows: list[ObservationLine] = []
        self._text = ""
        self._kind = ALL_KINDS

    def set_lines(self, lines: Sequence[ObservationLine]) -> None:
        """Replace every line."""
        self._all = list(lines)
        self._keys = [f"{line.title} {line.summary} {line.author}".lower() for line in self._all]
        self._apply()

    def prepend(self, line: ObservationLine) -> None:
        """A new observation on top."""
        self.set_lines([line, *self._all])

    def set_filter(self, text: str, kind: str) -> None:
        """Keep lines containing ``text`` (title, summary, author) of the kind ``kind``."""
        self._text, self._kind = text.strip().lower(), kind
        self._apply()

    def titles(self) -> list[str]:
        """Distinct form titles present, for the kind filter."""
        return sorted(
            {
                line.title
                for line in self._all
                if line.kind is ObservationKind.FORM and line.source is TimelineSource.OBSERVATION
            }
        )

    def sources(self) -> list[TimelineSource]:
        """The other kinds of lines present (documents, prescriptions, appointments), for the kind filter."""
        present = {line.source for line in self._all}
        return [s for s in TimelineSource if s is not TimelineSource.OBSERVATION and s in present]

    @property
    def observation_count(self) -> int:
        """Observations before filtering."""
        return sum(1 for line in self._all if line.source is TimelineSource.OBSERVATION)

    def _apply(self) -> None:
        self.beginResetModel()
        text, kind = self._text, self._kind
        sources = {s.label_fr: s for s in TimelineSource if s is not TimelineSource.OBSERVATION}
        wanted = sources.get(kind)
        self.rows = [
            line
            for line, key in zip(self._all, self._keys, strict=True)
            if (not text or text in key)
            and (
                kind == ALL_KINDS
                or (wanted is not None and line.source is wanted)
                or (
                    line.source is TimelineSource.OBSERVATION
                    and (
                        kind == OBSERVATIONS
                        or (kind == FREE_TEXT and line.kind is ObservationKind.TEXT)
                        or (line.kind is ObservationKind.FORM and line.title == kind)
                    )
                )
            )
        ]
        self.endResetModel()

    @property
    def total(self) -> int:
        """Lines before filtering."""
        return len(self._all)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        """Qt API."""
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Two lines per entry: date, title and author, then the summary; documents, prescriptions and
        appointments carry a mark."""
        if not index.isValid():
            return None
        line = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            author = f" — {line.author}" if line.author else ""
            return f"{fr_datetime(line.at)} — {SOURCE_MARK[line.source]}{line.title}{author}\n    {line.summary}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return line.summary
        if role == Qt.ItemDataRole.UserRole:
            return line.id
        if role == SOURCE_ROLE:
            return line.source.value
        return None

    def line_at(self, row: int) -> ObservationLine:
        """The shown line at ``row``."""
        return self.rows[row]


# ------------------------------------------------------------------------------------------------------------
# Free text with macros
# ------------------------------------------------------------------------------------------------------------


class MacroTextEdit(QPlainTextEdit):
    """Plain-text editor that expands a macro keyword when the user types a space, Tab or Enter after it.

    Signals:
        expanded(str): a macro was expanded (its keyword).
    """

    expanded = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.macros: MacroSet | None = None
        self.context: Mapping[str, str] = {}

    def expand_at_cursor(self) -> bool:
        """Expand the keyword just before the cursor; True when one was expanded (undo restores it)."""
        if self.macros is None:
            return False
        cursor = self.textCursor()
        if cursor.hasSelection():
            return False
        position = cursor.position()
        block = cursor.block()
        offset = position - block.position()
        expansion = self.macros.expand_before(block.text(), offset, self.context)
        if expansion is None:
            return False
        edit = QTextCursor(self.document())
        edit.setPosition(block.position() + expansion.start)
        edit.setPosition(position, QTextCursor.MoveMode.KeepAnchor)
        edit.insertText(expansion.inserted)
        self.setTextCursor(edit)
        self.expanded.emit(expansion.macro.trigger)
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        """Space, Enter and Tab expand a keyword first (Tab is then swallowed)."""
        key = event.key()
        if key in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab):
            done = self.expand_at_cursor()
            if done and key == Qt.Key.Key_Tab:
                return
        super().keyPressEvent(event)


# ------------------------------------------------------------------------------------------------------------
# A form rendered from its template
# ------------------------------------------------------------------------------------------------------------


class FormView(QWidget):
    """Widgets built from a template: answers in, raw values out; conditions, scores and errors shown live.

    Signals:
        changed: an answer changed.
        attach_requested(str): the user wants to attach a file to the field.
    """

    changed = Signal()
    attach_requested = Signal(str)

    def __init__(self, template: FormTemplate, today: Callable[[], dt.date], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.template = template
        self._today = today
        self.form = QFormLayout(self)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.editors: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        self.checks: dict[str, dict[str, QCheckBox]] = {}
        self.derived: dict[str, QLabel] = {}
        self.attachments: dict[str, list[dict[str, object]]] = {}
        self.attachment_labels: dict[str, QLabel] = {}
        self.rows: dict[str, int] = {}
        if template.description:
            intro = QLabel(template.description)
            intro.setWordWrap(True)
            intro.setStyleSheet("color:#444;")
            self.form.addRow(intro)
        for spec in template.fields:
            self._add(spec)
        self.refresh()

    def _add(self, spec: FieldSpec) -> None:
        if spec.type is FieldType.SECTION:
            title = QLabel(f"<b>{html.escape(spec.label)}</b>")
            title.setStyleSheet("margin-top:8px; border-bottom:1px solid #bbb;")
            self.form.addRow(title)
            self.rows[spec.id] = self.form.rowCount() - 1
            return
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(1)
        editor = self._editor(spec)
        column.addWidget(editor)
        error = QLabel()
        error.setStyleSheet("color:#a61b1b;")
        error.setWordWrap(True)
        error.hide()
        column.addWidget(error)
        self.errors[spec.id] = error
        label = spec.label + (" *" if spec.required else "") + " :"
        caption = QLabel(label)
        caption.setWordWrap(True)
        if spec.help:
            caption.setToolTip(spec.help)
            editor.setToolTip(spec.help)
        self.form.addRow(caption, box)
        self.rows[spec.id] = self.form.rowCount() - 1

    def _editor(self, spec: FieldSpec) -> QWidget:
        if spec.type is FieldType.TEXT:
            if spec.multiline:
                text = QPlainTextEdit()
                text.setFixedHeight(64)
                text.textChanged.connect(self.changed)
                text.textChanged.connect(self.refresh)
                self.editors[spec.id] = text
                return text
            line = QLineEdit()
            line.setMaxLength(spec.max_length)
            line.textChanged.connect(self.changed)
            line.textChanged.connect(self.refresh)
            self.editors[spec.id] = line
            return line
        if spec.type in (FieldType.NUMBER, FieldType.DATE):
            row = QWidget()
            layout = QHBoxLayout(row)
            layout.setContentsMargins(0, 0, 0, 0)
            line = QLineEdit()
            line.setMaximumWidth(160)
            if spec.type is FieldType.DATE:
                line.setPlaceholderText("JJ/MM/AAAA")
            else:
                bounds = []
                if spec.minimum is not None:
                    bounds.append(f"{spec.minimum:g}")
                if spec.maximum is not None:
                    bounds.append(f"{spec.maximum:g}")
                line.setPlaceholderText(" à ".join(bounds))
            line.textChanged.connect(self.changed)
            line.textChanged.connect(self.refresh)
            layout.addWidget(line)
            if spec.unit:
                others = ", ".join(u for u, _ in spec.other_units)
                unit = QLabel(spec.unit + (f"  (ou {others})" if others else ""))
                unit.setStyleSheet("color:#555;")
                layout.addWidget(unit)
            layout.addStretch(1)
            self.editors[spec.id] = line
            return row
        if spec.type is FieldType.CHOICE:
            combo = QComboBox()
            combo.addItem("—", "")
            for option in spec.options:
                combo.addItem(
                    option.label + (f" ({option.points:g})" if option.points is not None else ""), option.value
                )
            combo.currentIndexChanged.connect(self.changed)
            combo.currentIndexChanged.connect(self.refresh)
            self.editors[spec.id] = combo
            return combo
        if spec.type is FieldType.CHECKLIST:
            box = QWidget()
            grid = QVBoxLayout(box)
            grid.setContentsMargins(0, 0, 0, 0)
            grid.setSpacing(0)
            self.checks[spec.id] = {}
            for option in spec.options:
                check = QCheckBox(option.label)
                check.toggled.connect(self.changed)
                check.toggled.connect(self.refresh)
                grid.addWidget(check)
                self.checks[spec.id][option.value] = check
            self.editors[spec.id] = box
            return box
        if spec.type in (FieldType.SCORE, FieldType.COMPUTED):
            label = QLabel("—")
            label.setStyleSheet("font-weight:bold;")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.derived[spec.id] = label
            self.editors[spec.id] = label
            return label
        if spec.type is FieldType.ATTACHMENT:
            row = QWidget()
            layout = QHBoxLayout(row)
            layout.setContentsMargins(0, 0, 0, 0)
            button = QPushButton("Joindre une photo…")
            button.clicked.connect(lambda: self.attach_requested.emit(spec.id))
            shown = QLabel("Aucune pièce jointe")
            shown.setStyleSheet("color:#555;")
            layout.addWidget(button)
            layout.addWidget(shown, 1)
            self.attachments[spec.id] = []
            self.attachment_labels[spec.id] = shown
            self.editors[spec.id] = row
            return row
        raise AssertionError(spec.type)

    def add_attachment(self, field_id: str, value: dict[str, object]) -> None:
        """Attach a stored file to a field."""
        self.attachments.setdefault(field_id, []).append(value)
        names = ", ".join(str(v.get("name", "")) for v in self.attachments[field_id])
        self.attachment_labels[field_id].setText(names)
        self.changed.emit()

    def raw_values(self) -> dict[str, object]:
        """The answers as typed (the service checks them)."""
        values: dict[str, object] = {}
        for spec in self.template.fields:
            editor = self.editors.get(spec.id)
            if spec.type is FieldType.CHECKLIST:
                values[spec.id] = [v for v, box in self.checks[spec.id].items() if box.isChecked()]
            elif spec.type is FieldType.ATTACHMENT:
                values[spec.id] = list(self.attachments.get(spec.id, []))
            elif isinstance(editor, QComboBox):
                values[spec.id] = editor.currentData() or ""
            elif isinstance(editor, QPlainTextEdit):
                values[spec.id] = editor.toPlainText()
            elif isinstance(editor, QLineEdit):
                values[spec.id] = editor.text()
        return values

    def set_values(self, values: Mapping[str, object]) -> None:
        """Fill the widgets (a restored draft)."""
        for spec in self.template.fields:
            value = values.get(spec.id)
            if value is None:
                continue
            editor = self.editors.get(spec.id)
            if spec.type is FieldType.CHECKLIST and isinstance(value, list):
                for option, box in self.checks[spec.id].items():
                    box.setChecked(option in value)
            elif spec.type is FieldType.ATTACHMENT and isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        self.add_attachment(spec.id, item)
            elif isinstance(editor, QComboBox):
                editor.setCurrentIndex(max(0, editor.findData(str(value))))
            elif isinstance(editor, QPlainTextEdit):
                editor.setPlainText(str(value))
            elif isinstance(editor, QLineEdit):
                editor.setText(str(value))
        self.refresh()

    def refresh(self) -> None:
        """Show or hide fields by their conditions; recompute scores and derived values."""
        values = preview(self.template, self.raw_values(), self._today())
        shown = visible_fields(self.template, values)
        for spec in self.template.fields:
            row = self.rows.get(spec.id)
            if row is not None:
                self.form.setRowVisible(row, spec.id in shown)
            label = self.derived.get(spec.id)
            if label is not None:
                text = display_value(spec, values.get(spec.id))
                label.setText(text or "— (à compléter)")

    def show_errors(self, errors: Mapping[str, str]) -> None:
        """French messages next to their fields (cleared elsewhere)."""
        for field_id, label in self.errors.items():
            message = errors.get(field_id, "")
            label.setText(f"⚠ {message}" if message else "")
            label.setVisible(bool(message))


# ------------------------------------------------------------------------------------------------------------
# Structured lists
# ------------------------------------------------------------------------------------------------------------

ENTRY_COLUMNS = {
    EntryKind.ALLERGY: ("Substance", "Réaction / précisions", "Notée le"),
    EntryKind.TREATMENT: ("Traitement", "Posologie / précisions", "Depuis le", "Jusqu'au"),
    EntryKind.HISTORY: ("Antécédent", "Précisions", "Date"),
    EntryKind.VACCINATION: ("Vaccin", "Valences", "Date", "Lot / précisions"),
}


class EntryList(QGroupBox):
    """One structured list with its quick-add row.

    Signals:
        add_requested(object): a dict with label, detail, start, end, code.
        close_requested(int): remove/stop the selected line (its id).
    """

    add_requested = Signal(object)
    close_requested = Signal(int)

    def __init__(self, kind: EntryKind, parent: QWidget | None = None) -> None:
        super().__init__(kind.label_fr, parent)
        self.kind = kind
        layout = QVBoxLayout(self)
        columns = ENTRY_COLUMNS[kind]
        self.table = QTableWidget(0, len(columns))
        self.table.setHorizontalHeaderLabels(list(columns))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setMaximumHeight(130)
        layout.addWidget(self.table)
        add = QHBoxLayout()
        self.product = QComboBox()
        self.product.setVisible(kind is EntryKind.VACCINATION)
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText(columns[0])
        self.detail_edit = QLineEdit()
        self.detail_edit.setPlaceholderText("Précisions")
        self.start_edit = QLineEdit()
        self.start_edit.setPlaceholderText("JJ/MM/AAAA")
        self.start_edit.setMaximumWidth(100)
        self.add_button = QPushButton("Ajouter")
        self.remove_button = QPushButton("Retirer" if kind is not EntryKind.TREATMENT else "Arrêter")
        self.remove_button.setToolTip("La ligne reste dans l'historique du dossier (tracé), elle n'est plus active.")
        if kind is EntryKind.VACCINATION:
            add.addWidget(self.product, 2)
            self.label_edit.hide()
        else:
            add.addWidget(self.label_edit, 2)
        add.addWidget(self.detail_edit, 2)
        add.addWidget(self.start_edit)
        add.addWidget(self.add_button)
        add.addWidget(self.remove_button)
        layout.addLayout(add)
        self.error = QLabel()
        self.error.setStyleSheet("color:#a61b1b;")
        self.error.hide()
        layout.addWidget(self.error)
        self.add_button.clicked.connect(self._add)
        self.label_edit.returnPressed.connect(self._add)
        self.remove_button.clicked.connect(self._remove)
        self.ids: list[int] = []

    def set_products(self, products: Mapping[str, Sequence[str]]) -> None:
        """Vaccine products and their valences (from the schedule file)."""
        self.product.clear()
        for name, valences in products.items():
            self.product.addItem(name, ",".join(valences))

    def _add(self) -> None:
        if self.kind is EntryKind.VACCINATION:
            label, code = self.product.currentText(), str(self.product.currentData() or "")
        else:
            label, code = self.label_edit.text(), ""
        self.add_requested.emit(
            {"label": label, "code": code, "detail": self.detail_edit.text(), "start": self.start_edit.text()}
        )

    def _remove(self) -> None:
        row = self.table.currentRow()
        if 0 <= row < len(self.ids):
            self.close_requested.emit(self.ids[row])

    def added(self) -> None:
        """Clear the quick-add row after a successful add."""
        for edit in (self.label_edit, self.detail_edit, self.start_edit):
            edit.clear()
        self.show_error("")

    def show_error(self, message: str) -> None:
        """A French message under the list ("" hides it)."""
        self.error.setText(f"⚠ {message}" if message else "")
        self.error.setVisible(bool(message))

    def set_entries(self, entries: Sequence[RecordEntry]) -> None:
        """Show the active lines of this list."""
        mine = [e for e in entries if e.kind is self.kind and e.active]
        self.ids = [e.id or 0 for e in mine]
        self.table.setRowCount(len(mine))
        for row, entry in enumerate(mine):
            cells: tuple[str, ...]
            if self.kind is EntryKind.VACCINATION:
                cells = (entry.label, entry.code.replace(",", ", "), fr_day(entry.start), entry.detail)
            elif self.kind is EntryKind.TREATMENT:
                cells = (entry.label, entry.detail, fr_day(entry.start), fr_day(entry.end))
            elif self.kind is EntryKind.ALLERGY:
                cells = (entry.label, entry.detail, fr_day(entry.recorded_at.date() if entry.recorded_at else None))
            else:
                cells = (entry.label, entry.detail, fr_day(entry.start))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"Saisi par {entry.recorded_by}")
                self.table.setItem(row, column, item)


# ------------------------------------------------------------------------------------------------------------
# Alerts
# ------------------------------------------------------------------------------------------------------------


class AlertRow(QFrame):
    """One alert: level word and mark, title, "Pourquoi ?" and "Écarter…".

    Signals:
        explain_requested(object) / dismiss_requested(object): the Alert.
    """

    explain_requested = Signal(object)
    dismiss_requested = Signal(object)

    def __init__(self, alert: Alert, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.alert = alert
        self.setStyleSheet(f"AlertRow {{ {LEVEL_STYLE[alert.level]} border-radius:3px; }}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        self.text = QLabel(f"{LEVEL_MARK[alert.level]} <b>{alert.level.label_fr}</b> — {html.escape(alert.title)}")
        self.text.setToolTip(alert.explanation)
        self.text.setWordWrap(True)
        why = QPushButton("Pourquoi ?")
        why.clicked.connect(lambda: self.explain_requested.emit(alert))
        dismiss = QPushButton("Écarter…")
        dismiss.clicked.connect(lambda: self.dismiss_requested.emit(alert))
        layout.addWidget(self.text, 1)
        layout.addWidget(why)
        layout.addWidget(dismiss)


def explanation_html(alert: Alert) -> str:
    """The "why" of an alert: rule, explanation, the data it used, its source and link."""
    rows = "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in alert.data)
    link = f"<p><a href='{html.escape(alert.link)}'>{html.escape(alert.link)}</a></p>" if alert.link else ""
    return (
        f"<p><b>Règle :</b> {html.escape(alert.rule)}</p><p>{html.escape(alert.explanation)}</p>"
        f"<p><b>Données du dossier utilisées :</b></p><table cellspacing=4>{rows}</table>"
        f"<p style='color:#555'><b>Source :</b> {html.escape(alert.source)}</p>{link}"
    )


# ------------------------------------------------------------------------------------------------------------
# The Observations tab
# ------------------------------------------------------------------------------------------------------------


class ObservationsTab(QWidget):
    """Alerts on top; the timeline on the left; reading, writing, forms and lists on the right.

    Signals:
        selected(int): an observation was selected in the timeline.
        document_requested(int): the user asked to open a document (or prescription) of the timeline.
    """

    selected = Signal(int)
    document_requested = Signal(int)

    def __init__(self, today: Callable[[], dt.date] = dt.date.today, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.today = today
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        self.alerts_box = QWidget()
        self.alerts_layout = QVBoxLayout(self.alerts_box)
        self.alerts_layout.setContentsMargins(0, 0, 0, 0)
        self.alerts_layout.setSpacing(2)
        self.alerts_scroll = QScrollArea()
        self.alerts_scroll.setWidgetResizable(True)
        self.alerts_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.alerts_scroll.setWidget(self.alerts_box)
        self.alerts_scroll.setMaximumHeight(110)
        self.alerts_scroll.hide()
        self.alert_rows: list[AlertRow] = []
        self.schedule_link = QLabel()
        self.schedule_link.setOpenExternalLinks(True)
        self.schedule_link.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        outer.addWidget(self.alerts_scroll)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        filters = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filtrer (mot, auteur)…")
        self.filter_edit.setClearButtonEnabled(True)
        self.kind_filter = QComboBox()
        self.kind_filter.addItems([ALL_KINDS, OBSERVATIONS, FREE_TEXT])
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.kind_filter)
        left_layout.addLayout(filters)
        self.model = TimelineModel()
        self.timeline = QListView()
        self.timeline.setModel(self.model)
        self.timeline.setUniformItemSizes(True)
        self.timeline.setAlternatingRowColors(True)
        self.timeline.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        left_layout.addWidget(self.timeline, 1)
        self.count_label = QLabel()
        self.count_label.setStyleSheet("color:#555;")
        left_layout.addWidget(self.count_label)
        splitter.addWidget(left)

        self.work = QTabWidget()
        # Reading
        self.reader = QTextBrowser()
        self.reader.setOpenExternalLinks(False)
        self.reader.setOpenLinks(False)  # "document:ID" links are handled by _anchor
        self.reader.setHtml("<p style='color:#555'>Sélectionnez une observation dans la chronologie.</p>")
        self.work.addTab(self.reader, "Lecture")
        # Free text
        text_page = QWidget()
        text_layout = QVBoxLayout(text_page)
        hint = QHBoxLayout()
        self.macro_hint = QLabel("Macros : tapez @allergies, .pans… puis Espace.")
        self.macro_hint.setStyleSheet("color:#555;")
        self.macros_button = QPushButton("Macros…")
        hint.addWidget(self.macro_hint, 1)
        hint.addWidget(self.macros_button)
        text_layout.addLayout(hint)
        self.editor = MacroTextEdit()
        self.editor.setPlaceholderText("Observation en texte libre. Votre saisie est enregistrée automatiquement.")
        text_layout.addWidget(self.editor, 1)
        text_buttons = QHBoxLayout()
        self.draft_label = QLabel()
        self.draft_label.setStyleSheet("color:#555;")
        self.text_error = QLabel()
        self.text_error.setStyleSheet("color:#a61b1b;")
        self.text_error.setWordWrap(True)
        self.save_text_button = QPushButton("Enregistrer l'observation")
        text_buttons.addWidget(self.draft_label, 1)
        text_buttons.addWidget(self.save_text_button)
        text_layout.addWidget(self.text_error)
        text_layout.addLayout(text_buttons)
        self.work.addTab(text_page, "Texte libre")
        # Forms
        form_page = QWidget()
        form_layout = QVBoxLayout(form_page)
        chooser = QHBoxLayout()
        self.template_combo = QComboBox()
        self.template_combo.setMinimumWidth(260)
        self.open_form_button = QPushButton("Remplir")
        self.edit_template_button = QPushButton("Modifier une copie…")
        self.edit_template_button.setToolTip("Créer ou modifier la version du cabinet de ce formulaire")
        chooser.addWidget(QLabel("Formulaire :"))
        chooser.addWidget(self.template_combo, 1)
        chooser.addWidget(self.open_form_button)
        chooser.addWidget(self.edit_template_button)
        form_layout.addLayout(chooser)
        self.form_scroll = QScrollArea()
        self.form_scroll.setWidgetResizable(True)
        self.form_placeholder = QLabel("Choisissez un formulaire puis « Remplir ».")
        self.form_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.form_scroll.setWidget(self.form_placeholder)
        form_layout.addWidget(self.form_scroll, 1)
        form_buttons = QHBoxLayout()
        self.form_error = QLabel()
        self.form_error.setStyleSheet("color:#a61b1b;")
        self.form_error.setWordWrap(True)
        self.save_form_button = QPushButton("Enregistrer le formulaire")
        self.save_form_button.setEnabled(False)
        form_buttons.addWidget(self.form_error, 1)
        form_buttons.addWidget(self.save_form_button)
        form_layout.addLayout(form_buttons)
        self.work.addTab(form_page, "Formulaire")
        self.form_view: FormView | None = None
        # Structured lists
        lists_page = QWidget()
        lists_layout = QVBoxLayout(lists_page)
        self.lists = {kind: EntryList(kind) for kind in EntryKind}
        for entry_list in self.lists.values():
            lists_layout.addWidget(entry_list)
        self.pregnancy_group = QGroupBox("Calendrier de la grossesse en cours")
        pregnancy_layout = QVBoxLayout(self.pregnancy_group)
        self.pregnancy_table = QTableWidget(0, 3)
        self.pregnancy_table.setHorizontalHeaderLabels(["Étape", "Période", "Réalisée"])
        self.pregnancy_table.verticalHeader().hide()
        self.pregnancy_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.pregnancy_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        pregnancy_layout.addWidget(self.pregnancy_table)
        self.pregnancy_group.hide()
        lists_layout.addWidget(self.pregnancy_group)
        lists_layout.addWidget(self.schedule_link)
        lists_layout.addStretch(1)
        lists_scroll = QScrollArea()
        lists_scroll.setWidgetResizable(True)
        lists_scroll.setWidget(lists_page)
        self.work.addTab(lists_scroll, "Allergies, traitements, vaccins")
        splitter.addWidget(self.work)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([440, 660])  # the timeline readable at once (date, title, author)
        outer.addWidget(splitter, 1)

        self.filter_edit.textChanged.connect(self._filter)
        self.kind_filter.currentTextChanged.connect(self._filter)
        self.timeline.selectionModel().currentChanged.connect(self._current)
        self.reader.anchorClicked.connect(self._anchor)
        self.timeline.doubleClicked.connect(self._activated)

    # -- timeline ------------------------------------------------------------------------------------------------
    def set_timeline(self, lines: Sequence[ObservationLine]) -> None:
        """Show the patient's observations."""
        self.model.set_lines(lines)
        current = self.kind_filter.currentText()
        self.kind_filter.blockSignals(True)
        self.kind_filter.clear()
        sources = [source.label_fr for source in self.model.sources()]
        self.kind_filter.addItems([ALL_KINDS, OBSERVATIONS, FREE_TEXT, *self.model.titles(), *sources])
        self.kind_filter.setCurrentText(current if self.kind_filter.findText(current) >= 0 else ALL_KINDS)
        self.kind_filter.blockSignals(False)
        self._filter()

    def add_line(self, line: ObservationLine) -> None:
        """A new observation on top of the timeline."""
        self.model.prepend(line)
        if self.kind_filter.findText(line.title) < 0 and line.kind is ObservationKind.FORM:
            self.kind_filter.addItem(line.title)
        self._count()

    def _filter(self) -> None:
        self.model.set_filter(self.filter_edit.text(), self.kind_filter.currentText())
        self._count()

    def _count(self) -> None:
        shown, total = self.model.rowCount(), self.model.total
        observations = self.model.observation_count
        others = total - observations
        text = f"{observations} observation{'s' if observations > 1 else ''}" if observations else "Aucune observation"
        if others:
            text += f" et {others} autre{'s' if others > 1 else ''} élément{'s' if others > 1 else ''}"
        if total == 0:
            self.count_label.setText("Aucune observation dans ce dossier.")
        elif shown == total:
            self.count_label.setText(text)
        else:
            self.count_label.setText(f"{shown} ligne(s) affichée(s) sur {total} ({text.lower()})")

    def _current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        line = self.model.line_at(current.row())
        if line.source is TimelineSource.OBSERVATION:
            self.selected.emit(line.id)
            return
        self.show_line(line)

    def show_line(self, line: ObservationLine) -> None:
        """A document, prescription or appointment of the timeline: what the list knows, and a link to open it."""
        head = (
            f"<h3>{SOURCE_MARK[line.source]}{html.escape(line.title)}</h3>"
            f"<p style='color:#555'>{fr_datetime(line.at)}"
            + (f" — {html.escape(line.author)}" if line.author else "")
            + "</p>"
        )
        body = f"<p>{html.escape(line.summary)}</p>"
        if line.source in (TimelineSource.DOCUMENT, TimelineSource.PRESCRIPTION):
            body += f"<p><a href='document:{line.id}'>Ouvrir le document</a></p>"
        elif line.source is TimelineSource.APPOINTMENT:
            body += "<p style='color:#555'>Le détail du rendez-vous est dans l'onglet Agenda.</p>"
        self.reader.setHtml(head + body)
        self.work.setCurrentWidget(self.reader)

    def _activated(self, index: QModelIndex) -> None:
        if index.isValid():
            line = self.model.line_at(index.row())
            if line.source in (TimelineSource.DOCUMENT, TimelineSource.PRESCRIPTION):
                self.document_requested.emit(line.id)

    def _anchor(self, url: QUrl) -> None:
        target = url.toString()
        if target.startswith("document:"):
            self.document_requested.emit(int(target.split(":", 1)[1]))

    def show_observation(self, detail: ObservationDetail) -> None:
        """Render an observation in the reading pane, with the template version it was written with."""
        obs = detail.observation
        head = (
            f"<h3>{html.escape(obs.title)}</h3><p style='color:#555'>{fr_datetime(obs.at)} — {html.escape(obs.author)}"
        )
        if detail.template is not None:
            head += f" — modèle « {html.escape(detail.template.title)} », version {detail.template.version}"
        head += "</p>"
        if obs.kind is ObservationKind.TEXT or detail.template is None:
            body = "<p>" + html.escape(obs.text).replace("\n", "<br>") + "</p>"
        else:
            rows = []
            for spec in detail.template.fields:
                if spec.type is FieldType.SECTION:
                    rows.append(f"<tr><td colspan=2><b><u>{html.escape(spec.label)}</u></b></td></tr>")
                    continue
                if spec.id not in obs.values:
                    continue
                shown = display_value(spec, obs.values[spec.id])
                rows.append(
                    f"<tr><td style='color:#333'>{html.escape(spec.label)}</td>"
                    f"<td><b>{html.escape(shown).replace(chr(10), '<br>')}</b></td></tr>"
                )
            body = "<table cellspacing=3>" + "".join(rows) + "</table>"
        self.reader.setHtml(head + body)
        self.work.setCurrentWidget(self.reader)

    # -- alerts --------------------------------------------------------------------------------------------------
    def set_alerts(self, alerts: Sequence[Alert]) -> list[AlertRow]:
        """Replace the alert rows (hidden when there is none)."""
        for row in self.alert_rows:
            row.setParent(None)
            row.deleteLater()
        self.alert_rows = [AlertRow(alert) for alert in alerts]
        for row in self.alert_rows:
            self.alerts_layout.addWidget(row)
        self.alerts_scroll.setVisible(bool(alerts))
        return self.alert_rows

    def set_schedule_link(self, url: str) -> None:
        """Link to the official vaccination schedule (SC.VACC/SCHEMA.01)."""
        self.schedule_link.setText(
            f"Schéma vaccinal officiel : <a href='{html.escape(url)}'>calendrier des vaccinations</a>"
        )

    def set_pregnancy_plan(self, items: Sequence[ScheduleItem]) -> None:
        """The visit schedule of the current pregnancy (hidden when none)."""
        self.pregnancy_group.setVisible(bool(items))
        self.pregnancy_table.setRowCount(len(items))
        for row, item in enumerate(items):
            cells = (item.label, f"du {fr_day(item.start)} au {fr_day(item.end)}", "✔ oui" if item.done else "non")
            for column, text in enumerate(cells):
                self.pregnancy_table.setItem(row, column, QTableWidgetItem(text))
        self.pregnancy_table.setMinimumHeight(min(360, 28 + 26 * len(items)))

    # -- forms ---------------------------------------------------------------------------------------------------
    def set_templates(self, templates: Sequence[TemplateInfo]) -> None:
        """The forms offered (the user's profession first)."""
        self.template_combo.clear()
        for info in templates:
            suffix = " (cabinet)" if info.origin == "utilisateur" else ""
            self.template_combo.addItem(f"{info.title}{suffix} — v{info.version}", (info.key, info.version))

    def show_form(self, template: FormTemplate) -> FormView:
        """Render a template to fill."""
        view = FormView(template, self.today)
        self.form_view = view
        self.form_scroll.setWidget(view)
        self.save_form_button.setEnabled(True)
        self.form_error.clear()
        self.work.setCurrentIndex(2)
        return view

    def close_form(self) -> None:
        """Back to the empty form page."""
        self.form_view = None
        placeholder = QLabel("Formulaire enregistré. Choisissez un formulaire puis « Remplir ».")
        placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.form_scroll.setWidget(placeholder)
        self.save_form_button.setEnabled(False)


# ------------------------------------------------------------------------------------------------------------
# Dashboard
# ------------------------------------------------------------------------------------------------------------


class SectionBars(QWidget):
    """A small bar chart: one bar per dashboard section, length by number of patients."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)

    def set_counts(self, counts: Sequence[tuple[str, int]]) -> None:
        """(title, count) per section."""
        while self.layout_.rowCount():
            self.layout_.removeRow(0)
        top = max((c for _, c in counts), default=0) or 1
        for title, count in counts:
            bar = QLabel(f" {count}")
            width = max(4, int(260 * count / top))
            bar.setStyleSheet(
                f"background: qlineargradient(x1:0, x2:1, stop:0 #4a7fb5, stop:{min(0.999, width / 300):.3f} #4a7fb5,"
                f" stop:{min(1.0, width / 300 + 0.001):.3f} transparent); color:#111; min-width:300px;"
            )
            self.layout_.addRow(f"{title} :", bar)


class DashboardView(QWidget):
    """The follow-up dashboard of a practitioner: sections of patients; a double-click opens the patient.

    Signals:
        refresh_requested: the user asked for fresh figures.
        patient_requested(int): open this patient.
    """

    refresh_requested = Signal()
    patient_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.title = QLabel("<b>Tableau de bord de suivi</b>")
        self.status = QLabel("Calcul en cours…")
        self.status.setStyleSheet("color:#555;")
        self.refresh_button = QPushButton("Actualiser")
        self.refresh_button.clicked.connect(self.refresh_requested)
        top.addWidget(self.title)
        top.addWidget(self.status, 1)
        top.addWidget(self.refresh_button)
        layout.addLayout(top)
        self.bars = SectionBars()
        layout.addWidget(self.bars)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["Patient", "Né(e) le", "Niveau", "Détail"])
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.tree.itemActivated.connect(self._activated)
        layout.addWidget(self.tree, 1)
        hint = QLabel("Double-cliquez sur une ligne (ou Entrée) pour ouvrir le dossier du patient.")
        hint.setStyleSheet("color:#555;")
        layout.addWidget(hint)
        self.dashboard: Dashboard | None = None

    def set_waiting(self) -> None:
        """The figures are being computed in the background."""
        self.status.setText("Calcul en cours…")
        self.refresh_button.setEnabled(False)

    def set_dashboard(self, dashboard: Dashboard) -> None:
        """Show the sections."""
        self.dashboard = dashboard
        self.refresh_button.setEnabled(True)
        self.title.setText(f"<b>Tableau de bord de suivi — {html.escape(dashboard.practitioner)}</b>")
        self.status.setText(
            f"{dashboard.patients_scanned:,} patients examinés le {fr_datetime(dashboard.generated_at)} "
            f"en {dashboard.seconds:.1f} s".replace(",", "\u202f")
        )
        self.bars.set_counts([(s.title, s.total) for s in dashboard.sections])
        self.tree.clear()
        for section in dashboard.sections:
            shown = len(section.lines)
            more = f" ({shown} affichés)" if shown < section.total else ""
            parent = QTreeWidgetItem([f"{section.title} — {section.total} patient(s){more}", "", "", ""])
            parent.setToolTip(0, section.explanation)
            parent.setFirstColumnSpanned(True)
            font = parent.font(0)
            font.setBold(True)
            parent.setFont(0, font)
            self.tree.addTopLevelItem(parent)
            for line in section.lines:
                item = QTreeWidgetItem(
                    [line.name, fr_day(line.birth_date), f"{LEVEL_MARK[line.level]} {line.level.label_fr}", line.detail]
                )
                item.setData(0, Qt.ItemDataRole.UserRole, line.patient_id)
                item.setToolTip(3, line.detail)
                parent.addChild(item)
            parent.setExpanded((section.total > 0 and section.total <= 50) or section.key in ("suivi", "plaies"))
        self.tree.resizeColumnToContents(0)
        self.tree.resizeColumnToContents(2)

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        pid = item.data(0, Qt.ItemDataRole.UserRole)
        if pid is not None:
            self.patient_requested.emit(int(pid))


class DashboardPage(QWidget):
    """The "Tableau de bord" tab: a dashboard view computed the first time the tab is shown."""

    shown_first = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.view = DashboardView()
        layout.addWidget(self.view)
        self._done = False

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        """Compute on first display only (then on "Actualiser")."""
        super().showEvent(event)
        if not self._done:
            self._done = True
            QTimer.singleShot(0, self.shown_first.emit)
