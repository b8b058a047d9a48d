"""The Agenda window: day/week/month views, the round of the day, the waiting list, reminders; and its controller."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.services.agenda import (
    AgendaPeriod,
    AgendaService,
    ChangeResult,
    PractitionerInfo,
    RoundSuggestion,
    RoundView,
    SeriesPreview,
    SeriesRequest,
    SeriesSummary,
    WaitingOffer,
)
from app.tasks import Lane, TaskRunner
from domain.agenda import (
    MONTH_NAMES_FR,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Conflict,
    FreedSlot,
    PartOfDay,
    PlaceKind,
    Reminder,
    SchedulingConflict,
    SeriesPlan,
    WaitingEntry,
    find_conflicts,
    format_day_fr,
    format_slot_fr,
    parse_rhythm,
    to_local,
    week_start,
)
from domain.errors import InvalidInput
from domain.practice import Profession
from ui.agenda_dialogs import (
    AppointmentDialog,
    CancelDialog,
    PatientPicker,
    SeriesDialog,
    WaitingEntryDialog,
    date_edit,
    from_qdate,
    small_button,
    to_qdate,
)
from ui.agenda_grid import GridColumn, MonthGridView, TimeGridView, column_label, moved_copy, short_name
from ui.error_presenter import ErrorPresenter

if TYPE_CHECKING:  # the composition root's type only
    from app.bootstrap import Services

log = logging.getLogger("lgc.ui.agenda")

VIEW_DAY, VIEW_WEEK, VIEW_MONTH = "jour", "semaine", "mois"
PREFERRED_TYPES = {
    Profession.NURSE: "SOIN_DOM",
    Profession.ADVANCED_PRACTICE_NURSE: "CONSULT",
    Profession.MIDWIFE: "SUIVI_GROSSESSE",
    Profession.PHYSIOTHERAPIST: "REEDUC",
    Profession.SPEECH_THERAPIST: "REEDUC",
    Profession.ORTHOPTIST: "CONSULT",
    Profession.PODIATRIST: "SOIN_CAB",
}
ALL = -1


class RoundPanel(QWidget):
    """The round of the day: a reorderable list (drag and drop, Alt+Up/Down) and the round sheet."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.practitioner = QComboBox()
        self.day = date_edit(dt.date.today())
        top.addWidget(QLabel("Tournée de"))
        top.addWidget(self.practitioner, 1)
        top.addWidget(QLabel("le"))
        top.addWidget(self.day)
        layout.addLayout(top)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.list = QListWidget()
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.list.setAlternatingRowColors(True)
        self.list.setWordWrap(True)
        self.list.setToolTip("Glissez-déposez les visites (ou Alt+↑ / Alt+↓) pour changer l'ordre de passage.")
        layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        self.suggest = small_button("Ordre suggéré (trajets plus courts)", "Propose un ordre réduisant les trajets")
        self.retime = QCheckBox("Recalculer les heures de passage")
        self.save = small_button("Enregistrer l'ordre", "Garde cet ordre de passage")
        self.print_sheet = small_button("Feuille de tournée (PDF)", "Crée la feuille de tournée à imprimer")
        for widget in (self.suggest, self.retime, self.save, self.print_sheet):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.sheet_label = QLabel("")
        self.sheet_label.setOpenExternalLinks(True)
        self.sheet_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        layout.addWidget(self.sheet_label)
        self.list.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: object) -> bool:  # noqa: N802 (Qt API)
        """Alt+Up / Alt+Down move the current visit."""
        from PySide6.QtCore import QEvent
        from PySide6.QtGui import QKeyEvent

        if (
            watched is self.list
            and isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and event.modifiers() & Qt.KeyboardModifier.AltModifier
            and event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down)
        ):
            row = self.list.currentRow()
            target = row - 1 if event.key() == Qt.Key.Key_Up else row + 1
            if row >= 0 and 0 <= target < self.list.count():
                item = self.list.takeItem(row)
                self.list.insertItem(target, item)
                self.list.setCurrentRow(target)
            return True
        return False

    def set_round(self, view: RoundView | RoundSuggestion, note: str = "") -> None:
        """Fill the list (each visit: time, duration, patient, address, access code, care)."""
        self.list.clear()
        stops = view.stops
        for number, stop in enumerate(stops, start=1):
            start = to_local(stop.start)
            status = "" if stop.status is AppointmentStatus.PLANNED else f" [{stop.status.label_fr}]"
            text = (
                f"{number}. {start:%H:%M} ({stop.minutes} min) — {stop.patient_name}{status}\n"
                f"    {stop.address}"
                + (f" — accès : {stop.door_code}" if stop.door_code else "")
                + f"\n    {stop.care}"
            )
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, stop.appointment_id)
            self.list.addItem(item)
        if isinstance(view, RoundView):
            total = sum(s.minutes for s in stops)
            self.summary.setText(
                f"{len(stops)} visite(s) à domicile, {total // 60} h {total % 60:02d} de soins, trajet estimé "
                f"≈ {view.estimated_km:.1f} km depuis {view.start_address or 'le cabinet'}. {note}"
            )
        else:
            self.summary.setText(
                f"Ordre suggéré : trajet estimé ≈ {view.km_after:.1f} km au lieu de {view.km_before:.1f} km "
                "(estimation hors ligne d'après les adresses). Vérifiez-le puis « Enregistrer l'ordre »."
            )
        if not stops:
            self.list.addItem(QListWidgetItem("Aucune visite à domicile ce jour."))

    def ordered_ids(self) -> list[int]:
        """Appointment ids in the list's current order."""
        ids = []
        for row in range(self.list.count()):
            value = self.list.item(row).data(Qt.ItemDataRole.UserRole)
            if value is not None:
                ids.append(int(value))
        return ids


class WaitingPanel(QWidget):
    """Patients waiting for a slot."""

    COLUMNS = ("Patient", "Praticien", "Type", "Durée", "Souhait", "Inscrit le", "Note")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Quand un créneau se libère (annulation, patient absent, déplacement), les patients en attente à qui il "
            "convient sont proposés en haut de l'agenda."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.add = QPushButton("Ajouter un patient…")
        self.remove = QPushButton("Retirer de la liste")
        buttons.addWidget(self.add)
        buttons.addWidget(self.remove)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.entries: list[WaitingEntry] = []

    def set_entries(self, entries: Sequence[WaitingEntry], names: dict[int, str], types: dict[str, str]) -> None:
        """Fill the table."""
        self.entries = list(entries)
        self.table.setRowCount(len(entries))
        for row, e in enumerate(entries):
            wish = e.part_of_day.label_fr
            if e.earliest or e.latest:
                wish += f", du {e.earliest:%d/%m/%Y}" if e.earliest else ""
                wish += f" au {e.latest:%d/%m/%Y}" if e.latest else ""
            cells = (
                e.patient_name,
                names.get(e.practitioner_id, "Indifférent") if e.practitioner_id else "Indifférent",
                types.get(e.type_code, e.type_code),
                f"{e.minutes} min",
                wish,
                f"{to_local(e.created_at):%d/%m/%Y}",
                e.note,
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)

    def selected_entry(self) -> WaitingEntry | None:
        """The selected entry."""
        row = self.table.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None


class AgendaWindow(QMainWindow):
    """Layout of the agenda window (no logic: see ``AgendaController``).

    Signals:
        closing: the window is closing.
    """

    closing = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Agenda — LGC")
        self.resize(QSize(1320, 860))
        bar = QToolBar("Agenda")
        bar.setObjectName("agendaToolbar")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.practitioner = QComboBox()
        self.practitioner.setMinimumWidth(220)
        self.practitioner.setMaximumWidth(300)
        self.practitioner.setToolTip("Un praticien, ou plusieurs côte à côte (tout le cabinet, le centre de santé)")
        self.view = QComboBox()
        for label, value in (("Jour", VIEW_DAY), ("Semaine", VIEW_WEEK), ("Mois", VIEW_MONTH)):
            self.view.addItem(label, value)
        self.view.setCurrentIndex(1)
        self.previous_action = QAction("◀", self)
        self.previous_action.setToolTip("Période précédente (Alt+←)")
        self.previous_action.setShortcut(QKeySequence("Alt+Left"))
        self.today_action = QAction("Aujourd'hui", self)
        self.today_action.setShortcut(QKeySequence("Alt+Home"))
        self.next_action = QAction("▶", self)
        self.next_action.setToolTip("Période suivante (Alt+→)")
        self.next_action.setShortcut(QKeySequence("Alt+Right"))
        self.period_label = QLabel("")
        self.period_label.setMinimumWidth(230)
        self.period_label.setStyleSheet("font-weight: bold; padding: 0 8px;")
        self.new_action = QAction("Nouveau RDV…", self)
        self.new_action.setShortcut(QKeySequence("Ctrl+N"))
        self.series_action = QAction("Série de soins…", self)
        self.cancel_action = QAction("Annuler RDV…", self)
        self.cancel_action.setToolTip("Annuler le rendez-vous choisi, avec un motif (Suppr)")
        self.no_show_action = QAction("Absent", self)
        self.no_show_action.setToolTip("Le patient n'est pas venu")
        self.done_action = QAction("Réalisé", self)
        self.done_action.setToolTip("La séance a eu lieu (comptée sur la prescription)")
        self.reopen_action = QAction("Remettre prévu", self)
        self.undo_action = QAction("↶ Défaire", self)
        self.undo_action.setToolTip("Annuler la dernière modification (Ctrl+Z)")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.undo_action.setEnabled(False)
        self.show_cancelled = QCheckBox("Afficher les annulés")
        bar.addWidget(QLabel(" Agenda de "))
        bar.addWidget(self.practitioner)
        bar.addWidget(self.view)
        bar.addAction(self.previous_action)
        bar.addAction(self.today_action)
        bar.addAction(self.next_action)
        bar.addWidget(self.period_label)
        bar.addSeparator()
        for action in (self.new_action, self.series_action):
            bar.addAction(action)
        bar.addSeparator()
        for action in (self.cancel_action, self.no_show_action, self.done_action, self.reopen_action):
            bar.addAction(action)
        bar.addSeparator()
        bar.addAction(self.undo_action)
        bar.addWidget(self.show_cancelled)

        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(4, 4, 4, 4)
        self.offer_bar = QFrame()
        self.offer_bar.setObjectName("offerBar")
        self.offer_bar.setStyleSheet("#offerBar { background: #e8f3e0; border: 1px solid #6a9a4a; }")
        offer_layout = QHBoxLayout(self.offer_bar)
        self.offer_label = QLabel("")
        self.offer_label.setWordWrap(True)
        self.offer_book = QPushButton("Donner ce créneau")
        self.offer_dismiss = QPushButton("Ignorer")
        offer_layout.addWidget(self.offer_label, 1)
        offer_layout.addWidget(self.offer_book)
        offer_layout.addWidget(self.offer_dismiss)
        self.offer_bar.hide()
        outer.addWidget(self.offer_bar)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        # A fixed height: a new message must not relayout (and repaint) the whole agenda below it.
        self.message.setFixedHeight(self.message.fontMetrics().lineSpacing() * 2 + 6)
        self.message.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        outer.addWidget(self.message)

        self.tabs = QTabWidget()
        self.planning = QStackedWidget()
        self.grid = TimeGridView()
        self.grid_scroll = QScrollArea()
        self.grid_scroll.setWidgetResizable(True)
        self.grid_scroll.setWidget(self.grid)
        self.grid_scroll.verticalScrollBar().valueChanged.connect(lambda _v: self.grid.update())
        self.month = MonthGridView()
        self.planning.addWidget(self.grid_scroll)
        self.planning.addWidget(self.month)
        self.round = RoundPanel()
        self.waiting = WaitingPanel()
        self.reminders = QListWidget()
        self.tabs.addTab(self.planning, "Planning")
        self.tabs.addTab(self.round, "Tournée du jour")
        self.tabs.addTab(self.waiting, "Liste d'attente")
        self.tabs.addTab(self.reminders, "Rappels")
        outer.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.legend = QLabel(
            "Glisser-déposer pour déplacer, bord bas pour la durée. Clavier : Tab choisit un rendez-vous, ↑/↓ le "
            "déplacent de 15 min, Maj+↑/↓ changent sa durée, ←/→ le changent de jour, Entrée l'ouvre, Suppr l'annule. "
            "⌂ domicile, ↻ série, ✓ réalisé."
        )
        self.legend.setWordWrap(True)
        self.statusBar().addWidget(self.legend, 1)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        """Tell the controller."""
        self.closing.emit()
        super().closeEvent(event)


class AgendaController(QObject):
    """What happens in the agenda window; every service call goes through the task runner.

    Signals:
        loaded: a period is displayed (tests and benches wait for it).
        changed: an appointment change was saved (the patient file's tab refreshes).
    """

    loaded = Signal()
    changed = Signal()
    ready = Signal()

    def __init__(self, window: AgendaWindow, services: Services, presenter: ErrorPresenter) -> None:
        super().__init__(window)
        self.window = window
        self._services = services
        self._agenda: AgendaService = services.agenda
        self._tasks: TaskRunner = services.tasks
        self.presenter = presenter
        self.practitioners: list[PractitionerInfo] = []
        self.types: list[AppointmentType] = []
        self.anchor = services.clock.today()
        self.period: AgendaPeriod | None = None
        self.dialog: AppointmentDialog | None = None
        self.series_dialog: SeriesDialog | None = None
        self.cancel_dialog: CancelDialog | None = None
        self.waiting_dialog: WaitingEntryDialog | None = None
        self.confirm_box: QMessageBox | None = None
        self.offer: WaitingOffer | None = None
        self.last_sheet: Path | None = None
        self._requests = itertools.count(1)
        self._latest = 0
        self._pending_moves = 0
        self._saved_versions: dict[int, int] = {}
        self._shown_key: tuple[object, ...] | None = None
        self.is_ready = False
        w = window
        w.practitioner.currentIndexChanged.connect(lambda _i: self.reload())
        w.view.currentIndexChanged.connect(lambda _i: self.reload())
        w.previous_action.triggered.connect(lambda: self.shift(-1))
        w.next_action.triggered.connect(lambda: self.shift(1))
        w.today_action.triggered.connect(self.go_today)
        w.new_action.triggered.connect(lambda: self.new_appointment())
        w.series_action.triggered.connect(lambda: self.new_series())
        w.cancel_action.triggered.connect(self.cancel_selected)
        w.no_show_action.triggered.connect(lambda: self._status_selected("absent"))
        w.done_action.triggered.connect(lambda: self._status_selected("fait"))
        w.reopen_action.triggered.connect(lambda: self._status_selected("prevu"))
        w.undo_action.triggered.connect(self.undo)
        w.show_cancelled.toggled.connect(self._toggle_cancelled)
        w.grid.move_requested.connect(self.move)
        w.grid.create_requested.connect(lambda pid, start: self.new_appointment(practitioner_id=pid, start=start))
        w.grid.edit_requested.connect(self.edit)
        w.grid.cancel_requested.connect(self.cancel)
        w.grid.selection_changed.connect(self._selection_changed)
        w.month.day_activated.connect(self._open_day)
        w.offer_book.clicked.connect(self._book_offer)
        w.offer_dismiss.clicked.connect(w.offer_bar.hide)
        w.round.practitioner.currentIndexChanged.connect(lambda _i: self.load_round())
        w.round.day.dateChanged.connect(lambda _d: self.load_round())
        w.round.suggest.clicked.connect(self.suggest_round)
        w.round.save.clicked.connect(self.save_round)
        w.round.print_sheet.clicked.connect(self.print_round)
        w.waiting.add.clicked.connect(self.add_waiting)
        w.waiting.remove.clicked.connect(self.remove_waiting)
        w.tabs.currentChanged.connect(self._tab_changed)
        self._selection_changed(None)

    # -- start and periods -----------------------------------------------------------------------------------
    def start(self, practitioner_id: int | None = None) -> None:
        """Load practitioners and types, then the current week (of ``practitioner_id`` or the signed-in user)."""
        agenda = self._agenda
        current = self._services.current_user

        def load() -> tuple[list[PractitionerInfo], list[AppointmentType], int | None]:
            me = current().id if current.is_set else None
            return agenda.practitioners(), agenda.appointment_types(), me

        def done(result: tuple[list[PractitionerInfo], list[AppointmentType], int | None]) -> None:
            practitioners, types, me = result
            self.practitioners, self.types = practitioners, types
            combo = self.window.practitioner
            combo.blockSignals(True)
            combo.clear()
            for p in practitioners:
                combo.addItem(f"{p.name}", [p.id])
            structures: dict[int | None, list[int]] = {}
            for p in practitioners:
                structures.setdefault(p.structure_id, []).append(p.id)
            if len(structures) > 1:
                for index, (_sid, ids) in enumerate(structures.items(), start=1):
                    names = ", ".join(short_name(p.name).split()[0] for p in practitioners if p.id in ids)
                    combo.addItem(f"Structure {index} ({len(ids)} praticiens : {names})", ids)
            combo.addItem(
                f"Tout le cabinet ({len(practitioners)} praticiens côte à côte)", [p.id for p in practitioners]
            )
            wanted = practitioner_id or me
            index = next((i for i in range(combo.count()) if combo.itemData(i) == [wanted]), 0)
            combo.setCurrentIndex(index)
            combo.blockSignals(False)
            rounds = self.window.round.practitioner
            rounds.blockSignals(True)
            rounds.clear()
            for p in practitioners:
                rounds.addItem(p.name, p.id)
            nurse = wanted if any(p.id == wanted and p.does_rounds for p in practitioners) else None
            nurse = nurse or next((p.id for p in practitioners if p.does_rounds), None)
            rounds.setCurrentIndex(max(rounds.findData(nurse), 0))
            rounds.blockSignals(False)
            self.window.round.day.setDate(to_qdate(self.anchor))
            self.is_ready = True
            self.ready.emit()
            self.reload()

        self._tasks.submit(load, lane=Lane.DB, on_success=done, on_error=self._failed("Ouverture de l'agenda"))

    def selected_ids(self) -> list[int]:
        """Practitioners shown."""
        data = self.window.practitioner.currentData()
        return list(data) if data else []

    def mode(self) -> str:
        """jour, semaine or mois."""
        return str(self.window.view.currentData())

    def bounds(self) -> tuple[dt.date, dt.date]:
        """First and last day of the period shown."""
        mode = self.mode()
        if mode == VIEW_DAY:
            return self.anchor, self.anchor
        if mode == VIEW_WEEK:
            first = week_start(self.anchor)
            return first, first + dt.timedelta(days=6)
        first = self.anchor.replace(day=1)
        grid_first = week_start(first)
        return grid_first, grid_first + dt.timedelta(days=41)

    def shift(self, direction: int) -> None:
        """Previous or next period."""
        mode = self.mode()
        if mode == VIEW_DAY:
            self.anchor += dt.timedelta(days=direction)
        elif mode == VIEW_WEEK:
            self.anchor += dt.timedelta(days=7 * direction)
        else:
            month = self.anchor.month - 1 + direction
            self.anchor = dt.date(self.anchor.year + month // 12, month % 12 + 1, 1)
        self.reload()

    def go_today(self) -> None:
        """Back to today."""
        self.anchor = self._services.clock.today()
        self.reload()

    def _open_day(self, day: dt.date) -> None:
        self.anchor = day
        self.window.view.setCurrentIndex(0)

    def reload(self) -> None:
        """Load the period on the DB lane; a later request wins."""
        ids = self.selected_ids()
        if not ids:
            return
        first, last = self.bounds()
        request = next(self._requests)
        self._latest = request
        agenda = self._agenda
        self._set_period_label(first, last)
        self._tasks.submit(
            lambda: agenda.period(ids, first, last),
            lane=Lane.DB,
            on_success=lambda period: self._show_period(request, period),
            on_error=self._failed("Chargement de l'agenda", retry=self.reload),
        )

    def _set_period_label(self, first: dt.date, last: dt.date) -> None:
        mode = self.mode()
        if mode == VIEW_DAY:
            text = format_day_fr(first).capitalize()
        elif mode == VIEW_WEEK:
            text = f"Semaine du {first:%d/%m/%Y} au {last:%d/%m/%Y}"
        else:
            text = f"{MONTH_NAMES_FR[self.anchor.month - 1].capitalize()} {self.anchor.year}"
        self.window.period_label.setText(text)

    def _show_period(self, request: int, period: AgendaPeriod) -> None:
        if request != self._latest:
            return
        self.period = period
        self.show_period(period)
        self.loaded.emit()

    def show_period(self, period: AgendaPeriod) -> None:
        """Paint ``period`` (public for the bench: this is the UI time of a view change)."""
        names = {p.id: column_label(p.name) for p in self.practitioners}
        if self.mode() == VIEW_MONTH:
            self.window.planning.setCurrentWidget(self.window.month)
            self.window.month.set_data(self.anchor, period.appointments, period.holidays, self.types)
            return
        self.window.planning.setCurrentWidget(self.window.grid_scroll)
        days = [period.first_day + dt.timedelta(days=i) for i in range((period.last_day - period.first_day).days + 1)]
        if self.mode() == VIEW_WEEK:
            # Saturday and Sunday only when something happens on them (home nursing works every day).
            busy = {to_local(a.start).date() for a in period.appointments if a.occupies_slot}
            days = [d for d in days if d.weekday() < 5 or d in busy]
        columns = [GridColumn(day, pid, names.get(pid, str(pid))) for day in days for pid in period.practitioner_ids]
        self.window.grid.set_data(
            columns,
            period.appointments,
            types=self.types,
            hours=period.working_hours,
            absences=period.absences,
            holidays=period.holidays,
        )
        key = (period.first_day, period.practitioner_ids, self.mode())
        if key != self._shown_key:
            # A new period opens at the start of the working day, not at midnight.
            self._shown_key = key
            first = min((p.start for hours in period.working_hours.values() for p in hours), default=dt.time(8))
            bar = self.window.grid_scroll.verticalScrollBar()
            bar.setValue(max(0, int((first.hour - self.window.grid.first_hour) * 60 * self.window.grid.px_per_minute)))

    def _toggle_cancelled(self, on: bool) -> None:
        self.window.grid.show_cancelled = on
        self.window.grid.relayout()

    def _selection_changed(self, appointment: Appointment | None) -> None:
        w = self.window
        planned = appointment is not None and appointment.status is AppointmentStatus.PLANNED
        w.cancel_action.setEnabled(planned)
        w.no_show_action.setEnabled(planned)
        w.done_action.setEnabled(planned)
        w.reopen_action.setEnabled(appointment is not None and not planned)
        if appointment is not None:
            where = f" — à domicile : {appointment.address}" if appointment.place is PlaceKind.HOME else ""
            text = f"{appointment.label} — {format_slot_fr(appointment.start, appointment.end)}{where}"
            if appointment.status is not AppointmentStatus.PLANNED:
                text += f" — {appointment.status.label_fr}"
                if appointment.status_reason:
                    text += f" ({appointment.status_reason})"
            w.message.setText(text)

    # -- move (drag and drop, keyboard) ------------------------------------------------------------------------
    def move(self, appointment: Appointment, start: dt.datetime, end: dt.datetime, practitioner_id: int) -> None:
        """Check conflicts locally (shown before saving), show the move at once, save on the DB lane."""
        candidate = moved_copy(appointment, start, end, practitioner_id)
        try:
            from domain.agenda import validate_interval

            validate_interval(candidate.start, candidate.end)
        except InvalidInput as exc:
            self.window.message.setText(f"⚠ {exc.message_fr}")
            return
        period = self.period
        conflicts: list[Conflict] = []
        if period is not None:
            conflicts = find_conflicts(
                candidate,
                self.window.grid.appointments.values(),
                absences=period.absences,
                working_hours=period.working_hours.get(practitioner_id),
                holidays=period.holidays,
            )
        blocking = [c for c in conflicts if c.blocking]
        if blocking:
            self._confirm_move(appointment, candidate, blocking)
            return
        self._commit_move(appointment, candidate, force=False, warnings=conflicts)

    def _confirm_move(self, original: Appointment, candidate: Appointment, conflicts: Sequence[Conflict]) -> None:
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Conflit d'agenda")
        box.setText(f"Le nouveau créneau de {candidate.label} pose problème :")
        box.setInformativeText("\n".join(f"• {c.message_fr}" for c in conflicts[:6]) + "\n\nDéplacer quand même ?")
        move = box.addButton("Déplacer quand même", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Ne pas déplacer", QMessageBox.ButtonRole.RejectRole)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def finished(_result: int) -> None:
            self.confirm_box = None
            if box.clickedButton() is move:
                self._commit_move(original, candidate, force=True, warnings=list(conflicts))

        box.finished.connect(finished)
        self.confirm_box = box
        box.open()

    def _commit_move(
        self, original: Appointment, candidate: Appointment, *, force: bool, warnings: Sequence[Conflict]
    ) -> None:
        self.window.grid.replace_appointment(candidate)
        text = f"Déplacé : {candidate.label}, {format_slot_fr(candidate.start, candidate.end)}."
        if warnings:
            text += " " + " ; ".join(f"⚠ {c.message_fr}" for c in warnings)
        self.window.message.setText(text)
        agenda = self._agenda
        assert original.id is not None
        appointment_id, version = original.id, original.version
        self._pending_moves += 1

        known = self._saved_versions

        def save() -> ChangeResult:
            # Several quick moves of one appointment (arrow keys) are queued on the DB lane before the first
            # answer reaches the UI: each one starts from the version the previous one saved.
            result = agenda.move(
                appointment_id,
                max(version, known.get(appointment_id, 0)),
                candidate.start,
                candidate.end,
                practitioner_id=candidate.practitioner_id,
                force=force,
            )
            known[appointment_id] = result.appointment.version
            return result

        def saved(result: ChangeResult) -> None:
            self._pending_moves -= 1
            self.window.grid.replace_appointment(result.appointment)
            self._after_change(result)

        def failed(exc: BaseException) -> None:
            self._pending_moves -= 1
            self.window.grid.replace_appointment(original)
            self.presenter.present(exc, context="Déplacement du rendez-vous")
            self.reload()

        self._tasks.submit(save, lane=Lane.DB, on_success=saved, on_error=failed)

    @property
    def pending_moves(self) -> int:
        """Moves shown but not yet saved."""
        return self._pending_moves

    def _after_change(self, result: ChangeResult) -> None:
        self.window.undo_action.setEnabled(True)
        self.window.undo_action.setToolTip(f"Annuler {self._agenda.undo_label}")
        if result.offers:
            self.show_offer(result.offers[0])
        self.changed.emit()

    # -- create / edit -----------------------------------------------------------------------------------------
    def _picker(self) -> PatientPicker:
        patients = self._services.patients

        def search(text: str) -> list[tuple[int, str]]:
            found = patients.search(text, limit=30)
            return [
                (
                    r.id,
                    f"{r.used_name or r.birth_name} {(r.used_given_name or r.first_given_name).title()} "
                    f"— né(e) le {r.birth_date:%d/%m/%Y}",
                )
                for r in found.rows
            ]

        return PatientPicker(search, self._tasks)

    def preferred_type(self, practitioner_id: int) -> str:
        """The usual appointment type of a practitioner's profession."""
        profession = next((p.profession for p in self.practitioners if p.id == practitioner_id), None)
        return PREFERRED_TYPES.get(profession, "CONSULT") if profession is not None else "CONSULT"

    def default_practitioner(self) -> int | None:
        """The practitioner new appointments go to."""
        ids = self.selected_ids()
        return ids[0] if ids else None

    def new_appointment(
        self,
        *,
        practitioner_id: int | None = None,
        start: dt.datetime | None = None,
        patient: tuple[int, str] | None = None,
    ) -> AppointmentDialog:
        """Open the booking dialog (at a double-clicked slot, or for a patient from their file)."""
        if start is None:
            now = to_local(self._services.clock.now())
            start = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
        dialog = AppointmentDialog(
            self.practitioners,
            self.types,
            self._picker(),
            practitioner_id=practitioner_id or self.default_practitioner(),
            start=start,
            preferred_type=self.preferred_type,
            parent=self.window,
        )
        if patient is not None:
            dialog.picker.set_patient(*patient)
        return self._open_dialog(dialog)

    def edit(self, appointment: Appointment) -> AppointmentDialog:
        """Open an appointment."""
        dialog = AppointmentDialog(
            self.practitioners, self.types, self._picker(), existing=appointment, parent=self.window
        )
        return self._open_dialog(dialog)

    def _open_dialog(self, dialog: AppointmentDialog) -> AppointmentDialog:
        if self.dialog is not None:
            self.dialog.close()
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.save_requested.connect(lambda: self._save_dialog(dialog))
        dialog.slot_changed.connect(lambda: self._check_dialog(dialog))
        dialog.picker.chosen.connect(lambda _pid: self._check_dialog(dialog))
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        self.dialog = dialog
        dialog.open()
        self._check_dialog(dialog)
        return dialog

    def _check_dialog(self, dialog: AppointmentDialog) -> None:
        try:
            draft = dialog.draft()
        except InvalidInput as exc:
            dialog.conflicts.setText(f"<span style='color:#a40000'>✖ {exc.message_fr}</span>")
            return
        agenda = self._agenda

        def shown(conflicts: list[Conflict]) -> None:
            if self.dialog is dialog:
                dialog.show_conflicts(conflicts)

        def failed(exc: BaseException) -> None:
            if self.dialog is dialog:
                dialog.conflicts.setText(
                    f"<span style='color:#a40000'>✖ {getattr(exc, 'message_fr', 'Créneau invalide.')}</span>"
                )

        self._tasks.submit(lambda: agenda.check(draft), lane=Lane.DB, on_success=shown, on_error=failed)

    def _save_dialog(self, dialog: AppointmentDialog) -> None:
        try:
            draft = dialog.draft()
        except InvalidInput as exc:
            dialog.show_error(exc)
            return
        agenda = self._agenda
        force = dialog.force

        def save() -> ChangeResult:
            if draft.id is None:
                return agenda.book(draft, force=force)
            return agenda.update(draft, force=force)

        def saved(result: ChangeResult) -> None:
            dialog.accept()
            self.window.message.setText(
                f"Enregistré : {result.appointment.label}, "
                f"{format_slot_fr(result.appointment.start, result.appointment.end)}."
            )
            self._after_change(result)
            self.reload()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, SchedulingConflict):
                dialog.ask_force(exc.conflicts)
                dialog.error.setText("Ce créneau est en conflit : confirmez ou changez l'heure.")
            elif isinstance(exc, InvalidInput):
                dialog.show_error(exc)
            else:
                self.presenter.present(exc, context="Enregistrement du rendez-vous")

        self._tasks.submit(save, lane=Lane.DB, on_success=saved, on_error=failed)

    # -- cancel / statuses -------------------------------------------------------------------------------------
    def _selected(self) -> Appointment | None:
        grid = self.window.grid
        return grid.appointments.get(grid.selected_id) if grid.selected_id else None

    def cancel_selected(self) -> None:
        """Cancel the selected appointment (asks the reason)."""
        selected = self._selected()
        if selected is not None:
            self.cancel(selected)

    def cancel(self, appointment: Appointment) -> CancelDialog | None:
        """Ask the reason, then cancel this one appointment (the rest of a series is untouched)."""
        if appointment.status is not AppointmentStatus.PLANNED:
            return None
        dialog = CancelDialog(appointment, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        agenda = self._agenda
        assert appointment.id is not None
        appointment_id, version = appointment.id, appointment.version

        def confirmed(reason: str) -> None:
            self._tasks.submit(
                lambda: agenda.cancel(appointment_id, version, reason),
                lane=Lane.DB,
                on_success=self._status_saved,
                on_error=self._failed("Annulation du rendez-vous"),
            )

        dialog.confirmed.connect(confirmed)
        dialog.finished.connect(lambda _r: setattr(self, "cancel_dialog", None))
        self.cancel_dialog = dialog
        dialog.open()
        return dialog

    def _status_selected(self, status: str) -> None:
        selected = self._selected()
        if selected is None or selected.id is None:
            return
        agenda = self._agenda
        appointment_id, version = selected.id, selected.version
        calls: dict[str, Callable[[], ChangeResult]] = {
            "absent": lambda: agenda.mark_no_show(appointment_id, version),
            "fait": lambda: agenda.mark_done(appointment_id, version),
            "prevu": lambda: agenda.reopen(appointment_id, version),
        }
        self._tasks.submit(
            calls[status], lane=Lane.DB, on_success=self._status_saved, on_error=self._failed("Rendez-vous")
        )

    def _status_saved(self, result: ChangeResult) -> None:
        a = result.appointment
        self.window.grid.replace_appointment(a)
        self.window.grid.select(a.id)
        self.window.message.setText(f"{a.label} : {a.status.label_fr.lower()}.")
        self._after_change(result)

    # -- undo --------------------------------------------------------------------------------------------------
    def undo(self) -> None:
        """Undo the last change of this workstation."""
        agenda = self._agenda

        def done(label: str) -> None:
            self.window.message.setText(f"Annulé : {label}.")
            self.window.undo_action.setEnabled(bool(agenda.undo_label))
            self.window.undo_action.setToolTip(f"Annuler {agenda.undo_label}" if agenda.undo_label else "")
            self.changed.emit()
            self.reload()

        self._tasks.submit(agenda.undo, lane=Lane.DB, on_success=done, on_error=self._failed("Annulation"))

    # -- waiting list offers -----------------------------------------------------------------------------------
    def show_offer(self, offer: WaitingOffer) -> None:
        """A freed slot suits waiting patients: offer it to the first one."""
        self.offer = offer
        first = offer.entries[0]
        others = len(offer.entries) - 1
        text = (
            f"Créneau libéré le {format_slot_fr(offer.slot.start, offer.slot.end)} : <b>{first.patient_name}</b> "
            f"attend un rendez-vous ({first.minutes} min)"
        )
        if others:
            text += f" ; {others} autre(s) patient(s) en attente y correspondent aussi"
        self.window.offer_label.setText(text + ".")
        self.window.offer_book.setText(f"Donner ce créneau à {first.patient_name}")
        self.window.offer_bar.show()

    def _book_offer(self) -> None:
        offer = self.offer
        if offer is None or offer.entries[0].id is None:
            return
        agenda = self._agenda
        entry_id = offer.entries[0].id
        self.window.offer_bar.hide()

        def booked(result: ChangeResult) -> None:
            self.window.message.setText(f"Rendez-vous donné à {result.appointment.label}.")
            self._after_change(result)
            self.reload()
            self.load_waiting()

        self._tasks.submit(
            lambda: agenda.book_from_waiting_list(entry_id, offer.slot),
            lane=Lane.DB,
            on_success=booked,
            on_error=self._failed("Liste d'attente"),
        )

    # -- series ------------------------------------------------------------------------------------------------
    def new_series(self, patient: tuple[int, str] | None = None) -> SeriesDialog:
        """Open the care-series dialog."""
        dialog = SeriesDialog(
            self.practitioners,
            self.types,
            self._picker(),
            practitioner_id=self.default_practitioner(),
            first_day=max(self.anchor, self._services.clock.today()),
            parent=self.window,
        )
        if patient is not None:
            dialog.picker.set_patient(*patient)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.preview_requested.connect(lambda: self._series(dialog, save=False))
        dialog.save_requested.connect(lambda: self._series(dialog, save=True))
        dialog.finished.connect(lambda _r: setattr(self, "series_dialog", None))
        self.series_dialog = dialog
        dialog.open()
        return dialog

    def series_request(self, dialog: SeriesDialog) -> SeriesRequest:
        """The request typed in the dialog.

        Raises:
            InvalidInput: no patient, rhythm not understood, bad times.
        """
        if dialog.picker.patient_id is None:
            raise InvalidInput({"patient": "Choisissez le patient."})
        rhythm = parse_rhythm(dialog.rhythm.text())
        weekdays = frozenset(i for i, box in enumerate(dialog.weekdays) if box.isChecked())
        plan = SeriesPlan(
            rhythm,
            from_qdate(dialog.first_day.date()),
            dialog.times_value(),
            weekdays,
            dialog.minutes.value(),
            skip_holidays=dialog.skip_holidays.isChecked(),
        )
        return SeriesRequest(
            patient_id=dialog.picker.patient_id,
            practitioner_id=int(dialog.practitioner.currentData()),
            type_code=str(dialog.type.currentData()),
            label=dialog.label.text().strip() or str(dialog.type.currentText()).split(" (")[0],
            plan=plan,
            prescriber=dialog.prescriber.text(),
            prescription_date=from_qdate(dialog.prescription_date.date()),
            alert_remaining=dialog.alert.value(),
            place=PlaceKind.HOME if dialog.at_home.isChecked() else PlaceKind.PRACTICE,
        )

    def _series(self, dialog: SeriesDialog, *, save: bool) -> None:
        dialog.error.setText("")
        try:
            request = self.series_request(dialog)
        except InvalidInput as exc:
            dialog.show_error(exc)
            return
        agenda = self._agenda
        force = dialog.force

        def previewed(preview: SeriesPreview) -> None:
            by_index: dict[int, list[Conflict]] = {}
            for index, conflict in preview.conflicts:
                by_index.setdefault(index, []).append(conflict)
            lines = []
            for index, (start, end) in enumerate(preview.occurrences):
                marks = " ; ".join(("✖ " if c.blocking else "⚠ ") + c.message_fr for c in by_index.get(index, []))
                lines.append(f"{index + 1}. {format_slot_fr(start, end)}" + (f" — {marks}" if marks else ""))
            dialog.show_preview(lines)
            blocking = len({i for i, c in preview.conflicts if c.blocking})
            if blocking:
                dialog.error.setText(f"{blocking} séance(s) en conflit : changez l'heure ou les jours, ou confirmez.")

        def saved(summary: SeriesSummary) -> None:
            dialog.accept()
            self.window.message.setText(
                f"Série créée : {len(summary.occurrences)} séances pour {summary.occurrences[0].label}. "
                f"{summary.progress.summary_fr}."
            )
            self.window.undo_action.setEnabled(True)
            self.changed.emit()
            self.reload()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, SchedulingConflict):
                dialog.force = True
                dialog.save_button.setText("Créer malgré les conflits")
                dialog.show_error(exc)
            elif isinstance(exc, InvalidInput):
                dialog.show_error(exc)
            else:
                self.presenter.present(exc, context="Série de soins")

        if save:
            self._tasks.submit(
                lambda: agenda.plan_series(request, force=force), lane=Lane.DB, on_success=saved, on_error=failed
            )
        else:
            self._tasks.submit(
                lambda: agenda.preview_series(request), lane=Lane.DB, on_success=previewed, on_error=failed
            )

    # -- rounds ------------------------------------------------------------------------------------------------
    def _round_target(self) -> tuple[int, dt.date] | None:
        pid = self.window.round.practitioner.currentData()
        if pid is None:
            return None
        return int(pid), from_qdate(self.window.round.day.date())

    def load_round(self) -> None:
        """Show the round of the chosen day."""
        target = self._round_target()
        if target is None:
            return
        agenda = self._agenda
        self._tasks.submit(
            lambda: agenda.round_of_day(*target),
            lane=Lane.DB,
            on_success=self.window.round.set_round,
            on_error=self._failed("Tournée"),
        )

    def suggest_round(self) -> None:
        """Show a shorter order (to check, then save)."""
        target = self._round_target()
        if target is None:
            return
        agenda = self._agenda
        self._tasks.submit(
            lambda: agenda.suggest_round(*target),
            lane=Lane.DB,
            on_success=self.window.round.set_round,
            on_error=self._failed("Tournée"),
        )

    def save_round(self) -> None:
        """Keep the list's order (and re-time visits when asked)."""
        target = self._round_target()
        if target is None:
            return
        ids = self.window.round.ordered_ids()
        retime = self.window.round.retime.isChecked()
        agenda = self._agenda

        def saved(view: RoundView) -> None:
            self.window.round.set_round(view, "Ordre enregistré.")
            self.window.undo_action.setEnabled(True)
            self.changed.emit()
            self.reload()

        self._tasks.submit(
            lambda: agenda.save_round_order(target[0], target[1], ids, retime=retime),
            lane=Lane.DB,
            on_success=saved,
            on_error=self._failed("Tournée"),
        )

    def print_round(self) -> None:
        """Write the round sheet PDF and open it with the system's viewer (all local)."""
        target = self._round_target()
        if target is None:
            return
        agenda = self._agenda

        def written(path: Path) -> None:
            self.last_sheet = path
            url = QUrl.fromLocalFile(str(path)).toString()
            self.window.round.sheet_label.setText(f"Feuille de tournée prête : <a href='{url}'>ouvrir</a> — {path}")

        self._tasks.submit(
            lambda: agenda.print_round_sheet(*target),
            lane=Lane.NET,
            on_success=written,
            on_error=self._failed("Feuille de tournée"),
        )

    # -- waiting list and reminders ----------------------------------------------------------------------------
    def _tab_changed(self, index: int) -> None:
        widget = self.window.tabs.widget(index)
        if widget is self.window.round:
            self.load_round()
        elif widget is self.window.waiting:
            self.load_waiting()
        elif widget is self.window.reminders:
            self.load_reminders()

    def load_waiting(self) -> None:
        """Fill the waiting list."""
        agenda = self._agenda
        names = {p.id: p.name for p in self.practitioners}
        types = {t.code: t.label for t in self.types}
        self._tasks.submit(
            agenda.waiting_list,
            lane=Lane.DB,
            on_success=lambda entries: self.window.waiting.set_entries(entries, names, types),
            on_error=self._failed("Liste d'attente"),
        )

    def add_waiting(self) -> WaitingEntryDialog:
        """Open the waiting-list dialog."""
        dialog = WaitingEntryDialog(
            self.practitioners, self.types, self._picker(), self._services.clock.today(), self.window
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        agenda = self._agenda
        clock = self._services.clock

        def save() -> None:
            if dialog.picker.patient_id is None:
                dialog.error.setText("Choisissez le patient.")
                return
            pid = dialog.practitioner.currentData()
            entry = WaitingEntry(
                id=None,
                patient_id=dialog.picker.patient_id,
                practitioner_id=int(pid) if pid is not None else None,
                type_code=str(dialog.type.currentData()),
                minutes=dialog.minutes.value(),
                created_at=clock.now(),
                earliest=from_qdate(dialog.earliest.date()),
                latest=from_qdate(dialog.latest.date()),
                part_of_day=PartOfDay(dialog.part.currentData()),
                note=dialog.note.text(),
            )

            def added(_entry_id: int) -> None:
                dialog.accept()
                self.load_waiting()

            self._tasks.submit(
                lambda: agenda.add_to_waiting_list(entry),
                lane=Lane.DB,
                on_success=added,
                on_error=lambda exc: dialog.error.setText(getattr(exc, "message_fr", str(exc))),
            )

        dialog.save_requested.connect(save)
        dialog.finished.connect(lambda _r: setattr(self, "waiting_dialog", None))
        self.waiting_dialog = dialog
        dialog.open()
        return dialog

    def remove_waiting(self) -> None:
        """Take the selected patient off the list."""
        entry = self.window.waiting.selected_entry()
        if entry is None or entry.id is None:
            return
        agenda = self._agenda
        entry_id = entry.id

        def removed(_none: None) -> None:
            self.window.undo_action.setEnabled(True)
            self.load_waiting()

        self._tasks.submit(
            lambda: agenda.remove_from_waiting_list(entry_id),
            lane=Lane.DB,
            on_success=removed,
            on_error=self._failed("Liste d'attente"),
        )

    def load_reminders(self) -> None:
        """Appointments of the next 24 hours to remind (sending by SMS/e-mail needs a provider)."""
        agenda = self._agenda

        def shown(reminders: list[Reminder]) -> None:
            view = self.window.reminders
            view.clear()
            view.addItem(
                QListWidgetItem(
                    f"{len(reminders)} rendez-vous dans les 24 prochaines heures à rappeler "
                    "(l'envoi par SMS ou courriel demande un service d'envoi, non configuré : appelez le patient)."
                )
            )
            for r in reminders:
                view.addItem(
                    QListWidgetItem(f"{to_local(r.start):%d/%m %H:%M} — patient n° {r.patient_id} — {r.text_fr}")
                )

        self._tasks.submit(agenda.reminders_due, lane=Lane.DB, on_success=shown, on_error=self._failed("Rappels"))

    # -- errors ------------------------------------------------------------------------------------------------
    def _failed(self, context: str, retry: Callable[[], None] | None = None) -> Callable[[BaseException], None]:
        def present(exc: BaseException) -> None:
            if isinstance(exc, InvalidInput):
                self.window.message.setText(f"⚠ {exc.message_fr}")
                return
            self.presenter.present(exc, context=context, retry=retry)

        return present


def freed_slot_text(slot: FreedSlot) -> str:
    """French description of a freed slot."""
    return format_slot_fr(slot.start, slot.end)
