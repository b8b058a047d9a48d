"""The patient list: a table model over PatientRow, its view with the search box, and its controller."""

from __future__ import annotations

import itertools
import logging
import re
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.dto import SearchResult
from app.services.patients import PatientService
from app.tasks import Lane, TaskRunner
from domain.errors import InvalidInput
from domain.ports import PatientRow
from ui.error_presenter import describe_error
from ui.identity_banner import (
    ATTRIBUTES,
    STATUS_COLOURS,
    attribute_words,
    born_word,
    format_date_fr,
    icon,
    status_icon,
)

log = logging.getLogger("lgc.ui")

DEBOUNCE_MS = 150

COLUMNS = ("Nom", "Prénom", "Naissance", "Sexe", "Statut", "Attributs")
COLUMN_TOOLTIPS = (
    "Nom utilisé, et nom de naissance quand il diffère",
    "Prénom utilisé, et 1er prénom de naissance entre parenthèses quand il diffère",
    "Date de naissance (JJ/MM/AAAA)",
    "Sexe : F féminin, M masculin, I indéterminé",
    "Statut de l'identité (RNIV) : provisoire, récupérée, validée ou qualifiée",
    "Attributs de l'identité : douteuse, fictive, homonyme",
)
COL_NAME, COL_GIVEN, COL_BIRTH, COL_SEX, COL_STATUS, COL_ATTRIBUTES = range(len(COLUMNS))

_ModelIndex = QModelIndex | QPersistentModelIndex


def display_name(row: PatientRow) -> str:
    """ "BARON née DUPUY" when the used name differs from the birth name, else the birth name."""
    if row.used_name and row.used_name != row.birth_name:
        return f"{row.used_name} {born_word(row.sex)} {row.birth_name}"
    return row.birth_name


def display_given_name(row: PatientRow) -> str:
    """The used first name followed by the first birth first name in brackets when they differ."""
    if row.used_given_name and row.used_given_name != row.first_given_name:
        return f"{row.used_given_name} ({row.first_given_name})"
    return row.first_given_name


class PatientListModel(QAbstractTableModel):
    """Read-only table over a tuple of ``PatientRow``.

    The matricule INS is deliberately not a column: the list is seen over a shoulder and mixes every
    status, while RNIV rule 28 reserves the INS to qualified identities. The status column says whether
    an identity is qualified; the banner of the open file shows its INS. Searching by a full matricule
    still works from the search box.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: tuple[PatientRow, ...] = ()

    @property
    def rows(self) -> tuple[PatientRow, ...]:
        """The rows shown."""
        return self._rows

    def set_rows(self, rows: tuple[PatientRow, ...]) -> None:
        """Replace every row."""
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def row_at(self, row: int) -> PatientRow | None:
        """The patient on line ``row``, if any."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, patient_id: int) -> int:
        """The line of a patient, or -1."""
        return next((i for i, r in enumerate(self._rows) if r.id == patient_id), -1)

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        """Number of patients (flat table)."""
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        """Number of columns."""
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802 (Qt API)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        """French column titles."""
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMN_TOOLTIPS[section]
        return None

    def data(self, index: _ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Text, icon, colour and tooltip of a cell."""
        row = self.row_at(index.row()) if index.isValid() else None
        if row is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == Qt.ItemDataRole.DecorationRole:
            if column == COL_STATUS:
                return status_icon(row.status)
            if column == COL_ATTRIBUTES:
                flags = {"doubtful": row.doubtful, "fictitious": row.fictitious, "homonym": row.homonym}
                first = next((f for key, _, f, _ in ATTRIBUTES if flags[key]), None)
                return icon(first) if first else None
        if role == Qt.ItemDataRole.ForegroundRole and column == COL_STATUS:
            return QBrush(QColor(STATUS_COLOURS[row.status]))
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == Qt.ItemDataRole.UserRole:
            return row.id
        return None

    @staticmethod
    def _text(row: PatientRow, column: int) -> str:
        if column == COL_NAME:
            return display_name(row)
        if column == COL_GIVEN:
            return display_given_name(row)
        if column == COL_BIRTH:
            return format_date_fr(row.birth_date)
        if column == COL_SEX:
            return row.sex.value
        if column == COL_STATUS:
            return row.status.label_fr
        if column == COL_ATTRIBUTES:
            return ", ".join(attribute_words(row.doubtful, row.fictitious, row.homonym))
        return ""

    @staticmethod
    def _tooltip(row: PatientRow, column: int) -> str:
        if column == COL_NAME:
            used = row.used_name or "—"
            return f"Nom de naissance : {row.birth_name}\nNom utilisé : {used}"
        if column == COL_GIVEN:
            used = row.used_given_name or "—"
            return f"1er prénom de naissance : {row.first_given_name}\nPrénom utilisé : {used}"
        if column == COL_SEX:
            return row.sex.label_fr
        if column == COL_STATUS:
            return row.status.advice_fr
        if column == COL_ATTRIBUTES:
            flags = {"doubtful": row.doubtful, "fictitious": row.fictitious, "homonym": row.homonym}
            return "\n".join(tip for key, _, _, tip in ATTRIBUTES if flags[key])
        return ""


class PatientTableView(QTableView):
    """The table: Enter or double-click opens the patient.

    Signals:
        open_requested(int): the user asked to open this patient id.
    """

    open_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.doubleClicked.connect(self._open_index)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        """Enter/Return opens the selected patient."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._open_index(self.currentIndex())
            return
        super().keyPressEvent(event)

    def _open_index(self, index: QModelIndex) -> None:
        patient_id = index.siblingAtColumn(0).data(Qt.ItemDataRole.UserRole)
        if isinstance(patient_id, int):
            self.open_requested.emit(patient_id)


class _SearchBox(QLineEdit):
    """Search line: Down moves to the list, Enter opens the single or first result.

    Signals:
        down_pressed: the user wants to move into the list.
        enter_pressed: the user validated the search.
    """

    down_pressed = Signal()
    enter_pressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        """Route Down and Enter to the list."""
        if event.key() == Qt.Key.Key_Down:
            self.down_pressed.emit()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.enter_pressed.emit()
            return
        super().keyPressEvent(event)


class PatientListView(QWidget):
    """Layout of the patient list: search box, message lines, table, count line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.search_box = _SearchBox()
        self.search_box.setPlaceholderText("Rechercher : nom, prénom, date JJ/MM/AAAA, année ou matricule INS")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setAccessibleName("Recherche de patient")
        self.error_label = QLabel()
        self.error_label.setObjectName("searchError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("#searchError { color: #b00020; }")
        self.hint_label = QLabel()
        self.hint_label.setObjectName("searchHint")
        self.hint_label.setWordWrap(True)
        self.hint_label.setStyleSheet("#searchHint { color: #555; font-style: italic; }")
        # The message lines live in a box of constant height: showing or clearing a message must not resize
        # the table, whose relayout stalled the event loop at every keystroke (bench/ui_stall).
        messages = QWidget()
        messages_layout = QVBoxLayout(messages)
        messages_layout.setContentsMargins(0, 0, 0, 0)
        messages_layout.setSpacing(0)
        messages_layout.addWidget(self.error_label)
        messages_layout.addWidget(self.hint_label)
        messages_layout.addStretch(1)
        messages.setFixedHeight(self.fontMetrics().lineSpacing() * 2 + 2)
        self.table = PatientTableView()
        self.count_label = QLabel()
        self.count_label.setObjectName("countLabel")
        self.count_label.setWordWrap(True)
        layout.addWidget(self.search_box)
        layout.addWidget(messages)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)

    def configure_columns(self) -> None:
        """Column widths once a model is set."""
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_GIVEN, QHeaderView.ResizeMode.Interactive)
        header.setMinimumSectionSize(36)
        # Fixed widths from the font, computed once: ResizeToContents asks every row for its size hint at each
        # new result set, which stalled the event loop by tens of milliseconds (bench/ui_stall).
        metrics = self.table.fontMetrics()
        widths = {
            COL_GIVEN: metrics.horizontalAdvance("JEAN-BAPTISTE") + 12,
            COL_BIRTH: metrics.horizontalAdvance("00/00/0000") + 14,
            COL_SEX: metrics.horizontalAdvance("Sexe") + 12,
            COL_STATUS: metrics.horizontalAdvance("récupérée") + 30,
            COL_ATTRIBUTES: metrics.horizontalAdvance("homonyme") + 26,
        }
        for column, width in widths.items():
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, width)

    def show_error(self, text: str) -> None:
        """A French message under the box (red, prefixed so colour is not the only carrier)."""
        self.error_label.setText(f"⚠ {text}" if text else "")

    def show_hint(self, text: str) -> None:
        """A remark under the box (incomplete date…)."""
        self.hint_label.setText(text)


def count_text(shown: int, truncated: bool) -> str:
    """ "N patients affichés", with the advice to refine when truncated."""
    if shown == 0:
        return "Aucun patient ne correspond à la recherche."
    noun = "patient affiché" if shown == 1 else "patients affichés"
    text = f"{shown} {noun}"
    if truncated:
        text += " (plus de résultats : affinez la recherche)"
    return text


def should_search(text: str) -> bool:
    """Type-ahead starts at 2 characters, or at the first digit (dates, matricules); empty = the whole list."""
    stripped = text.strip()
    return not stripped or len(stripped) >= 2 or bool(re.search(r"\d", stripped))


class PatientListController(QObject):
    """Type-ahead search: debounced, run on the DB lane with a request id, stale answers dropped.

    Signals:
        patient_activated(int): the user opened a patient (double-click, Enter).
        results_shown(int): a search answer was displayed (number of rows).
    """

    patient_activated = Signal(int)
    results_shown = Signal(int)

    def __init__(self, view: PatientListView, patients: PatientService, tasks: TaskRunner) -> None:
        super().__init__(view)
        self.view = view
        self._patients = patients
        self._tasks = tasks
        self.model = PatientListModel(self)
        view.table.setModel(self.model)
        view.configure_columns()
        self._ids = itertools.count(1)
        self._latest = 0
        self._select_after: int | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._run_search)
        view.search_box.textChanged.connect(self._text_changed)
        view.search_box.down_pressed.connect(self._focus_table)
        view.search_box.enter_pressed.connect(self._enter_in_box)
        view.table.open_requested.connect(self.patient_activated)

    def set_waiting(self, text: str) -> None:
        """Show a waiting message instead of results (start-up), with the search box disabled."""
        self.view.search_box.setEnabled(False)
        self.view.count_label.setText(text)

    def refresh(self, select_id: int | None = None) -> None:
        """Run the current search again now (after a patient was saved); select ``select_id`` if listed."""
        self.view.search_box.setEnabled(True)
        self._select_after = select_id
        self._timer.stop()
        self._run_search()

    def _text_changed(self, _text: str) -> None:
        self._timer.start()

    def _run_search(self) -> None:
        text = self.view.search_box.text()
        if not should_search(text):
            # One letter matches half the practice: wait for the second one.
            self._latest = next(self._ids)
            self.view.show_error("")
            self.view.show_hint("Saisissez au moins 2 lettres (ou une date, un matricule INS).")
            return
        request_id = next(self._ids)
        self._latest = request_id
        self._tasks.submit(
            lambda: self._patients.search(text, request_id),
            lane=Lane.DB,
            on_success=self._show_result,
            on_error=lambda exc: self._show_error(request_id, exc),
        )

    def _show_result(self, result: SearchResult) -> None:
        if result.request_id != self._latest:
            return
        self.view.show_error("")
        self.view.show_hint(result.hint)
        self.model.set_rows(result.rows)
        self.view.count_label.setText(count_text(len(result.rows), result.truncated))
        if self._select_after is not None:
            line = self.model.row_of(self._select_after)
            if line >= 0:
                self.view.table.selectRow(line)
            self._select_after = None
        self.results_shown.emit(len(result.rows))

    def _show_error(self, request_id: int, exc: BaseException) -> None:
        if request_id != self._latest:
            return
        if isinstance(exc, InvalidInput):
            self.view.show_hint("")
            self.view.show_error(" ".join(exc.field_errors.values()))
            return
        message = describe_error(exc)
        if not message.expected:
            log.error("Search failed", exc_info=exc)
        self.view.show_error(f"{message.text} {message.action}".strip())

    def _focus_table(self) -> None:
        if self.model.rowCount() > 0:
            self.view.table.setFocus()
            if not self.view.table.currentIndex().isValid():
                self.view.table.selectRow(0)

    def _enter_in_box(self) -> None:
        # Enter right after typing: flush the debounce so the answer matches what is in the box.
        if self._timer.isActive():
            self._timer.stop()
            self._run_search()
            return
        index = self.view.table.currentIndex()
        line = index.row() if index.isValid() else 0
        row = self.model.row_at(line)
        if row is not None and (self.model.rowCount() == 1 or index.isValid()):
            self.patient_activated.emit(row.id)
        else:
            self._focus_table()
