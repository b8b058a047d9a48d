"""Create/edit dialog of a patient file (RNIV identity, contact details, care team) and its controller."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re

from PySide6.QtCore import QObject, QSize, QStringListModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.dto import PatientFile, PatientForm
from app.services.patients import PatientService
from app.services.places import PlaceService
from app.tasks import Lane, TaskRunner
from domain.cog import Place
from domain.errors import InvalidInput
from domain.identity import UNKNOWN_BIRTH_PLACE, Sex, parse_given_names
from domain.patient import CareRole, CareTeamMember
from domain.practice import IdentityDocumentType
from ui.error_presenter import ErrorPresenter
from ui.identity_banner import LOCK_TOOLTIP, format_date_fr, format_matricule, icon

log = logging.getLogger("lgc.ui")

PLACE_DEBOUNCE_MS = 150
STRICT_FIELDS = ("birth_name", "birth_given_names", "sex", "birth_date", "birth_place_code")
FIELD_ORDER = (
    "birth_name",
    "birth_given_names",
    "used_name",
    "used_given_name",
    "sex",
    "birth_date",
    "birth_place_code",
    "high_trust_document",
    "address_lines",
    "postal_code",
    "city",
    "phones",
    "email",
    "care_team",
)
"""Form order: the first field in error gets the focus."""

_COG_CODE = re.compile(r"^[0-9][0-9AB][0-9]{3}$")
_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
TEAM_COLUMNS = ("Rôle", "Nom", "Profession", "RPPS", "MSSanté")
TEAM_ROLES = (CareRole.PRESCRIBER, CareRole.CORRESPONDENT)
DEFAULT_DOCTOR_PROFESSION = "Médecin généraliste"


def parse_birth_date(text: str) -> dt.date | None:
    """The typed JJ/MM/AAAA date when complete and real, else None (used to filter birth places)."""
    match = _DATE.match(text.strip())
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def first_given_name_text(raw: str) -> str:
    """The live "1er prénom de naissance" line under the list of birth first names."""
    names = parse_given_names(raw)
    return f"1er prénom de naissance : {names[0]}" if names else "1er prénom de naissance : —"


class PatientFormDialog(QDialog):
    """Layout of the create/edit dialog; values in and out, errors next to fields. No service calls here.

    Signals:
        save_requested: the user clicked "Enregistrer".
        place_text_edited(str): the user typed in the birth-place field.
        place_chosen(str): the user picked a suggestion (its display text).
    """

    save_requested = Signal()
    place_text_edited = Signal(str)
    place_chosen = Signal(str)

    def __init__(self, document_types: list[IdentityDocumentType], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Nouveau patient")
        self.setMinimumSize(QSize(1060, 660))
        self.error_labels: dict[str, QLabel] = {}
        self.focus_targets: dict[str, QWidget] = {}
        self.lock_labels: dict[str, QLabel] = {}

        outer = QVBoxLayout(self)
        self.notice = QLabel()
        self.notice.setObjectName("formNotice")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet(
            "#formNotice { background: #eef3fb; border: 1px solid #9fb4d6; padding: 6px; border-radius: 3px; }"
        )
        self.notice.hide()
        outer.addWidget(self.notice)
        self.general_error = QLabel()
        self.general_error.setObjectName("generalError")
        self.general_error.setWordWrap(True)
        self.general_error.setStyleSheet("#generalError { color: #b00020; font-weight: 600; }")
        self.general_error.hide()
        outer.addWidget(self.general_error)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        content = QWidget()
        columns = QHBoxLayout(content)
        left = QVBoxLayout()
        right = QVBoxLayout()
        columns.addLayout(left, 5)
        columns.addLayout(right, 6)
        scroll.setWidget(content)
        outer.addWidget(scroll, 1)

        # -- identity ---------------------------------------------------------------------------------
        identity = QGroupBox("Identité (traits INS)")
        id_form = QFormLayout(identity)
        id_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.birth_name = QLineEdit()
        self._add(id_form, "Nom de naissance", self.birth_name, "birth_name", mandatory=True)
        self.birth_given_names = QLineEdit()
        self.birth_given_names.setPlaceholderText("Dans l'ordre, ex. : MARIE CLAIRE")
        self.birth_given_names.setToolTip(
            "Tous les prénoms de naissance, dans l'ordre, séparés par un espace ; "
            "un prénom composé garde son trait d'union (JEAN-PIERRE)."
        )
        self.first_given_name = QLabel(first_given_name_text(""))
        self.first_given_name.setObjectName("derived")
        self.first_given_name.setStyleSheet("#derived { color: #444; }")
        self.birth_given_names.textChanged.connect(
            lambda text: self.first_given_name.setText(first_given_name_text(text))
        )
        self._add(
            id_form,
            "Prénoms de naissance",
            self.birth_given_names,
            "birth_given_names",
            mandatory=True,
            extra=self.first_given_name,
        )
        self.used_name = QLineEdit()
        self._add(id_form, "Nom utilisé", self.used_name, "used_name")
        self.used_given_name = QLineEdit()
        self._add(id_form, "Prénom utilisé", self.used_given_name, "used_given_name")

        sex_box = QWidget()
        sex_layout = QHBoxLayout(sex_box)
        sex_layout.setContentsMargins(0, 0, 0, 0)
        self.sex_group = QButtonGroup(self)
        self.sex_buttons: dict[str, QRadioButton] = {}
        for sex in Sex:
            button = QRadioButton(sex.label_fr)
            button.setToolTip(f"{sex.label_fr} ({sex.value})")
            self.sex_group.addButton(button)
            self.sex_buttons[sex.value] = button
            sex_layout.addWidget(button)
        sex_layout.addStretch(1)
        self._add(id_form, "Sexe", sex_box, "sex", mandatory=True, focus=self.sex_buttons["F"])

        self.birth_date = QLineEdit()
        self.birth_date.setInputMask("99/99/9999;_")
        self.birth_date.setMaximumWidth(130)
        self.birth_date.setToolTip("JJ/MM/AAAA")
        self._add(id_form, "Date de naissance (JJ/MM/AAAA)", self.birth_date, "birth_date", mandatory=True)

        self.birth_place = QLineEdit()
        self.birth_place.setPlaceholderText("Commune, pays ou code INSEE")
        self.birth_place.setToolTip(
            "Tapez le début du nom de la commune ou du pays de naissance (lieux valides à la date de naissance), "
            "ou son code INSEE ; 99999 si le lieu est inconnu."
        )
        self.place_model = QStringListModel(self)
        self.completer = QCompleter(self.place_model, self)
        self.completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.birth_place.setCompleter(self.completer)
        self.completer.activated.connect(self.place_chosen)
        self.birth_place.textEdited.connect(self.place_text_edited)
        self.place_info = QLabel("Aucun lieu choisi")
        self.place_info.setObjectName("placeInfo")
        self.place_info.setStyleSheet("#placeInfo { color: #444; }")
        self._add(
            id_form, "Lieu de naissance", self.birth_place, "birth_place_code", mandatory=True, extra=self.place_info
        )

        self.document = QComboBox()
        self.document.addItem("Aucune", "")
        for doc in document_types:
            if doc.active and doc.high_trust:
                self.document.addItem(doc.label, doc.code)
        self._add(id_form, "Pièce d'identité à haut niveau de confiance", self.document, "high_trust_document")

        attributes = QWidget()
        attr_layout = QHBoxLayout(attributes)
        attr_layout.setContentsMargins(0, 0, 0, 0)
        self.doubtful = QCheckBox("Douteuse")
        self.doubtful.setToolTip("Identité douteuse : l'INSi ne sera pas appelé ; l'identité reste provisoire.")
        self.fictitious = QCheckBox("Fictive")
        self.fictitious.setToolTip("Identité fictive (anonymat) : l'identité reste provisoire.")
        self.homonym = QCheckBox("Homonyme")
        self.homonym.setToolTip("Un homonyme est connu : vigilance à chaque acte.")
        for box in (self.doubtful, self.fictitious, self.homonym):
            attr_layout.addWidget(box)
        attr_layout.addStretch(1)
        self._add(id_form, "Attributs", attributes, "attributes")

        self.ins_matricule = QLineEdit()
        self.ins_matricule.setReadOnly(True)
        self.ins_matricule.setPlaceholderText("Rempli par le téléservice INSi")
        self.ins_oid = QLineEdit()
        self.ins_oid.setReadOnly(True)
        self.ins_oid.setPlaceholderText("Rempli par le téléservice INSi")
        for edit in (self.ins_matricule, self.ins_oid):
            edit.setStyleSheet("QLineEdit { background: #f0f0f0; color: #333; }")
            edit.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.ins_note = QLabel(
            "INS non qualifié : il n'est ni affiché dans le dossier ni transmis "
            "tant que l'identité n'est pas qualifiée."
        )
        self.ins_note.setWordWrap(True)
        self.ins_note.setStyleSheet("color: #444;")
        self.ins_note.hide()
        self._add(id_form, "Matricule INS", self.ins_matricule, "ins", extra=self.ins_note)
        self._add(id_form, "OID de l'INS", self.ins_oid, "ins_oid")
        self.mandatory_legend = QLabel("* champ obligatoire (les 5 traits de l'INS)")
        self.mandatory_legend.setStyleSheet("color: #444;")
        id_form.addRow(self.mandatory_legend)
        left.addWidget(identity)
        left.addStretch(1)

        # -- contact ----------------------------------------------------------------------------------
        contact = QGroupBox("Coordonnées")
        c_form = QFormLayout(contact)
        c_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.address = QPlainTextEdit()
        self.address.setTabChangesFocus(True)
        self.address.setPlaceholderText("Numéro et voie, complément (une ligne par ligne d'adresse)")
        self.address.setFixedHeight(60)
        self._add(c_form, "Adresse", self.address, "address_lines")
        self.postal_code = QLineEdit()
        self.postal_code.setMaxLength(5)
        self.postal_code.setMaximumWidth(90)
        self._add(c_form, "Code postal", self.postal_code, "postal_code")
        self.city = QLineEdit()
        self._add(c_form, "Ville", self.city, "city")
        self.phones = QLineEdit()
        self.phones.setPlaceholderText("06 12 34 56 78 ; 03 26 00 00 00")
        self._add(c_form, "Téléphones", self.phones, "phones")
        self.email = QLineEdit()
        self._add(c_form, "Courriel", self.email, "email")
        right.addWidget(contact)

        # -- care team --------------------------------------------------------------------------------
        team = QGroupBox("Médecin traitant et équipe de soins")
        t_layout = QVBoxLayout(team)
        t_form = QFormLayout()
        t_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.doctor_name = QLineEdit()
        self.doctor_name.setPlaceholderText("Dr Prénom NOM")
        self.doctor_rpps = QLineEdit()
        self.doctor_rpps.setMaxLength(11)
        self.doctor_rpps.setPlaceholderText("11 chiffres")
        self._add(t_form, "Médecin traitant", self.doctor_name, "doctor")
        self._add(t_form, "RPPS du médecin traitant", self.doctor_rpps, "doctor_rpps")
        t_layout.addLayout(t_form)
        t_layout.addWidget(QLabel("Autres professionnels :"))
        self.team_table = QTableWidget(0, len(TEAM_COLUMNS))
        self.team_table.setHorizontalHeaderLabels(list(TEAM_COLUMNS))
        self.team_table.verticalHeader().hide()
        self.team_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        team_header = self.team_table.horizontalHeader()
        modes = ("ResizeToContents", "Stretch", "Stretch", "ResizeToContents", "Stretch")
        for column, mode in enumerate(modes):
            team_header.setSectionResizeMode(column, getattr(QHeaderView.ResizeMode, mode))
        self.team_table.setMinimumHeight(110)
        t_layout.addWidget(self.team_table)
        team_buttons = QHBoxLayout()
        self.add_member_button = QPushButton("Ajouter un professionnel")
        self.remove_member_button = QPushButton("Retirer")
        self.add_member_button.clicked.connect(lambda: self.add_member_row())
        self.remove_member_button.clicked.connect(self._remove_member_row)
        team_buttons.addWidget(self.add_member_button)
        team_buttons.addWidget(self.remove_member_button)
        team_buttons.addStretch(1)
        t_layout.addLayout(team_buttons)
        team_error = self._error_label("care_team")
        t_layout.addWidget(team_error)
        self.focus_targets["care_team"] = self.doctor_name
        right.addWidget(team)
        right.addStretch(1)

        self.buttons = QDialogButtonBox()
        self.save_button = self.buttons.addButton("Enregistrer", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Annuler", QDialogButtonBox.ButtonRole.RejectRole)
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save_requested)
        self.cancel_button.clicked.connect(self.reject)
        outer.addWidget(self.buttons)

    # -- building blocks ------------------------------------------------------------------------------
    def _error_label(self, key: str) -> QLabel:
        label = QLabel()
        label.setObjectName("fieldError")
        label.setWordWrap(True)
        label.setStyleSheet("#fieldError { color: #b00020; }")
        label.hide()
        self.error_labels[key] = label
        return label

    def _add(
        self,
        form: QFormLayout,
        title: str,
        widget: QWidget,
        key: str,
        *,
        mandatory: bool = False,
        extra: QWidget | None = None,
        focus: QWidget | None = None,
    ) -> None:
        cell = QWidget()
        column = QVBoxLayout(cell)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        line = QHBoxLayout()
        line.setSpacing(4)
        fixed_width = widget.maximumWidth() < 10_000
        line.addWidget(widget, 0 if fixed_width else 1)
        if key in STRICT_FIELDS:
            lock = QLabel()
            lock.setPixmap(icon("verrou.svg").pixmap(QSize(16, 16)))
            lock.hide()
            self.lock_labels[key] = lock
            line.addWidget(lock)
        if fixed_width:
            line.addStretch(1)
        column.addLayout(line)
        if extra is not None:
            column.addWidget(extra)
        column.addWidget(self._error_label(key))
        label = QLabel(f"{title} *" if mandatory else title)
        if mandatory:
            label.setToolTip("Obligatoire (trait de l'INS)")
        label.setBuddy(focus or widget)
        form.addRow(label, cell)
        self.focus_targets[key] = focus or widget

    def add_member_row(self, member: CareTeamMember | None = None) -> None:
        """Append a line to the care-team table (empty, or filled with ``member``)."""
        line = self.team_table.rowCount()
        self.team_table.insertRow(line)
        role = QComboBox()
        for care_role in TEAM_ROLES:
            role.addItem(care_role.label_fr, care_role.value)
        if member is not None:
            role.setCurrentIndex(max(0, role.findData(member.role.value)))
        self.team_table.setCellWidget(line, 0, role)
        values = (
            (member.display_name, member.profession, member.rpps, member.mssante_address)
            if member
            else ("", "", "", "")
        )
        for column, value in enumerate(values, start=1):
            self.team_table.setItem(line, column, QTableWidgetItem(value))

    def _remove_member_row(self) -> None:
        line = self.team_table.currentRow()
        if line >= 0:
            self.team_table.removeRow(line)

    # -- values in / out ------------------------------------------------------------------------------
    def load(self, file: PatientFile) -> None:
        """Fill the dialog from an existing file (edit mode)."""
        patient = file.patient
        traits = patient.identity.traits
        identity = patient.identity
        self.setWindowTitle(f"Modifier le dossier — {traits.birth_name} {traits.first_birth_given_name}")
        self.birth_name.setText(traits.birth_name)
        self.birth_given_names.setText(" ".join(traits.birth_given_names))
        self.used_name.setText(traits.used_name)
        self.used_given_name.setText(traits.used_given_name)
        if traits.sex is not None:
            self.sex_buttons[traits.sex.value].setChecked(True)
        self.birth_date.setText(format_date_fr(traits.birth_date))
        self.birth_place.setText(file.birth_place_label)
        self.place_info.setText(f"Code retenu : {traits.birth_place_code}")
        index = self.document.findData(identity.high_trust_document or "")
        if index < 0 and identity.high_trust_document:
            self.document.addItem(
                file.document_type_label or identity.high_trust_document, identity.high_trust_document
            )
            index = self.document.count() - 1
        self.document.setCurrentIndex(max(0, index))
        self.doubtful.setChecked(identity.doubtful)
        self.fictitious.setChecked(identity.fictitious)
        self.homonym.setChecked(identity.homonym)
        if identity.ins is not None:
            self.ins_matricule.setText(format_matricule(identity.ins.matricule))
            self.ins_oid.setText(f"{identity.ins.oid} ({identity.ins.nature})")
            self.ins_note.setVisible(identity.transmittable_ins is None)
        contact = patient.contact
        self.address.setPlainText("\n".join(contact.address_lines))
        self.postal_code.setText(contact.postal_code)
        self.city.setText(contact.city)
        self.phones.setText(" ; ".join(contact.phones))
        self.email.setText(contact.email)
        doctor = patient.attending_doctor
        if doctor is not None:
            self.doctor_name.setText(doctor.display_name)
            self.doctor_rpps.setText(doctor.rpps)
        for member in patient.care_team:
            if member.role is not CareRole.ATTENDING_DOCTOR:
                self.add_member_row(member)

    def lock_strict_traits(self, status_word: str) -> None:
        """Make the strict traits visibly read-only (récupérée/qualifiée identity, non-administrator)."""
        tooltip = LOCK_TOOLTIP.format(status=status_word)
        greyed = "QLineEdit { background: #ececec; color: #555; }"
        for edit in (self.birth_name, self.birth_given_names, self.birth_date, self.birth_place):
            edit.setReadOnly(True)
            edit.setStyleSheet(greyed)
            edit.setToolTip(tooltip)
        self.birth_place.setCompleter(None)  # type: ignore[arg-type]  # Qt accepts None to remove it
        for button in self.sex_buttons.values():
            button.setEnabled(False)
            button.setToolTip(tooltip)
        for lock in self.lock_labels.values():
            lock.setToolTip(tooltip)
            lock.show()
        self.notice.setText(
            f"<b>Identité {status_word}</b> : les traits stricts (verrouillés) proviennent du téléservice INSi "
            "et ne sont modifiables que par un administrateur du cabinet. Le nom utilisé, le prénom utilisé, "
            "les coordonnées et l'équipe de soins restent modifiables."
        )
        self.notice.show()

    def warn_admin_strict_traits(self, status_word: str) -> None:
        """Administrator editing a récupérée/qualifiée identity: say what changing a strict trait does."""
        self.notice.setText(
            f"<b>Identité {status_word}</b> : vous pouvez modifier les traits stricts en tant qu'administrateur, "
            "mais toute modification invalide le matricule INS et fait redescendre le statut de l'identité."
        )
        self.notice.show()

    def strict_traits_locked(self) -> bool:
        """True when the strict-trait fields are read-only."""
        return self.birth_name.isReadOnly()

    def selected_sex(self) -> str:
        """ "F", "M", "I" or "" when nothing is checked (no default)."""
        return next((code for code, button in self.sex_buttons.items() if button.isChecked()), "")

    def care_team(self) -> tuple[CareTeamMember, ...]:
        """The médecin traitant and the other professionals typed (blank lines ignored)."""
        members: list[CareTeamMember] = []
        doctor_name = self.doctor_name.text().strip()
        doctor_rpps = self.doctor_rpps.text().strip()
        if doctor_name or doctor_rpps:
            profession = self.doctor_name.property("profession") or DEFAULT_DOCTOR_PROFESSION
            members.append(
                CareTeamMember(CareRole.ATTENDING_DOCTOR, doctor_name, profession=str(profession), rpps=doctor_rpps)
            )
        for line in range(self.team_table.rowCount()):
            cells = [self.team_table.item(line, c) for c in range(1, len(TEAM_COLUMNS))]
            name, profession, rpps, mss = (cell.text().strip() if cell else "" for cell in cells)
            if not (name or profession or rpps or mss):
                continue
            role_box = self.team_table.cellWidget(line, 0)
            role_value = role_box.currentData() if isinstance(role_box, QComboBox) else CareRole.CORRESPONDENT.value
            members.append(CareTeamMember(CareRole(role_value), name, profession, rpps, mss))
        return tuple(members)

    def show_errors(self, field_errors: dict[str, str]) -> QWidget | None:
        """Show each French message next to its field; focus the first field in error and return it."""
        self.clear_errors()
        general: list[str] = []
        for key, message in field_errors.items():
            label = self.error_labels.get(key)
            if label is None:
                general.append(message)
                continue
            label.setText(f"⚠ {message}")
            label.show()
        if general:
            self.general_error.setText("⚠ " + " ".join(general))
            self.general_error.show()
        first = next((k for k in FIELD_ORDER if k in field_errors and k in self.focus_targets), None)
        target = self.focus_targets[first] if first else None
        if target is not None:
            target.setFocus(Qt.FocusReason.OtherFocusReason)
        return target

    def clear_errors(self) -> None:
        """Hide every error message."""
        for label in self.error_labels.values():
            label.clear()
            label.hide()
        self.general_error.clear()
        self.general_error.hide()

    def visible_errors(self) -> dict[str, str]:
        """Messages currently shown, by field (for tests and accessibility checks)."""
        shown = {k: v.text() for k, v in self.error_labels.items() if not v.isHidden()}
        if not self.general_error.isHidden():
            shown[""] = self.general_error.text()
        return shown

    def set_busy(self, busy: bool) -> None:
        """Disable saving while the service works."""
        self.save_button.setEnabled(not busy)
        self.save_button.setText("Enregistrement…" if busy else "Enregistrer")


class PatientFormController(QObject):
    """Drives the dialog: birth-place suggestions and saving, both through the task runner (DB lane).

    Signals:
        saved(object): the ``PatientFile`` as stored, after a successful save.
    """

    saved = Signal(object)

    def __init__(
        self,
        dialog: PatientFormDialog,
        *,
        patients: PatientService,
        places: PlaceService,
        tasks: TaskRunner,
        presenter: ErrorPresenter,
        file: PatientFile | None = None,
    ) -> None:
        super().__init__(dialog)
        self.dialog = dialog
        self._patients = patients
        self._places = places
        self._tasks = tasks
        self._presenter = presenter
        self.file = file
        self.place_code = ""
        self._place_choices: dict[str, str] = {}
        self._place_ids = itertools.count(1)
        self._place_latest = 0
        self._saving = False
        self._place_timer = QTimer(self)
        self._place_timer.setSingleShot(True)
        self._place_timer.setInterval(PLACE_DEBOUNCE_MS)
        self._place_timer.timeout.connect(self._suggest_places)
        dialog.place_text_edited.connect(self._place_edited)
        dialog.place_chosen.connect(self._place_chosen)
        dialog.save_requested.connect(self.save)
        if file is not None:
            dialog.load(file)
            self.place_code = file.patient.identity.traits.birth_place_code
            doctor = file.patient.attending_doctor
            if doctor is not None and doctor.profession:
                dialog.doctor_name.setProperty("profession", doctor.profession)
            if not file.strict_traits_editable:
                dialog.lock_strict_traits(file.status.label_fr)
            elif file.status.protects_strict_traits:
                dialog.warn_admin_strict_traits(file.status.label_fr)

    # -- birth place ----------------------------------------------------------------------------------
    def _place_edited(self, text: str) -> None:
        code = text.strip().upper()
        if _COG_CODE.match(code):
            # A code typed by hand (99999 included: only when typed, never pre-filled).
            self.place_code = code
            self._describe_code(code)
        else:
            self.place_code = self._place_choices.get(text, "")
            info = f"Code retenu : {self.place_code}" if self.place_code else "Aucun lieu choisi"
            self.dialog.place_info.setText(info)
        self._place_timer.start()

    def _suggest_places(self) -> None:
        text = self.dialog.birth_place.text()
        if not text.strip() or text.strip() == UNKNOWN_BIRTH_PLACE:
            return
        request = next(self._place_ids)
        self._place_latest = request
        birth_date = parse_birth_date(self.dialog.birth_date.text())
        self._tasks.submit(
            lambda: self._places.suggest(text, birth_date, 20),
            lane=Lane.DB,
            on_success=lambda places: self._show_places(request, places),
            on_error=lambda exc: log.warning("Place suggestion failed: %s", type(exc).__name__),
        )

    def _show_places(self, request: int, places: list[Place]) -> None:
        if request != self._place_latest:
            return
        self._place_choices = {p.display: p.code for p in places}
        self.dialog.place_model.setStringList(list(self._place_choices))
        if places and self.dialog.birth_place.hasFocus():
            self.dialog.completer.complete()

    def _place_chosen(self, display: str) -> None:
        code = self._place_choices.get(display)
        if code:
            self.place_code = code
            self.dialog.place_info.setText(f"Code retenu : {code}")
            self.dialog.error_labels["birth_place_code"].hide()

    def _describe_code(self, code: str) -> None:
        if code == UNKNOWN_BIRTH_PLACE:
            self.dialog.place_info.setText(f"Code retenu : {code} — lieu de naissance inconnu")
            return
        birth_date = parse_birth_date(self.dialog.birth_date.text())

        def show(place: Place | None) -> None:
            if self.place_code != code:
                return
            if place is None:
                self.dialog.place_info.setText(f"Code {code} : inconnu du référentiel à cette date")
            else:
                self.dialog.place_info.setText(f"Code retenu : {place.display}")

        self._tasks.submit(
            lambda: self._places.get(code, birth_date), lane=Lane.DB, on_success=show, on_error=lambda exc: None
        )

    # -- save -------------------------------------------------------------------------------------------
    def form(self) -> PatientForm:
        """The raw values typed, as the service expects them."""
        d = self.dialog
        place = self.place_code or d.birth_place.text().strip()
        return PatientForm(
            birth_name=d.birth_name.text(),
            birth_given_names=d.birth_given_names.text(),
            used_name=d.used_name.text(),
            used_given_name=d.used_given_name.text(),
            sex=d.selected_sex(),
            birth_date=d.birth_date.text(),
            birth_place_code=place,
            high_trust_document=str(d.document.currentData() or ""),
            doubtful=d.doubtful.isChecked(),
            fictitious=d.fictitious.isChecked(),
            homonym=d.homonym.isChecked(),
            address_lines=tuple(d.address.toPlainText().splitlines()),
            postal_code=d.postal_code.text(),
            city=d.city.text(),
            phones=tuple(p for p in (x.strip() for x in re.split(r"[;,]", d.phones.text())) if p),
            email=d.email.text(),
            care_team=d.care_team(),
        )

    def save(self) -> None:
        """Send the form to the service on the DB lane; errors come back next to the fields."""
        if self._saving:
            return
        self._saving = True
        self.dialog.clear_errors()
        self.dialog.set_busy(True)
        form = self.form()
        file = self.file
        if file is None:
            self._tasks.submit(
                lambda: self._patients.create_patient(form),
                lane=Lane.DB,
                on_success=self._saved,
                on_error=self._failed,
            )
        else:
            patient_id, version = file.id, file.patient.version
            self._tasks.submit(
                lambda: self._patients.update_patient(patient_id, version, form),
                lane=Lane.DB,
                on_success=self._saved,
                on_error=self._failed,
            )

    def _saved(self, stored: PatientFile) -> None:
        self._saving = False
        self.dialog.set_busy(False)
        self.saved.emit(stored)
        self.dialog.accept()

    def _failed(self, exc: BaseException) -> None:
        self._saving = False
        self.dialog.set_busy(False)
        if isinstance(exc, InvalidInput):
            self.dialog.show_errors(exc.field_errors)
            return
        self._presenter.present(exc, context="Enregistrement du dossier patient", parent=self.dialog)
