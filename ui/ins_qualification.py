"""INS qualification in the UI: INSi comparison dialog, beneficiary chooser, document types, and their controller."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.dto import PatientFile
from app.services.qualification import LookupOutcome, OpenAction, VerificationReport, VerificationRun
from app.tasks import Lane
from domain.cards import CARD_INSERTED
from domain.identity import IdentitySource, IdentityStatus
from domain.ins_qualification import Concordance, VerificationResult
from domain.insi import CardEvent, CardKind, VitaleBeneficiary
from domain.patient import Patient
from domain.practice import IdentityDocumentType, UserAccount
from ui.error_presenter import describe_error
from ui.identity_banner import format_matricule

if TYPE_CHECKING:
    from ui.main_window import MainController

log = logging.getLogger("lgc.ui.ins")

TRANSITIONAL_CODE = "__transitoire__"
"""Combo entry of the "procédure spécifique transitoire" (not a document type)."""

SEARCHING_TEXT = "Recherche INSi en cours…"
VERIFY_EVERY_MS = 30 * 60 * 1000
"""The background verification of due INS runs every 30 minutes…"""
FIRST_VERIFY_MS = 2 * 60 * 1000
"""…and a first time two minutes after the practice opens."""

_DIVERGENT_BACKGROUND = QColor("#fde2e1")
_NEW_BACKGROUND = QColor("#e5effa")


def _date_fr(lunar: str) -> str:
    parts = lunar.split("-")
    return "/".join(reversed(parts)) if len(parts) == 3 else lunar


class ComparisonDialog(QDialog):
    """Local identity and INSi's side by side; divergences marked by a sign, a word, bold text and a colour.

    Signals:
        retrieve_requested(str): "Récupérer l'INS" / "Valider" clicked; the argument is the document code chosen
            for "Qualifier avec la pièce…", or "" for a retrieval alone.
        qualify_requested(str): "Qualifier avec la pièce…" after the INS is already retrieved.
        create_requested(str): Sentinelle: create the patient from INSi's identity (document code or "").
    """

    retrieve_requested = Signal(str)
    qualify_requested = Signal(str)
    create_requested = Signal(str)

    def __init__(
        self, outcome: LookupOutcome, document_types: Sequence[IdentityDocumentType], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.outcome = outcome
        self.setWindowTitle("Téléservice INSi — comparaison des identités")
        self.resize(QSize(900, 470))
        layout = QVBoxLayout(self)
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.heading)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setObjectName("insiProblem")
        self.problem.setStyleSheet(
            "#insiProblem { background: #fff3cd; border: 1px solid #8a6d00; padding: 6px; color: #3d3000; }"
        )
        layout.addWidget(self.problem)

        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Trait", "Identité locale", "Réponse INSi", "Concordance"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table, 1)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setObjectName("insiNotice")
        self.notice.setStyleSheet(
            "#insiNotice { background: #e7f4ea; border: 1px solid #1b7a3d; padding: 6px; color: #0f3d1f; }"
        )
        self.notice.hide()
        layout.addWidget(self.notice)

        qualify_row = QHBoxLayout()
        qualify_row.addWidget(QLabel("Pièce d'identité présentée :"))
        self.document_combo = QComboBox()
        self.document_combo.setAccessibleName("Type de pièce d'identité présentée")
        self.document_combo.addItem("— choisissez la pièce présentée —", None)
        for doc in document_types:
            if doc.active and doc.high_trust:
                self.document_combo.addItem(doc.label, doc.code)
        if outcome.source is IdentitySource.INSI_VITALE and outcome.patient_id is not None:
            self.document_combo.addItem(
                "Procédure spécifique transitoire (patient connu, INS lue sur sa carte Vitale)", TRANSITIONAL_CODE
            )
        qualify_row.addWidget(self.document_combo, 1)
        layout.addLayout(qualify_row)

        buttons = QDialogButtonBox()
        self.retrieve_button = QPushButton()
        self.qualify_button = QPushButton("Qualifier avec la pièce…")
        self.qualify_button.setToolTip(
            "Enregistre le contrôle de l'identité sur la pièce choisie (et récupère l'INS si ce n'est pas fait) : "
            "l'identité devient qualifiée."
        )
        self.create_button = QPushButton("Créer le dossier depuis l'INSi")
        self.create_button.setToolTip("Crée le dossier patient avec l'identité et l'INS renvoyées par l'INSi.")
        self.close_button = QPushButton("Fermer sans rien changer")
        for button in (self.retrieve_button, self.qualify_button, self.create_button):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.RejectRole)
        layout.addWidget(buttons)
        self.retrieve_button.clicked.connect(lambda: self.retrieve_requested.emit(""))
        self.qualify_button.clicked.connect(self._qualify_clicked)
        self.create_button.clicked.connect(lambda: self.create_requested.emit(self._document_or_empty()))
        self.close_button.clicked.connect(self.reject)
        self.retrieved = False
        self.qualified = False
        self.document_combo.currentIndexChanged.connect(lambda _i: self.update_qualify())
        self._fill()

    def _document_or_empty(self) -> str:
        code = self.document_combo.currentData()
        return str(code) if code and code != TRANSITIONAL_CODE else ""

    def _qualify_clicked(self) -> None:
        code = str(self.document_combo.currentData() or "")
        if self.retrieved:
            self.qualify_requested.emit(code)
        else:
            self.retrieve_requested.emit(code)

    def _fill(self) -> None:
        outcome = self.outcome
        comparison = outcome.comparison
        how = "la carte Vitale" if outcome.source is IdentitySource.INSI_VITALE else "les traits d'identité"
        self.heading.setText(
            f"<p style='font-size:12pt'><b>INSi : {html.escape(outcome.message or outcome.answer.label)}</b></p>"
            f"<p>Recherche par {how}. Comparez l'identité locale avec celle renvoyée par le téléservice.</p>"
        )
        self.problem.setText(f"⚠ {outcome.problem}" if outcome.problem else "")
        self.problem.setVisible(bool(outcome.problem))
        rows = comparison.rows if comparison is not None else ()
        self.table.setRowCount(len(rows))
        bold = QFont()
        bold.setBold(True)
        for line, row in enumerate(rows):
            local_text = row.local or "—"
            insi_text = row.insi or "—"
            if row.key in ("matricule", "nir"):
                local_text = format_matricule(row.local) if row.local else "—"
                insi_text = format_matricule(row.insi) if row.insi else "—"
            cells = [
                QTableWidgetItem(row.label),
                QTableWidgetItem(local_text),
                QTableWidgetItem(insi_text),
                QTableWidgetItem(f"{row.concordance.mark} {row.concordance.label_fr}"),
            ]
            for column, cell in enumerate(cells):
                cell.setToolTip(cell.text())
                if row.concordance is Concordance.DIFFERENT:
                    cell.setBackground(QBrush(_DIVERGENT_BACKGROUND))
                    cell.setFont(bold)
                elif row.concordance is Concordance.NEW:
                    cell.setBackground(QBrush(_NEW_BACKGROUND))
                self.table.setItem(line, column, cell)
        self.table.resizeRowsToContents()
        divergences = comparison.divergences if comparison is not None else ()
        if outcome.patient_id is None:
            self.summary.setText(
                "Aucun dossier ouvert : vous pouvez créer le dossier du patient à partir de l'identité INSi "
                "(traits et INS renseignés en une fois)."
            )
        elif divergences:
            names = ", ".join(r.label.lower() for r in divergences)
            self.summary.setText(
                f"<b>✖ {len(divergences)} divergence(s)</b> : {html.escape(names)}. En validant, les traits locaux "
                "sont remplacés par ceux de l'INSi (le nom et le prénom utilisés sont conservés)."
            )
        else:
            self.summary.setText("<b>✔ Toutes les informations concordent.</b>")
        found = outcome.found
        self.retrieve_button.setText("Valider (traits INSi)" if divergences else "Récupérer l'INS")
        self.retrieve_button.setToolTip(
            "Enregistre l'INS et les traits renvoyés par l'INSi : l'identité devient récupérée "
            "(qualifiée si une pièce d'identité a déjà été contrôlée)."
        )
        has_patient = outcome.patient_id is not None
        self.retrieve_button.setVisible(has_patient)
        self.retrieve_button.setEnabled(found and not self.retrieved)
        self.qualify_button.setVisible(has_patient)
        self.create_button.setVisible(not has_patient)
        self.create_button.setEnabled(found)
        self.document_combo.setEnabled(found)
        self.update_qualify()

    def update_qualify(self) -> None:
        """Enable "Qualifier avec la pièce…" when a piece is chosen and the identity is not qualified yet."""
        chosen = self.document_combo.currentData() is not None
        self.qualify_button.setEnabled(self.outcome.found and chosen and not self.qualified)

    def show_retrieved(self, file: PatientFile, *, automatic: bool) -> None:
        """The INS is stored: say so, keep "Qualifier avec la pièce…" for the one more click."""
        self.retrieved = True
        status = file.status
        how = "automatiquement (toutes les informations concordent)" if automatic else ""
        self.notice.setText(
            f"✔ INS récupérée {how} — statut de l'identité : <b>{status.label_fr}</b>."
            + ("" if status is IdentityStatus.QUALIFIED else " Contrôlez une pièce d'identité pour la qualifier.")
        )
        self.notice.show()
        self.retrieve_button.setEnabled(False)
        self.qualified = status is IdentityStatus.QUALIFIED
        self.document_combo.setEnabled(not self.qualified)
        self.update_qualify()
        self.close_button.setText("Fermer")

    def show_qualified(self, file: PatientFile) -> None:
        """The identity is qualified."""
        self.retrieved = True
        self.qualified = file.status is IdentityStatus.QUALIFIED
        mode = file.patient.identity.qualification_mode
        how = file.document_type_label or (mode.label_fr if mode is not None else "")
        self.notice.setText(f"✔ Identité <b>{file.status.label_fr}</b> ({html.escape(how)}).")
        self.notice.show()
        self.retrieve_button.setEnabled(False)
        self.qualify_button.setEnabled(False)
        self.document_combo.setEnabled(False)
        self.close_button.setText("Fermer")

    def set_busy(self, busy: bool) -> None:
        """Disable the actions while a task runs."""
        for button in (self.retrieve_button, self.qualify_button, self.create_button):
            button.setProperty("busy", busy)
        self.setCursor(Qt.CursorShape.BusyCursor if busy else Qt.CursorShape.ArrowCursor)
        if busy:
            self.retrieve_button.setEnabled(False)
            self.qualify_button.setEnabled(False)
            self.create_button.setEnabled(False)


class InsiMessageDialog(QDialog):
    """01/02 (or an unusable answer): the message, the advice, and a link to learn more."""

    def __init__(self, outcome: LookupOutcome, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Téléservice INSi")
        layout = QVBoxLayout(self)
        self.text = QLabel(message_html(outcome))
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setOpenExternalLinks(True)
        self.text.setMinimumWidth(520)
        layout.addWidget(self.text)
        buttons = QDialogButtonBox()
        close = buttons.addButton("Fermer", QDialogButtonBox.ButtonRole.AcceptRole)
        close.clicked.connect(self.accept)
        layout.addWidget(buttons)


def message_html(outcome: LookupOutcome) -> str:
    """The French message of a 01/02 answer with its advice and link."""
    code = outcome.answer.code
    text = f"<p><b>INSi ({code.value}) : {html.escape(outcome.message or code.label_fr)}</b></p>"
    if outcome.advice:
        text += f"<p>{html.escape(outcome.advice)}</p>"
    if outcome.help_url:
        url = html.escape(outcome.help_url, quote=True)
        text += f"<p><a href='{url}'>En savoir plus sur l'INS et le téléservice INSi</a></p>"
    return text


class BeneficiaryDialog(QDialog):
    """Choose the beneficiary of a carte Vitale that carries several (parents and children…)."""

    def __init__(self, beneficiaries: Sequence[VitaleBeneficiary], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Carte Vitale — choix du bénéficiaire")
        self.beneficiaries = list(beneficiaries)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel(f"Cette carte Vitale porte {len(beneficiaries)} bénéficiaires. Lequel est le patient ?")
        )
        self.list = QListWidget()
        for index, b in enumerate(beneficiaries):
            name = b.birth_name + (f" ({b.used_name})" if b.used_name else "")
            item = QListWidgetItem(f"{name} {b.given_name} — né(e) le {_date_fr(b.birth_date)} — rang {b.birth_rank}")
            item.setData(Qt.ItemDataRole.UserRole, index)
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        layout.addWidget(self.list)
        buttons = QDialogButtonBox()
        ok = buttons.addButton("Interroger l'INSi", QDialogButtonBox.ButtonRole.AcceptRole)
        cancel = buttons.addButton("Annuler", QDialogButtonBox.ButtonRole.RejectRole)
        ok.clicked.connect(self.accept)
        cancel.clicked.connect(self.reject)
        layout.addWidget(buttons)

    def chosen(self) -> VitaleBeneficiary | None:
        """The selected beneficiary."""
        item = self.list.currentItem()
        return None if item is None else self.beneficiaries[int(item.data(Qt.ItemDataRole.UserRole))]


class DocumentTypesDialog(QDialog):
    """Outils > Pièces d'identité acceptées… : the practice's list of identity document types (administrators).

    Signals:
        save_requested(object): the list of ``IdentityDocumentType`` that changed.
    """

    save_requested = Signal(object)

    def __init__(self, types: Sequence[IdentityDocumentType], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Pièces d'identité acceptées")
        self.resize(QSize(760, 420))
        self._original = {t.code: t for t in types}
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Types de pièces que le cabinet accepte pour contrôler l'identité (règle 19). Seules les pièces à haut "
            "niveau de confiance permettent de valider ou de qualifier une identité."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Code", "Libellé", "Haut niveau de confiance", "Active"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for doc in types:
            self._add_row(doc, editable_code=False)
        layout.addWidget(self.table, 1)
        add_row = QHBoxLayout()
        self.new_code = QLineEdit()
        self.new_code.setPlaceholderText("Code (ex. CARTE_RESIDENT)")
        self.new_label = QLineEdit()
        self.new_label.setPlaceholderText("Libellé affiché")
        self.new_high = QCheckBox("Haut niveau de confiance")
        add_button = QPushButton("Ajouter")
        add_button.clicked.connect(self._add_clicked)
        for widget in (self.new_code, self.new_label, self.new_high, add_button):
            add_row.addWidget(widget)
        layout.addLayout(add_row)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #a00000;")
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox()
        self.save_button = buttons.addButton("Enregistrer", QDialogButtonBox.ButtonRole.AcceptRole)
        cancel = buttons.addButton("Annuler", QDialogButtonBox.ButtonRole.RejectRole)
        self.save_button.clicked.connect(self._save_clicked)
        cancel.clicked.connect(self.reject)
        layout.addWidget(buttons)

    def _add_row(self, doc: IdentityDocumentType, *, editable_code: bool) -> None:
        line = self.table.rowCount()
        self.table.insertRow(line)
        code = QTableWidgetItem(doc.code)
        if not editable_code:
            code.setFlags(code.flags() & ~Qt.ItemFlag.ItemIsEditable)
        self.table.setItem(line, 0, code)
        self.table.setItem(line, 1, QTableWidgetItem(doc.label))
        for column, value in ((2, doc.high_trust), (3, doc.active)):
            item = QTableWidgetItem("Oui" if value else "Non")
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            item.setCheckState(Qt.CheckState.Checked if value else Qt.CheckState.Unchecked)
            self.table.setItem(line, column, item)

    def _add_clicked(self) -> None:
        code = self.new_code.text().strip().upper()
        label = self.new_label.text().strip()
        if not code or not label:
            self.error_label.setText("⚠ Code et libellé sont obligatoires.")
            return
        if any(self.table.item(r, 0).text() == code for r in range(self.table.rowCount())):  # type: ignore[union-attr]
            self.error_label.setText(f"⚠ Le code {code} existe déjà.")
            return
        self.error_label.setText("")
        self._add_row(IdentityDocumentType(code, label, self.new_high.isChecked()), editable_code=False)
        self.new_code.clear()
        self.new_label.clear()
        self.new_high.setChecked(False)

    def edited_types(self) -> list[IdentityDocumentType]:
        """The rows that differ from what was loaded (new ones included)."""
        changed = []
        for line in range(self.table.rowCount()):
            cells = [self.table.item(line, c) for c in range(4)]
            if any(c is None for c in cells):
                continue
            code, label, high, active = cells
            assert code is not None and label is not None and high is not None and active is not None
            doc = IdentityDocumentType(
                code.text().strip(),
                label.text().strip(),
                high.checkState() == Qt.CheckState.Checked,
                active.checkState() == Qt.CheckState.Checked,
            )
            if self._original.get(doc.code) != doc:
                changed.append(doc)
        return changed

    def _save_clicked(self) -> None:
        self.save_requested.emit(self.edited_types())


class SwitchUserDialog(QDialog):
    """Outils > Changer d'utilisateur (démonstration): act as another demo account (the real sign-in comes later)."""

    def __init__(self, users: Sequence[UserAccount], current: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Changer d'utilisateur (démonstration)")
        layout = QVBoxLayout(self)
        note = QLabel(
            "Mode démonstration : choisissez le compte avec lequel agir (par exemple l'administrateur pour "
            "configurer les pièces d'identité). La connexion par carte CPS ou Pro Santé Connect remplace ce choix "
            "en production."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        self.list = QListWidget()
        for user in users:
            item = QListWidgetItem(
                f"{user.display_name} — {user.role.label_fr}" + (" (administrateur)" if user.is_admin else "")
            )
            item.setData(Qt.ItemDataRole.UserRole, user.login)
            self.list.addItem(item)
            if user.login == current:
                self.list.setCurrentItem(item)
        self.list.itemDoubleClicked.connect(lambda _i: self.accept())
        layout.addWidget(self.list)
        buttons = QDialogButtonBox()
        ok = buttons.addButton("Changer", QDialogButtonBox.ButtonRole.AcceptRole)
        cancel = buttons.addButton("Annuler", QDialogButtonBox.ButtonRole.RejectRole)
        ok.clicked.connect(self.accept)
        cancel.clicked.connect(self.reject)
        layout.addWidget(buttons)

    def chosen_login(self) -> str | None:
        """The selected account's login."""
        item = self.list.currentItem()
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))


class QualificationController(QObject):
    """INSi around the patient file: automatic lookup on opening and on carte Vitale insertion, manual search,
    the comparison dialog, the verification of NIA/old INS, and the Outils dialogs. Never blocks the UI thread.

    Signals:
        outcome_shown(object): a ``LookupOutcome`` reached the user (dialog or notice).
        card_event_received(object): every ``CardEvent`` of the card monitor (for other card users: the CPS).
        file_updated(object): a ``PatientFile`` changed (INS retrieved, identity qualified, patient created).
        notice_changed(str): the text of the INSi notice of the open file.
    """

    outcome_shown = Signal(object)
    file_updated = Signal(object)
    notice_changed = Signal(str)
    card_event_received = Signal(object)

    def __init__(self, main: MainController) -> None:
        super().__init__(main)
        self._main = main
        self._s = main._s
        self._tasks = self._s.tasks
        self.presenter = main.presenter
        self.dialog: ComparisonDialog | None = None
        self.message_dialog: InsiMessageDialog | None = None
        self.beneficiary_dialog: BeneficiaryDialog | None = None
        self.types_dialog: DocumentTypesDialog | None = None
        self.user_dialog: SwitchUserDialog | None = None
        self._looked_up: set[tuple[int, int]] = set()
        self._current: int | None = None
        view = main.window.patient_file
        view.identity_tab.insi_requested.connect(self.search_open_patient)
        main.file_shown.connect(self.file_opened)
        self._verify_timer = QTimer(self)
        self._verify_timer.setInterval(VERIFY_EVERY_MS)
        self._verify_timer.timeout.connect(self.run_verifications)
        self._first_verify = QTimer(self)
        self._first_verify.setSingleShot(True)
        self._first_verify.setInterval(FIRST_VERIFY_MS)
        self._first_verify.timeout.connect(self.run_verifications)
        main.window.closing.connect(self.stop_background)

    # -- background: card monitor, periodic verification -------------------------------------------------
    def start_background(self) -> None:
        """Once the practice is open (``run_gui``): watch the card readers, verify due INS now and then."""
        self._s.cards.start_monitor(self.card_event, self._tasks.post)
        self._verify_timer.start()
        self._first_verify.start()

    def stop_background(self) -> None:
        """The window closes: no more verification passes (the services close the card monitor)."""
        self._verify_timer.stop()
        self._first_verify.stop()

    def run_verifications(self) -> None:
        """One pass of the verification job (skipped when one is running or nobody is signed in)."""
        if self._s.current_user.is_set:
            self._s.ins_verification.run_once(self._verifications_done)

    def _verifications_done(self, run: VerificationRun) -> None:
        failed = [r for r in run.reports if r.result is VerificationResult.KO]
        if run.reports:
            log.info("INS verification pass: %d verified, %d not confirmed", len(run.reports), len(failed))
        if failed:
            self._main.window.statusBar().showMessage(
                f"{len(failed)} INS non confirmée(s) par l'INSi : identité(s) rétrogradée(s), voir les traces.", 15000
            )
        if any(r.patient_id == self._current and r.status_after is not r.status_before for r in run.reports):
            assert self._current is not None
            self._main.open_patient(self._current)

    def card_event(self, event: CardEvent) -> None:
        """A card monitor event (on the UI thread): a carte Vitale inserted is read on the DEVICE lane."""
        self.card_event_received.emit(event)
        if event.kind != CARD_INSERTED or event.card is not CardKind.VITALE:
            return
        cards = self._s.cards
        self._main.window.statusBar().showMessage("Lecture de la carte Vitale…", 5000)
        self._tasks.submit(
            lambda: cards.read_vitale(event.reader),
            lane=Lane.DEVICE,
            on_success=self.vitale_read,
            on_error=self._presenting("Lecture de la carte Vitale"),
        )

    def _presenting(self, context: str, parent: QWidget | None = None) -> Callable[[BaseException], None]:
        def present(exc: BaseException) -> None:
            self.presenter.present(exc, context=context, parent=parent)

        return present

    # -- file opened / manual search ---------------------------------------------------------------------
    def _open_file(self) -> PatientFile | None:
        file: PatientFile | None = self._main.window.patient_file.file
        return file

    def _set_notice(self, text: str, *, busy: bool = False) -> None:
        view = self._main.window.patient_file
        view.set_insi_notice(text, busy=busy)
        self.notice_changed.emit(text)

    def file_opened(self, file: PatientFile) -> None:
        """A file is shown: for a non-récupérée/qualifiée identity, query INSi in the background (once per version)."""
        self._current = file.id
        self._set_notice("")
        key = (file.id, file.patient.version)
        if key in self._looked_up:
            return
        self._looked_up.add(key)
        service = self._s.qualification
        pid = file.id
        self._tasks.submit(
            lambda: service.action_on_open(pid),
            lane=Lane.DB,
            on_success=lambda action: self._open_action(file, action),
            on_error=lambda exc: log.warning("INS action on open failed: %s", type(exc).__name__),
        )

    def _open_action(self, file: PatientFile, action: OpenAction) -> None:
        if self._current != file.id:
            return
        if action is OpenAction.LOOKUP:
            self._lookup(file.patient, manual=False)
        elif action is OpenAction.VERIFY:
            self._verify(file.patient)

    def search_open_patient(self) -> None:
        """ "Rechercher l'INS (INSi)" in the Identité tab: search with the file's traits, always show the result."""
        file = self._open_file()
        if file is None:
            return
        self._lookup(file.patient, manual=True)

    def _lookup(self, patient: Patient, *, manual: bool) -> None:
        service = self._s.qualification
        self._set_notice(SEARCHING_TEXT, busy=True)
        self._tasks.submit(
            lambda: service.lookup_patient(patient),
            lane=Lane.NET,
            on_success=lambda outcome: self._looked(outcome, manual=manual),
            on_error=lambda exc: self._lookup_failed(exc, patient, manual=manual),
        )

    def _lookup_failed(self, exc: BaseException, patient: Patient, *, manual: bool) -> None:
        if self._current != patient.id and not manual:
            return
        message = describe_error(exc)
        self._set_notice(f"⚠ INSi : {message.text}")
        if manual:
            self.presenter.present(exc, context="Recherche INSi", retry=lambda: self._lookup(patient, manual=True))

    def _looked(self, outcome: LookupOutcome, *, manual: bool) -> None:
        if outcome.patient_id is not None and outcome.patient_id != self._current:
            return  # the user opened another file meanwhile
        if outcome.automatic:
            self._set_notice("Récupération automatique de l'INS (toutes les informations concordent)…", busy=True)
            self._retrieve(outcome, "", automatic=True)
            return
        if outcome.found or outcome.comparison is not None:
            self._set_notice("")
            self.show_comparison(outcome)
            return
        # 01 / 02: a discreet notice when automatic, the message dialog when asked for.
        self._set_notice(f"INSi : {outcome.message} {outcome.advice}".strip())
        if manual:
            self.show_message(outcome)
        self.outcome_shown.emit(outcome)

    # -- carte Vitale ------------------------------------------------------------------------------------
    def vitale_read(self, beneficiaries: Sequence[VitaleBeneficiary]) -> None:
        """A carte Vitale was read (card monitor/reader): choose the beneficiary if several, then query INSi."""
        if not beneficiaries:
            self._set_notice("⚠ La carte Vitale ne porte aucun bénéficiaire lisible.")
            return
        if len(beneficiaries) == 1:
            self._lookup_vitale(beneficiaries[0])
            return
        dialog = BeneficiaryDialog(beneficiaries, self._main.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.beneficiary_dialog = dialog

        def chosen(result: int) -> None:
            self.beneficiary_dialog = None
            picked = dialog.chosen()
            if result == QDialog.DialogCode.Accepted and picked is not None:
                self._lookup_vitale(picked)

        dialog.finished.connect(chosen)
        dialog.open()

    def _lookup_vitale(self, beneficiary: VitaleBeneficiary) -> None:
        service = self._s.qualification
        file = self._open_file()
        patient = file.patient if file is not None and self._current == file.id else None
        self._set_notice(SEARCHING_TEXT, busy=True)
        self._tasks.submit(
            lambda: service.lookup_vitale(beneficiary, patient),
            lane=Lane.NET,
            on_success=self._vitale_looked,
            on_error=lambda exc: self._vitale_failed(exc, beneficiary),
        )

    def _vitale_failed(self, exc: BaseException, beneficiary: VitaleBeneficiary) -> None:
        self._set_notice(f"⚠ INSi : {describe_error(exc).text}")
        self.presenter.present(
            exc, context="Recherche INSi par carte Vitale", retry=lambda: self._lookup_vitale(beneficiary)
        )

    def _vitale_looked(self, outcome: LookupOutcome) -> None:
        if outcome.patient_id is None and outcome.found and outcome.answer.identity is not None:
            # No file open: the patient may already be known by this INS (Sentinelle).
            service = self._s.qualification
            identity = outcome.answer.identity
            self._tasks.submit(
                lambda: service.find_by_ins(identity.matricule, identity.oid),
                lane=Lane.DB,
                on_success=lambda known: self._known_or_new(outcome, known),
                on_error=self._presenting("Recherche du patient par son INS"),
            )
            return
        self._looked(outcome, manual=True)

    def _known_or_new(self, outcome: LookupOutcome, known: object) -> None:
        from domain.ins_qualification import KnownIns

        if isinstance(known, KnownIns):
            self._set_notice(f"Patient reconnu par son INS : dossier n° {known.patient_id}.")
            self._main.open_patient(known.patient_id)
            return
        self.show_comparison(outcome)

    # -- the comparison dialog ---------------------------------------------------------------------------
    def show_comparison(self, outcome: LookupOutcome) -> ComparisonDialog:
        """Open (or replace) the comparison dialog for ``outcome``."""
        if self.dialog is not None:
            self.dialog.close()
        types = list(self._main.overview.document_types) if self._main.overview else []
        dialog = ComparisonDialog(outcome, types, self._main.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.retrieve_requested.connect(lambda code: self._retrieve(outcome, code, automatic=False))
        dialog.qualify_requested.connect(lambda code: self._qualify(outcome, code))
        dialog.create_requested.connect(lambda code: self._create(outcome, code))
        dialog.finished.connect(lambda _r: self._dialog_closed(dialog))
        self.dialog = dialog
        dialog.open()
        self.outcome_shown.emit(outcome)
        return dialog

    def _dialog_closed(self, dialog: ComparisonDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def show_message(self, outcome: LookupOutcome) -> None:
        """The 01/02 message with advice and link."""
        dialog = InsiMessageDialog(outcome, self._main.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: setattr(self, "message_dialog", None))
        self.message_dialog = dialog
        dialog.open()

    def _retrieve(self, outcome: LookupOutcome, code: str, *, automatic: bool) -> None:
        service = self._s.qualification
        transitional = code == TRANSITIONAL_CODE
        document = code if code and not transitional else None
        if self.dialog is not None:
            self.dialog.set_busy(True)
        self._tasks.submit(
            lambda: service.retrieve(outcome, automatic=automatic, document_code=document, transitional=transitional),
            lane=Lane.DB,
            on_success=lambda file: self._retrieved(outcome, file, automatic=automatic, qualified=bool(code)),
            on_error=lambda exc: self._action_failed(exc, "Récupération de l'INS"),
        )

    def _retrieved(self, outcome: LookupOutcome, file: PatientFile, *, automatic: bool, qualified: bool) -> None:
        self._looked_up.add((file.id, file.patient.version))
        self._refresh(file)
        self._set_notice(f"✔ INS récupérée — identité {file.status.label_fr}.")
        if automatic and self.dialog is None:
            self.show_comparison(outcome)
        if self.dialog is not None:
            self.dialog.setCursor(Qt.CursorShape.ArrowCursor)
            if qualified:
                self.dialog.show_qualified(file)
            else:
                self.dialog.show_retrieved(file, automatic=automatic)

    def _qualify(self, outcome: LookupOutcome, code: str) -> None:
        file = self._open_file()
        if file is None or file.id != outcome.patient_id:
            return
        service = self._s.qualification
        transitional = code == TRANSITIONAL_CODE
        pid, version = file.id, file.patient.version
        if self.dialog is not None:
            self.dialog.set_busy(True)
        self._tasks.submit(
            lambda: service.qualify(
                pid, version, document_code=None if transitional else code, transitional=transitional
            ),
            lane=Lane.DB,
            on_success=self._qualified,
            on_error=lambda exc: self._action_failed(exc, "Qualification de l'identité"),
        )

    def _qualified(self, file: PatientFile) -> None:
        self._looked_up.add((file.id, file.patient.version))
        self._refresh(file)
        self._set_notice(f"✔ Identité {file.status.label_fr}.")
        if self.dialog is not None:
            self.dialog.setCursor(Qt.CursorShape.ArrowCursor)
            self.dialog.show_qualified(file)

    def _create(self, outcome: LookupOutcome, code: str) -> None:
        service = self._s.qualification
        if self.dialog is not None:
            self.dialog.set_busy(True)
        self._tasks.submit(
            lambda: service.create_from_insi(outcome, document_code=code or None),
            lane=Lane.DB,
            on_success=self._created,
            on_error=lambda exc: self._action_failed(exc, "Création du dossier depuis l'INSi"),
        )

    def _created(self, file: PatientFile) -> None:
        self._looked_up.add((file.id, file.patient.version))
        if self.dialog is not None:
            self.dialog.accept()
        self._refresh(file)
        self._main.list_controller.refresh(select_id=file.id)
        self._main.refresh_overview()

    def _action_failed(self, exc: BaseException, context: str) -> None:
        if self.dialog is not None:
            self.dialog.setCursor(Qt.CursorShape.ArrowCursor)
            self.dialog.retrieve_button.setEnabled(not self.dialog.retrieved and self.dialog.outcome.found)
            self.dialog.update_qualify()
            self.dialog.create_button.setEnabled(self.dialog.outcome.found)
        self._set_notice("")
        self.presenter.present(exc, context=context, parent=self.dialog or self._main.window)

    def _refresh(self, file: PatientFile) -> None:
        self._current = file.id
        self._main.show_file(file)
        self.file_updated.emit(file)

    # -- verification ------------------------------------------------------------------------------------
    def _verify(self, patient: Patient) -> None:
        service = self._s.qualification
        self._set_notice("Vérification de l'INS auprès de l'INSi…", busy=True)

        def conclude(answer: object, error: BaseException | None) -> None:
            self._tasks.submit(
                lambda: service.record_verification(patient, answer, error),  # type: ignore[arg-type]
                lane=Lane.DB,
                on_success=self._verified,
                on_error=lambda exc: self._set_notice(f"⚠ Vérification de l'INS : {describe_error(exc).text}"),
            )

        self._tasks.submit(
            lambda: service.verification_search(patient),
            lane=Lane.NET,
            on_success=lambda answer: conclude(answer, None),
            on_error=lambda exc: conclude(None, exc),
        )

    def _verified(self, report: VerificationReport) -> None:
        if report.result is VerificationResult.OK:
            self._set_notice("✔ INS vérifiée auprès de l'INSi.")
        elif report.result is VerificationResult.ERROR:
            self._set_notice(f"⚠ Vérification de l'INS impossible : {report.explanation} Nouvel essai plus tard.")
        else:
            self._set_notice(
                f"⚠ INS non confirmée par l'INSi : {report.explanation} Identité désormais "
                f"{report.status_after.label_fr}."
            )
        if report.status_after is not report.status_before and report.patient_id == self._current:
            self._main.open_patient(report.patient_id)

    # -- Outils ------------------------------------------------------------------------------------------
    def edit_document_types(self) -> None:
        """Outils > Pièces d'identité acceptées… (saving needs an administrator: the service checks)."""
        practice = self._s.practice
        self._tasks.submit(
            lambda: practice.overview().document_types,
            lane=Lane.DB,
            on_success=self._show_types,
            on_error=self._presenting("Pièces d'identité acceptées"),
        )

    def _show_types(self, types: Sequence[IdentityDocumentType]) -> None:
        dialog = DocumentTypesDialog(types, self._main.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.save_requested.connect(lambda changed: self._save_types(dialog, changed))
        dialog.finished.connect(lambda _r: setattr(self, "types_dialog", None))
        self.types_dialog = dialog
        dialog.open()

    def _save_types(self, dialog: DocumentTypesDialog, changed: list[IdentityDocumentType]) -> None:
        practice = self._s.practice

        def save() -> None:
            for doc in changed:
                practice.save_document_type(doc)

        self._tasks.submit(
            save,
            lane=Lane.DB,
            on_success=lambda _r: self._types_saved(dialog),
            on_error=self._presenting("Pièces d'identité acceptées", dialog),
        )

    def _types_saved(self, dialog: DocumentTypesDialog) -> None:
        dialog.accept()
        self._main.refresh_overview()

    def switch_user(self) -> None:
        """Outils > Changer d'utilisateur (démonstration)."""
        practice = self._s.practice
        self._tasks.submit(
            practice.users,
            lane=Lane.DB,
            on_success=self._show_users,
            on_error=self._presenting("Changer d'utilisateur"),
        )

    def _show_users(self, users: list[UserAccount]) -> None:
        current = self._s.current_user().login if self._s.current_user.is_set else ""
        dialog = SwitchUserDialog(users, current, self._main.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def done(result: int) -> None:
            self.user_dialog = None
            login = dialog.chosen_login()
            if result == QDialog.DialogCode.Accepted and login:
                self._sign_in(login)

        dialog.finished.connect(done)
        self.user_dialog = dialog
        dialog.open()

    def _sign_in(self, login: str) -> None:
        practice = self._s.practice
        self._tasks.submit(
            lambda: practice.sign_in(login),
            lane=Lane.DB,
            on_success=lambda _user: self._main.refresh_overview(),
            on_error=self._presenting("Changer d'utilisateur"),
        )
