"""Agenda dialogs: appointment (with the DMP preparation), care series, cancellation, waiting-list entry."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Sequence

from PySide6.QtCore import QDate, Qt, QTime, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from app.services.agenda import PractitionerInfo
from app.tasks import Lane, TaskRunner
from domain.agenda import (
    WEEKDAY_NAMES_FR,
    Appointment,
    AppointmentType,
    Conflict,
    DmpPreparation,
    PartOfDay,
    PlaceKind,
    default_weekdays,
    local_datetime,
    parse_rhythm,
    to_local,
)
from domain.errors import DomainError, InvalidInput
from ui.error_presenter import describe_error

CANCEL_REASONS = (
    "Demande du patient",
    "Patient malade",
    "Hospitalisation du patient",
    "Praticien indisponible",
    "Intempéries / accès impossible",
    "Fin de prise en charge",
)


def to_qdate(day: dt.date) -> QDate:
    """A Python date as QDate."""
    return QDate(day.year, day.month, day.day)


def from_qdate(day: QDate) -> dt.date:
    """A QDate as Python date."""
    return dt.date(day.year(), day.month(), day.day())


def date_edit(day: dt.date) -> QDateEdit:
    """A JJ/MM/AAAA date field with a calendar."""
    edit = QDateEdit(to_qdate(day))
    edit.setDisplayFormat("dd/MM/yyyy")
    edit.setCalendarPopup(True)
    return edit


def conflicts_html(conflicts: Sequence[Conflict]) -> str:
    """Conflicts as a short French list, blocking ones first, in words (not colour alone)."""
    if not conflicts:
        return "<span style='color:#1b7a3d'>✔ Créneau libre.</span>"
    lines = []
    for c in sorted(conflicts, key=lambda c: not c.blocking):
        mark = "✖ Conflit" if c.blocking else "⚠ Attention"
        colour = "#a40000" if c.blocking else "#8a5a00"
        lines.append(f"<span style='color:{colour}'>{mark} : {c.message_fr}</span>")
    return "<br>".join(lines)


class PatientPicker(QWidget):
    """Type-ahead patient choice (same search as the patient list), answers from the DB lane.

    Signals:
        chosen(int): a patient was picked.
    """

    chosen = Signal(int)

    def __init__(self, search: Callable[[str], list[tuple[int, str]]], tasks: TaskRunner) -> None:
        super().__init__()
        self._search = search
        self._tasks = tasks
        self._ids = itertools.count(1)
        self._latest = 0
        self.patient_id: int | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.box = QLineEdit()
        self.box.setPlaceholderText("Nom, prénom ou date de naissance JJ/MM/AAAA…")
        self.results = QListWidget()
        self.results.setMaximumHeight(90)
        self.results.hide()
        self.chosen_label = QLabel("Aucun patient choisi.")
        layout.addWidget(self.box)
        layout.addWidget(self.results)
        layout.addWidget(self.chosen_label)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self._run)
        self.box.textEdited.connect(lambda _t: self._timer.start())
        self.results.itemActivated.connect(self._pick)
        self.results.itemClicked.connect(self._pick)

    def set_patient(self, patient_id: int, label: str) -> None:
        """Preselect a patient."""
        self.patient_id = patient_id
        self.chosen_label.setText(f"Patient : <b>{label}</b>")
        self.box.setText(label)

    def _run(self) -> None:
        text = self.box.text().strip()
        if len(text) < 2:
            self.results.hide()
            return
        request = next(self._ids)
        self._latest = request
        search = self._search
        self._tasks.submit(
            lambda: search(text),
            lane=Lane.DB,
            on_success=lambda rows: self._show(request, rows),
            on_error=lambda exc: self._failed(request, exc),
        )

    def _show(self, request: int, rows: list[tuple[int, str]]) -> None:
        if request != self._latest:
            return
        self.results.clear()
        for pid, label in rows:
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, pid)
            self.results.addItem(item)
        if not rows:
            self.results.addItem(QListWidgetItem("Aucun patient trouvé."))
        self.results.show()

    def _failed(self, request: int, exc: BaseException) -> None:
        if request == self._latest:
            self.results.clear()
            self.results.addItem(QListWidgetItem(describe_error(exc).text))
            self.results.show()

    def _pick(self, item: QListWidgetItem) -> None:
        pid = item.data(Qt.ItemDataRole.UserRole)
        if pid is None:
            return
        self.set_patient(int(pid), item.text())
        self.results.hide()
        self.chosen.emit(int(pid))


def _fill_types(combo: QComboBox, types: Sequence[AppointmentType], selected: str = "") -> None:
    for t in types:
        if t.active or t.code == selected:
            combo.addItem(f"{t.label} ({t.default_minutes} min)", t.code)
    if selected:
        combo.setCurrentIndex(max(combo.findData(selected), 0))


def _fill_practitioners(combo: QComboBox, practitioners: Sequence[PractitionerInfo], selected: int | None) -> None:
    for p in practitioners:
        combo.addItem(p.name, p.id)
    if selected is not None:
        combo.setCurrentIndex(max(combo.findData(selected), 0))


class AppointmentDialog(QDialog):
    """Create or edit an appointment; conflicts are shown as the slot changes, before saving.

    Signals:
        save_requested: the user clicked "Enregistrer" (the controller builds the appointment and saves it).
        slot_changed: date, time, duration or practitioner changed (the controller re-checks conflicts).
    """

    save_requested = Signal()
    slot_changed = Signal()

    def __init__(
        self,
        practitioners: Sequence[PractitionerInfo],
        types: Sequence[AppointmentType],
        picker: PatientPicker,
        *,
        existing: Appointment | None = None,
        practitioner_id: int | None = None,
        start: dt.datetime | None = None,
        preferred_type: Callable[[int], str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.existing = existing
        self._preferred_type = preferred_type
        self.force = False
        self.types = {t.code: t for t in types}
        self.setWindowTitle("Modifier le rendez-vous" if existing else "Nouveau rendez-vous")
        self.resize(560, 640)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.picker = picker
        form.addRow("Patient :", picker)
        self.title = QLineEdit()
        self.title.setPlaceholderText("Sans patient : réunion, administratif… (facultatif)")
        form.addRow("Titre :", self.title)
        self.practitioner = QComboBox()
        _fill_practitioners(self.practitioner, practitioners, existing.practitioner_id if existing else practitioner_id)
        form.addRow("Praticien :", self.practitioner)
        self.type = QComboBox()
        _fill_types(self.type, types, existing.type_code if existing else "")
        form.addRow("Type :", self.type)
        begin = to_local(existing.start if existing else (start or dt.datetime.now(dt.UTC)))
        self.date = date_edit(begin.date())
        self.time = QTimeEdit(QTime(begin.hour, begin.minute))
        self.time.setDisplayFormat("HH:mm")
        self.minutes = QSpinBox()
        self.minutes.setRange(0, 48 * 60)
        self.minutes.setSingleStep(5)
        self.minutes.setSuffix(" min")
        when = QHBoxLayout()
        when.addWidget(self.date)
        when.addWidget(QLabel("à"))
        when.addWidget(self.time)
        when.addWidget(QLabel("durée"))
        when.addWidget(self.minutes)
        form.addRow("Quand :", when)
        self.at_practice = QRadioButton("Au cabinet")
        self.at_home = QRadioButton("À domicile")
        group = QButtonGroup(self)
        group.addButton(self.at_practice)
        group.addButton(self.at_home)
        places = QHBoxLayout()
        places.addWidget(self.at_practice)
        places.addWidget(self.at_home)
        places.addStretch(1)
        form.addRow("Lieu :", places)
        self.address = QLineEdit()
        self.address.setPlaceholderText("Vide : l'adresse du dossier patient")
        form.addRow("Adresse :", self.address)
        self.door_code = QLineEdit()
        self.door_code.setPlaceholderText("Digicode, interphone, boîte à clés…")
        form.addRow("Code / accès :", self.door_code)
        self.care = QPlainTextEdit()
        self.care.setMaximumHeight(60)
        form.addRow("Soins à réaliser :", self.care)
        self.note = QLineEdit()
        form.addRow("Note :", self.note)
        layout.addLayout(form)

        self.dmp_group = QGroupBox("DMP (Mon espace santé) — informations recueillies avant la consultation")
        dmp_form = QFormLayout(self.dmp_group)
        self.dmp_informed = QCheckBox("Patient informé de l'alimentation de son DMP")
        self.dmp_opposed = QCheckBox("Le patient s'oppose à l'alimentation de son DMP (motif non enregistré)")
        self.dmp_consent = QComboBox()
        self.dmp_consent.addItem("Non demandé", None)
        self.dmp_consent.addItem("Oui, il accepte la consultation", True)
        self.dmp_consent.addItem("Non, il refuse la consultation", False)
        self.dmp_note = QLineEdit()
        dmp_form.addRow(self.dmp_informed)
        dmp_form.addRow(self.dmp_opposed)
        dmp_form.addRow("Consultation du DMP :", self.dmp_consent)
        dmp_form.addRow("Remarque :", self.dmp_note)
        layout.addWidget(self.dmp_group)

        self.conflicts = QLabel("")
        self.conflicts.setWordWrap(True)
        self.conflicts.setTextFormat(Qt.TextFormat.RichText)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #a40000;")
        layout.addWidget(self.conflicts)
        layout.addWidget(self.error)
        buttons = QDialogButtonBox()
        self.save_button = buttons.addButton("Enregistrer", QDialogButtonBox.ButtonRole.AcceptRole)
        cancel = buttons.addButton("Fermer", QDialogButtonBox.ButtonRole.RejectRole)
        self.save_button.clicked.connect(self.save_requested)
        cancel.clicked.connect(self.reject)
        layout.addWidget(buttons)

        if existing is not None:
            if existing.patient_id is not None:
                picker.set_patient(existing.patient_id, existing.patient_name or f"Patient n° {existing.patient_id}")
            self.title.setText(existing.title)
            self.minutes.setValue(int(existing.duration.total_seconds() // 60))
            (self.at_home if existing.place is PlaceKind.HOME else self.at_practice).setChecked(True)
            self.address.setText(existing.address)
            self.door_code.setText(existing.door_code)
            self.care.setPlainText(existing.care)
            self.note.setText(existing.note)
            self.dmp_informed.setChecked(existing.dmp.informed)
            self.dmp_opposed.setChecked(existing.dmp.feeding_opposed)
            self.dmp_consent.setCurrentIndex(max(self.dmp_consent.findData(existing.dmp.consultation_consent), 0))
            self.dmp_note.setText(existing.dmp.note)
        else:
            self._practitioner_changed()
            self._type_changed()
        self.type.currentIndexChanged.connect(lambda _i: self._type_changed())
        self.practitioner.currentIndexChanged.connect(lambda _i: self._practitioner_changed())
        for signal in (
            self.date.dateChanged,
            self.time.timeChanged,
            self.minutes.valueChanged,
            self.practitioner.currentIndexChanged,
        ):
            signal.connect(self._slot_edited)

    def _practitioner_changed(self) -> None:
        if self.existing is not None or self._preferred_type is None or self.practitioner.currentData() is None:
            return
        index = self.type.findData(self._preferred_type(int(self.practitioner.currentData())))
        if index >= 0:
            self.type.setCurrentIndex(index)

    def _type_changed(self) -> None:
        kind = self.types.get(str(self.type.currentData()))
        if kind is None:
            return
        if self.existing is None:
            self.minutes.setValue(kind.default_minutes)
        (self.at_home if kind.home_visit else self.at_practice).setChecked(True)

    def _slot_edited(self) -> None:
        self.force = False
        self.save_button.setText("Enregistrer")
        self.slot_changed.emit()

    def draft(self) -> Appointment:
        """The appointment as typed.

        Raises:
            InvalidInput: the time does not exist (DST) or no patient/title.
        """
        day = from_qdate(self.date.date())
        time = dt.time(self.time.time().hour(), self.time.time().minute())
        start = local_datetime(day, time)
        end = start + dt.timedelta(minutes=self.minutes.value())
        base = self.existing
        dmp = DmpPreparation(
            informed=self.dmp_informed.isChecked(),
            feeding_opposed=self.dmp_opposed.isChecked(),
            consultation_consent=self.dmp_consent.currentData(),
            note=self.dmp_note.text().strip(),
        )
        fields = {
            "practitioner_id": int(self.practitioner.currentData()),
            "patient_id": self.picker.patient_id,
            "start": start,
            "end": end,
            "type_code": str(self.type.currentData()),
            "place": PlaceKind.HOME if self.at_home.isChecked() else PlaceKind.PRACTICE,
            "title": self.title.text(),
            "address": self.address.text(),
            "door_code": self.door_code.text(),
            "care": self.care.toPlainText(),
            "note": self.note.text(),
            "dmp": dmp,
        }
        if base is None:
            return Appointment(id=None, **fields)  # type: ignore[arg-type]
        from dataclasses import replace

        return replace(base, **fields)  # type: ignore[arg-type]

    def show_conflicts(self, conflicts: Sequence[Conflict]) -> None:
        """Show the slot's conflicts; blocking ones turn the button into an explicit confirmation."""
        self.conflicts.setText(conflicts_html(conflicts))

    def show_error(self, exc: BaseException) -> None:
        """Show a French error under the form."""
        self.error.setText(describe_error(exc).text)

    def ask_force(self, conflicts: Sequence[Conflict]) -> None:
        """After a refused save: show why and let the user confirm."""
        self.show_conflicts(conflicts)
        self.force = True
        self.save_button.setText("Enregistrer malgré le conflit")


class CancelDialog(QDialog):
    """Cancel an appointment with a reason (or mark the patient absent).

    Signals:
        confirmed(str): the reason.
    """

    confirmed = Signal(str)

    def __init__(self, appointment: Appointment, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Annuler le rendez-vous")
        layout = QVBoxLayout(self)
        start = to_local(appointment.start)
        text = f"Annuler le rendez-vous de <b>{appointment.label}</b> le {start:%d/%m/%Y à %H:%M} ?"
        if appointment.series_id is not None:
            text += "<br>Seule cette séance est annulée ; les autres séances de la série restent prévues."
        intro = QLabel(text)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.reason = QComboBox()
        self.reason.setEditable(True)
        self.reason.addItem("")
        self.reason.addItems(CANCEL_REASONS)
        line = self.reason.lineEdit()
        if line is not None:
            line.setPlaceholderText("Motif (obligatoire)")
        layout.addWidget(QLabel("Motif de l'annulation :"))
        layout.addWidget(self.reason)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #a40000;")
        layout.addWidget(self.error)
        buttons = QDialogButtonBox()
        self.ok = buttons.addButton("Annuler le rendez-vous", QDialogButtonBox.ButtonRole.AcceptRole)
        back = buttons.addButton("Ne pas annuler", QDialogButtonBox.ButtonRole.RejectRole)
        self.ok.clicked.connect(self._confirm)
        back.clicked.connect(self.reject)
        layout.addWidget(buttons)

    def _confirm(self) -> None:
        reason = self.reason.currentText().strip()
        if not reason:
            self.error.setText("Indiquez le motif de l'annulation.")
            return
        self.confirmed.emit(reason)
        self.accept()


class SeriesDialog(QDialog):
    """Plan a care series from a prescription's rhythm; every occurrence becomes its own appointment.

    Signals:
        preview_requested: show the dates and conflicts.
        save_requested: create the series.
    """

    preview_requested = Signal()
    save_requested = Signal()

    def __init__(
        self,
        practitioners: Sequence[PractitionerInfo],
        types: Sequence[AppointmentType],
        picker: PatientPicker,
        *,
        practitioner_id: int | None,
        first_day: dt.date,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Série de soins (prescription)")
        self.resize(600, 640)
        self.force = False
        self.types = {t.code: t for t in types}
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.picker = picker
        form.addRow("Patient :", picker)
        self.practitioner = QComboBox()
        _fill_practitioners(self.practitioner, practitioners, practitioner_id)
        form.addRow("Praticien :", self.practitioner)
        self.type = QComboBox()
        _fill_types(self.type, types, "REEDUC")
        form.addRow("Type :", self.type)
        self.label = QLineEdit()
        self.label.setPlaceholderText("ex. Rééducation du genou, pansement d'ulcère…")
        form.addRow("Soins :", self.label)
        self.rhythm = QLineEdit("2 séances par semaine pendant 6 semaines")
        form.addRow("Rythme prescrit :", self.rhythm)
        self.rhythm_info = QLabel("")
        form.addRow("", self.rhythm_info)
        self.first_day = date_edit(first_day)
        form.addRow("À partir du :", self.first_day)
        self.times = QLineEdit("08:00")
        self.times.setPlaceholderText("une heure par passage du jour : 08:00, 19:00")
        form.addRow("Heure(s) :", self.times)
        days = QHBoxLayout()
        self.weekdays = []
        for i, name in enumerate(WEEKDAY_NAMES_FR):
            box = QCheckBox(name[:3])
            box.setToolTip(name)
            box.setChecked(i in (0, 3))
            self.weekdays.append(box)
            days.addWidget(box)
        form.addRow("Jours :", days)
        self.minutes = QSpinBox()
        self.minutes.setRange(5, 12 * 60)
        self.minutes.setValue(30)
        self.minutes.setSuffix(" min")
        form.addRow("Durée d'une séance :", self.minutes)
        self.at_home = QCheckBox("Soins à domicile (adresse du dossier patient)")
        form.addRow("", self.at_home)
        self.skip_holidays = QCheckBox("Décaler les séances tombant un jour férié")
        self.skip_holidays.setChecked(True)
        form.addRow("", self.skip_holidays)
        self.prescriber = QLineEdit()
        form.addRow("Prescripteur :", self.prescriber)
        self.prescription_date = date_edit(first_day)
        form.addRow("Date de la prescription :", self.prescription_date)
        self.alert = QSpinBox()
        self.alert.setRange(0, 50)
        self.alert.setValue(2)
        self.alert.setSuffix(" séance(s) restante(s)")
        form.addRow("Alerte de renouvellement à :", self.alert)
        layout.addLayout(form)
        self.preview = QListWidget()
        layout.addWidget(QLabel("Aperçu des séances :"))
        layout.addWidget(self.preview, 1)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #a40000;")
        layout.addWidget(self.error)
        buttons = QDialogButtonBox()
        preview = buttons.addButton("Aperçu", QDialogButtonBox.ButtonRole.ActionRole)
        self.save_button = buttons.addButton("Créer la série", QDialogButtonBox.ButtonRole.AcceptRole)
        close = buttons.addButton("Fermer", QDialogButtonBox.ButtonRole.RejectRole)
        preview.clicked.connect(self.preview_requested)
        self.save_button.clicked.connect(self.save_requested)
        close.clicked.connect(self.reject)
        layout.addWidget(buttons)
        self.rhythm.textChanged.connect(lambda _t: self._rhythm_changed())
        self.type.currentIndexChanged.connect(lambda _i: self._type_changed())
        self._rhythm_changed()

    def _type_changed(self) -> None:
        kind = self.types.get(str(self.type.currentData()))
        if kind is not None:
            self.minutes.setValue(kind.default_minutes)
            self.at_home.setChecked(kind.home_visit)

    def _rhythm_changed(self) -> None:
        self.force = False
        self.save_button.setText("Créer la série")
        try:
            rhythm = parse_rhythm(self.rhythm.text())
        except InvalidInput as exc:
            self.rhythm_info.setText(f"<span style='color:#a40000'>{exc.message_fr}</span>")
            return
        self.rhythm_info.setText(f"{rhythm.total} séances : {rhythm.label_fr}.")
        if rhythm.period.value == "semaine":
            spread = default_weekdays(rhythm.per_period)
            for i, box in enumerate(self.weekdays):
                box.setChecked(i in spread)
            if len(self.times.text().split(",")) > 1:
                self.times.setText(self.times.text().split(",")[0].strip())
        else:
            for box in self.weekdays:
                box.setChecked(True)
            defaults = ["08:00", "19:00", "12:00", "16:00", "10:00", "21:00"][: rhythm.per_period]
            self.times.setText(", ".join(sorted(defaults)))

    def times_value(self) -> tuple[dt.time, ...]:
        """The typed times.

        Raises:
            InvalidInput: a time is not HH:MM.
        """
        values = []
        for part in self.times.text().replace(";", ",").split(","):
            text = part.strip().replace("h", ":")
            if not text:
                continue
            try:
                hours, minutes = [*text.split(":"), "0"][:2]
                values.append(dt.time(int(hours), int(minutes or 0)))
            except ValueError:
                raise InvalidInput({"times": f"Heure invalide : « {part.strip()} » (forme attendue 08:00)."}) from None
        return tuple(values)

    def show_preview(self, lines: Sequence[str]) -> None:
        """Fill the preview list."""
        self.preview.clear()
        self.preview.addItems(list(lines))

    def show_error(self, exc: BaseException) -> None:
        """Show a French error."""
        message = exc.message_fr if isinstance(exc, DomainError) else describe_error(exc).text
        self.error.setText(message)


class WaitingEntryDialog(QDialog):
    """Put a patient on the waiting list with what slot would suit them.

    Signals:
        save_requested: the user confirmed.
    """

    save_requested = Signal()

    def __init__(
        self,
        practitioners: Sequence[PractitionerInfo],
        types: Sequence[AppointmentType],
        picker: PatientPicker,
        today: dt.date,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Ajouter à la liste d'attente")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.picker = picker
        form.addRow("Patient :", picker)
        self.practitioner = QComboBox()
        self.practitioner.addItem("Indifférent", None)
        _fill_practitioners(self.practitioner, practitioners, None)
        form.addRow("Praticien :", self.practitioner)
        self.type = QComboBox()
        _fill_types(self.type, types)
        form.addRow("Type :", self.type)
        self.minutes = QSpinBox()
        self.minutes.setRange(5, 12 * 60)
        self.minutes.setValue(30)
        self.minutes.setSuffix(" min")
        form.addRow("Durée :", self.minutes)
        self.earliest = date_edit(today)
        self.latest = date_edit(today + dt.timedelta(days=30))
        form.addRow("Au plus tôt :", self.earliest)
        form.addRow("Au plus tard :", self.latest)
        self.part = QComboBox()
        for part in PartOfDay:
            self.part.addItem(part.label_fr, part.value)
        form.addRow("Moment :", self.part)
        self.note = QLineEdit()
        form.addRow("Note :", self.note)
        layout.addLayout(form)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #a40000;")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        buttons = QDialogButtonBox()
        ok = buttons.addButton("Ajouter", QDialogButtonBox.ButtonRole.AcceptRole)
        close = buttons.addButton("Fermer", QDialogButtonBox.ButtonRole.RejectRole)
        ok.clicked.connect(self.save_requested)
        close.clicked.connect(self.reject)
        layout.addWidget(buttons)


def small_button(text: str, tooltip: str) -> QPushButton:
    """A push button with a tooltip."""
    button = QPushButton(text)
    button.setToolTip(tooltip)
    return button
