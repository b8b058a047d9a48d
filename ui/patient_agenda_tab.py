"""The patient file's Agenda tab: future and past appointments, care series with their count and alerts."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.services.agenda import PatientAgenda
from domain.agenda import Appointment, AppointmentStatus, PlaceKind, to_local

COLUMNS = ("Date", "Heure", "Durée", "Lieu", "Soins / motif", "Statut", "DMP")


def _dmp_text(appointment: Appointment) -> str:
    dmp = appointment.dmp
    if dmp.is_empty:
        return ""
    parts = []
    if dmp.informed:
        parts.append("informé")
    if dmp.feeding_opposed:
        parts.append("opposition à l'alimentation")
    if dmp.consultation_consent is True:
        parts.append("consultation acceptée")
    elif dmp.consultation_consent is False:
        parts.append("consultation refusée")
    return ", ".join(parts)


class PatientAgendaTab(QWidget):
    """Appointments of the open patient.

    Signals:
        book_requested: "Nouveau rendez-vous…".
        series_requested: "Série de soins…".
        open_agenda_requested: "Ouvrir l'agenda".
    """

    book_requested = Signal()
    series_requested = Signal()
    open_agenda_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        self.book_button = QPushButton("Nouveau rendez-vous…")
        self.series_button = QPushButton("Série de soins…")
        self.open_button = QPushButton("Ouvrir l'agenda")
        self.book_button.clicked.connect(self.book_requested)
        self.series_button.clicked.connect(self.series_requested)
        self.open_button.clicked.connect(self.open_agenda_requested)
        self.status = QLabel("")
        buttons.addWidget(self.status, 1)
        for button in (self.book_button, self.series_button, self.open_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.series_group = QGroupBox("Séries de soins (prescriptions)")
        self.series_layout = QVBoxLayout(self.series_group)
        layout.addWidget(self.series_group)
        self.future_group = QGroupBox("Rendez-vous à venir")
        future_layout = QVBoxLayout(self.future_group)
        self.future = self._table()
        future_layout.addWidget(self.future)
        self.past_group = QGroupBox("Rendez-vous passés")
        past_layout = QVBoxLayout(self.past_group)
        self.past = self._table()
        past_layout.addWidget(self.past)
        layout.addWidget(self.future_group, 1)
        layout.addWidget(self.past_group, 1)
        self.agenda: PatientAgenda | None = None

    @staticmethod
    def _table() -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setHorizontalHeaderLabels(list(COLUMNS))
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = table.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        return table

    def set_loading(self) -> None:
        """Say that the appointments are being read."""
        self.status.setText("Chargement des rendez-vous…")

    def set_error(self, text: str) -> None:
        """Say why the appointments could not be read."""
        self.status.setText(f"⚠ {text}")

    def set_agenda(self, agenda: PatientAgenda) -> None:
        """Fill the tab."""
        self.agenda = agenda
        self.status.setText(f"{len(agenda.future)} rendez-vous à venir, {len(agenda.past)} passé(s).")
        self._fill(self.future, agenda.future)
        self._fill(self.past, agenda.past)
        while self.series_layout.count():
            item = self.series_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        if not agenda.series:
            self.series_layout.addWidget(QLabel("Aucune série de soins."))
        for summary in agenda.series:
            series = summary.series
            prescribed = f", prescrite le {series.prescription_date:%d/%m/%Y}" if series.prescription_date else ""
            by = f" par {series.prescriber}" if series.prescriber else ""
            text = f"<b>{series.label}</b> — {series.rhythm.label_fr}{prescribed}{by} : {summary.progress.summary_fr}."
            if summary.progress.alert_fr:
                text += f"<br><span style='color:#8a5a00'>⚠ {summary.progress.alert_fr}</span>"
            label = QLabel(text)
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            self.series_layout.addWidget(label)

    @staticmethod
    def _fill(table: QTableWidget, appointments: Sequence[Appointment]) -> None:
        table.setRowCount(len(appointments))
        for row, a in enumerate(appointments):
            start = to_local(a.start)
            status = a.status.label_fr
            if a.status in (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW) and a.status_reason:
                status += f" ({a.status_reason})"
            place = "Domicile" if a.place is PlaceKind.HOME else "Cabinet"
            cells = (
                f"{start:%d/%m/%Y}",
                f"{start:%H:%M}",
                f"{int(a.duration.total_seconds() // 60)} min",
                place,
                a.care or a.title or a.type_code,
                status,
                _dmp_text(a),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                table.setItem(row, column, item)
