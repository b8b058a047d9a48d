"""The patient-file view: identity banner on top, then the tabs of the record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.dto import PatientFile
from domain.identity import IdentityStatus
from domain.patient import CareRole
from ui.documents_tab import DocumentsTab
from ui.identity_banner import (
    IdentityBanner,
    attribute_words,
    format_date_fr,
    format_datetime_fr,
    format_matricule,
    status_icon,
)
from ui.ins_label import InsDatamatrixBox
from ui.letters_tab import LettersTab
from ui.patient_agenda_tab import PatientAgendaTab
from ui.prescriptions_tab import PrescriptionsTab
from ui.record_view import DashboardPage, ObservationsTab

NOT_YET = {
    "DMP": "L'accès au DMP (Mon espace santé) n'est pas encore disponible dans cette version.",
    "Messagerie": "La messagerie sécurisée de santé (MSSanté) n'est pas encore disponible dans cette version.",
}
"""Tabs of functions still to come, each with one plain French sentence (no fake content)."""

HISTORY_COLUMNS = ("Avant", "Après", "Date", "Par", "Motif")

NO_CLINICAL_ACCESS = (
    "Votre profil ne permet pas de consulter le dossier de soins (observations, documents, prescriptions, "
    "courriers). Seuls les professionnels de santé du cabinet y ont accès."
)


def _value(text: str) -> QLabel:
    label = QLabel(text or "—")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


class IdentityTabView(QWidget):
    """Read-only display of the whole RNIV identity, contact details, care team and status history.

    Signals:
        edit_requested: the user clicked "Modifier".
        insi_requested: the user clicked "Rechercher l'INS (INSi)".
    """

    edit_requested = Signal()
    insi_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        self.edit_button = QPushButton("Modifier…")
        self.edit_button.setToolTip("Modifier l'identité, les coordonnées et l'équipe de soins")
        self.edit_button.clicked.connect(self.edit_requested)
        self.insi_button = QPushButton("Rechercher l'INS (INSi)")
        self.insi_button.setToolTip("Interroger le téléservice INSi avec les traits de cette identité et comparer")
        self.insi_button.clicked.connect(self.insi_requested)
        buttons.addStretch(1)
        buttons.addWidget(self.insi_button)
        buttons.addWidget(self.edit_button)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        content = QWidget()
        self._content = QVBoxLayout(content)
        columns = QHBoxLayout()
        left = QVBoxLayout()
        right = QVBoxLayout()
        self.identity_group = QGroupBox("Identité (RNIV)")
        self.identity_form = QFormLayout(self.identity_group)
        self.contact_group = QGroupBox("Coordonnées")
        self.contact_form = QFormLayout(self.contact_group)
        self.team_group = QGroupBox("Médecin traitant et équipe de soins")
        self.team_form = QFormLayout(self.team_group)
        left.addWidget(self.identity_group)
        left.addStretch(1)
        right.addWidget(self.contact_group)
        right.addWidget(self.team_group)
        self.ins_box = InsDatamatrixBox()
        right.addWidget(self.ins_box)
        right.addStretch(1)
        columns.addLayout(left, 1)
        columns.addLayout(right, 1)
        self._content.addLayout(columns)

        self.history_group = QGroupBox("Historique du statut de l'identité")
        history_layout = QVBoxLayout(self.history_group)
        self.history_table = QTableWidget(0, len(HISTORY_COLUMNS))
        self.history_table.setHorizontalHeaderLabels(list(HISTORY_COLUMNS))
        self.history_table.verticalHeader().hide()
        self.history_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.history_table.horizontalHeader()
        for column in range(4):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.history_table.setMinimumHeight(110)
        self.history_table.setMaximumHeight(220)
        history_layout.addWidget(self.history_table)
        self._content.addWidget(self.history_group)
        scroll.setWidget(content)
        outer.addLayout(buttons)
        outer.addWidget(scroll, 1)

    def set_file(self, file: PatientFile) -> None:
        """Fill every section from ``file``."""
        identity = file.patient.identity
        traits = identity.traits
        _clear(self.identity_form)
        rows: list[tuple[str, str]] = [
            ("Nom de naissance", traits.birth_name),
            ("Prénoms de naissance", " ".join(traits.birth_given_names)),
            ("1er prénom de naissance", traits.first_birth_given_name),
            ("Nom utilisé", traits.used_name),
            ("Prénom utilisé", traits.used_given_name),
            ("Sexe", traits.sex.label_fr if traits.sex else ""),
            ("Date de naissance", format_date_fr(traits.birth_date)),
            ("Lieu de naissance", file.birth_place_label),
            ("Statut de l'identité", file.status.label_fr),
            ("Pièce d'identité contrôlée", _check_text(file)),
            ("Source de l'INS", identity.source.label_fr if identity.source else "—"),
            ("Attributs", ", ".join(attribute_words(identity.doubtful, identity.fictitious, identity.homonym))),
        ]
        if file.status is IdentityStatus.QUALIFIED and identity.ins is not None:
            rows.append(("Matricule INS", f"{format_matricule(identity.ins.matricule)} ({identity.ins.nature})"))
            rows.append(("OID", identity.ins.oid))
        else:
            rows.append(("Matricule INS", "INS non qualifié"))
        for label, value in rows:
            shown = _value(value)
            if label == "Statut de l'identité":
                shown.setToolTip(file.status.advice_fr)
            self.identity_form.addRow(f"{label} :", shown)

        contact = file.patient.contact
        _clear(self.contact_form)
        self.contact_form.addRow("Adresse :", _value("\n".join(contact.address_lines)))
        self.contact_form.addRow("Code postal :", _value(contact.postal_code))
        self.contact_form.addRow("Ville :", _value(contact.city))
        self.contact_form.addRow("Téléphones :", _value(" ; ".join(contact.phones)))
        self.contact_form.addRow("Courriel :", _value(contact.email))

        _clear(self.team_form)
        doctor = file.patient.attending_doctor
        if doctor is not None:
            self.team_form.addRow(
                "Médecin traitant :", _value(_member_text(doctor.display_name, doctor.rpps, doctor.mssante_address))
            )
        else:
            self.team_form.addRow("Médecin traitant :", _value("Non renseigné"))
        others = [m for m in file.patient.care_team if m.role is not CareRole.ATTENDING_DOCTOR]
        for member in others:
            title = member.role.label_fr + (f" ({member.profession})" if member.profession else "")
            self.team_form.addRow(
                f"{title} :", _value(_member_text(member.display_name, member.rpps, member.mssante_address))
            )
        if not others:
            self.team_form.addRow("Autres professionnels :", _value("Aucun"))

        self.history_table.setRowCount(len(file.status_history))
        for line, change in enumerate(reversed(file.status_history)):
            before = QTableWidgetItem(change.before.label_fr if change.before else "—")
            if change.before:
                before.setIcon(status_icon(change.before))
            after = QTableWidgetItem(change.after.label_fr)
            after.setIcon(status_icon(change.after))
            cells = (
                before,
                after,
                QTableWidgetItem(format_datetime_fr(change.at)),
                QTableWidgetItem(change.actor),
                QTableWidgetItem(change.reason),
            )
            for column, cell in enumerate(cells):
                cell.setToolTip(cell.text())
                self.history_table.setItem(line, column, cell)


def _check_text(file: PatientFile) -> str:
    """The identity check: the document type, or the transitional procedure / ApCV (issue 3)."""
    identity = file.patient.identity
    if file.document_type_label:
        return file.document_type_label
    if identity.transitional_qualification:
        return "Aucune (procédure spécifique transitoire)"
    mode = identity.qualification_mode
    return f"Aucune ({mode.label_fr})" if mode is not None else "Aucune"


def _member_text(name: str, rpps: str, mss: str) -> str:
    parts = [name]
    if rpps:
        parts.append(f"RPPS {rpps}")
    if mss:
        parts.append(f"MSSanté {mss}")
    return " — ".join(parts)


def _clear(form: QFormLayout) -> None:
    while form.rowCount():
        form.removeRow(0)


class PatientFileView(QWidget):
    """Banner + tabs. The identity tab is real; the others say plainly that they are still to come.

    Signals:
        edit_requested: the user asked to edit the open file.
    """

    edit_requested = Signal()

    def __init__(self, today: Callable[[], dt.date] = dt.date.today, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.banner = IdentityBanner(today)
        self.tabs = QTabWidget()
        # Nine tabs must fit side by side on a 1366-pixel screen: compact tabs rather than scroll arrows.
        self.tabs.setStyleSheet("QTabBar::tab { padding: 4px 6px; }")
        self.identity_tab = IdentityTabView()
        self.identity_tab.edit_requested.connect(self.edit_requested)
        self.tabs.addTab(self.identity_tab, "Identité")
        self.agenda_tab = PatientAgendaTab()  # issue 5: past and future appointments, care series
        self.tabs.addTab(self.agenda_tab, "Agenda")
        self.placeholder_labels: dict[str, QLabel] = {}
        for title, sentence in NOT_YET.items():
            page = QWidget()
            page_layout = QVBoxLayout(page)
            label = QLabel(sentence)
            label.setWordWrap(True)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setStyleSheet("color: #555; font-size: 11pt;")
            page_layout.addWidget(label)
            self.placeholder_labels[title] = label
            self.tabs.addTab(page, title)
        # The clinical record (issue 6): observations after the agenda, the practitioner's dashboard last.
        self.observations_tab = ObservationsTab(today)
        after = next((i + 1 for i in range(self.tabs.count()) if self.tabs.tabText(i) == "Agenda"), 1)
        self.tabs.insertTab(after, self.observations_tab, "Observations")
        self.documents_tab = DocumentsTab()  # issue 4: health documents, after the observations
        self.observations_tab.document_requested.connect(self.documents_tab.open_requested)
        self.tabs.insertTab(after + 1, self.documents_tab, "Documents")
        self.prescriptions_tab = PrescriptionsTab()  # issue 6: prescriptions, where the placeholder stood
        self.tabs.insertTab(self.tabs.indexOf(self.documents_tab) + 1, self.prescriptions_tab, "Prescriptions")
        self.letters_tab = LettersTab()  # issue 6: letters, where the placeholder stood (after the prescriptions)
        self.tabs.insertTab(self.tabs.indexOf(self.prescriptions_tab) + 1, self.letters_tab, "Courriers")
        self.dashboard_page = DashboardPage()
        self.tabs.addTab(self.dashboard_page, "Tableau de bord")
        # The INSi notice under the banner: "Recherche INSi en cours…", then the result or advice (issue 3).
        self.insi_notice = QLabel()
        self.insi_notice.setObjectName("insiNotice")
        self.insi_notice.setWordWrap(True)
        self.insi_notice.setStyleSheet(
            "#insiNotice { background: #eef3fa; border: 1px solid #9fb3cc; padding: 3px 8px; color: #1d2b3a; }"
        )
        self.insi_notice.hide()
        layout.addWidget(self.banner)
        layout.addWidget(self.insi_notice)
        layout.addWidget(self.tabs, 1)
        self.file: PatientFile | None = None

    def set_clinical_access(self, allowed: bool) -> None:
        """Enable the care tabs, or grey them out with the reason (secretary, administrator: GEN.16)."""
        care = (
            self.observations_tab,
            self.documents_tab,
            self.prescriptions_tab,
            self.letters_tab,
            self.dashboard_page,
        )
        for page in care:
            index = self.tabs.indexOf(page)
            self.tabs.setTabEnabled(index, allowed)
            self.tabs.setTabToolTip(index, "" if allowed else NO_CLINICAL_ACCESS)
        if not allowed and self.tabs.currentWidget() in care:
            self.tabs.setCurrentWidget(self.identity_tab)

    def set_insi_notice(self, text: str, *, busy: bool = False) -> None:
        """Show (or hide, for "") the discreet INSi notice under the banner."""
        self.insi_notice.setText(("⏳ " if busy else "") + text)
        self.insi_notice.setVisible(bool(text))
        self._fit_notice()

    def _fit_notice(self) -> None:
        # A word-wrapped label gets squeezed when the tabs below ask for their minimum height: reserve the height
        # its text needs at the current width, so that a two-line INSi answer is never cut.
        width = self.insi_notice.width() if self.insi_notice.width() > 100 else self.width()
        self.insi_notice.setMinimumHeight(self.insi_notice.heightForWidth(width) if self.insi_notice.text() else 0)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        """Keep the notice's height right when the window is resized."""
        super().resizeEvent(event)
        self._fit_notice()

    def set_file(self, file: PatientFile) -> None:
        """Show ``file``."""
        self.file = file
        self.banner.set_file(file)
        self.identity_tab.set_file(file)
