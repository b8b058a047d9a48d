"""Main window (layout, menus) and its controller (what happens when the user acts)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QObject, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.dto import PatientFile, PracticeOverview
from app.services.connectivity import ServiceCheck
from app.tasks import Lane
from app.version import technical_version
from ui.agenda_launcher import AgendaLauncher
from ui.documents_tab import DocumentsController
from ui.error_presenter import ErrorPresenter, describe_error
from ui.identity_banner import icon
from ui.ins_label import InsLabelController
from ui.ins_qualification import QualificationController
from ui.letters_tab import LettersController
from ui.patient_file import PatientFileView
from ui.patient_form import PatientFormController, PatientFormDialog
from ui.patient_list import PatientListController, PatientListView
from ui.prescriptions_tab import PrescriptionsController
from ui.psc_signin import PscSignInController, psc_sign_in_extension
from ui.record_controller import RecordLauncher
from ui.sign_in import SessionController, register_sign_in_extension

if TYPE_CHECKING:  # the composition root is only needed for its type here
    from app.bootstrap import Services
    from app.services.signin_psc import PscSignInResult

log = logging.getLogger("lgc.ui")

PRODUCT_NAME = "LGC — logiciel de gestion de cabinet libre"
LICENCE = "GNU Affero General Public License, version 3 ou ultérieure (AGPL-3.0-or-later)"
DEMO_BANNER_TEXT = (
    "<b>DÉMONSTRATION</b> — patients fictifs et services nationaux simulés sur ce poste. "
    "Ne saisissez aucune donnée réelle."
)
EMPTY_STATE_TEXT = (
    "<p style='font-size:13pt'><b>Aucun dossier ouvert</b></p>"
    "<p>Recherchez un patient dans la liste de gauche (nom, prénom, date de naissance JJ/MM/AAAA ou "
    "matricule INS), puis double-cliquez sur sa ligne ou appuyez sur Entrée.</p>"
    "<p>Pour un patient qui n'est pas encore dans le cabinet : <b>Nouveau patient</b> (Ctrl+N).</p>"
)
PREPARING_TEXT = "Préparation du cabinet de démonstration…"
LOADING_TEXT = "Ouverture du cabinet…"


class MainWindow(QMainWindow):
    """Layout of the main window: demo banner, patient list on the left, patient file on the right.

    Signals:
        closing: the window is about to close (after saving its geometry).
    """

    closing = Signal()

    def __init__(self, ui_settings: QSettings, *, demo: bool) -> None:
        super().__init__()
        self._ui_settings = ui_settings
        self.setWindowTitle("LGC")
        self.resize(QSize(1340, 820))

        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(6, 6, 6, 6)
        self.demo_banner = QLabel(DEMO_BANNER_TEXT)
        self.demo_banner.setObjectName("demoBanner")
        self.demo_banner.setWordWrap(True)
        self.demo_banner.setStyleSheet(
            "#demoBanner { background: #fff3b0; border: 2px dashed #8a6d00; padding: 5px; color: #3d3000; }"
        )
        self.demo_banner.setVisible(demo)
        outer.addWidget(self.demo_banner)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        top = QHBoxLayout()
        title = QLabel("<b>Patients</b>")
        self.new_patient_button = QPushButton("Nouveau patient")
        self.new_patient_button.setToolTip("Créer un dossier patient (Ctrl+N)")
        top.addWidget(title)
        top.addStretch(1)
        top.addWidget(self.new_patient_button)
        left_layout.addLayout(top)
        self.patient_list = PatientListView()
        left_layout.addWidget(self.patient_list, 1)

        self.right = QStackedWidget()
        self.empty_state = QLabel(EMPTY_STATE_TEXT)
        self.empty_state.setWordWrap(True)
        self.empty_state.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_state.setMargin(40)
        self.empty_state.setStyleSheet("color: #444;")
        self.patient_file = PatientFileView()
        self.right.addWidget(self.empty_state)
        self.right.addWidget(self.patient_file)

        self.splitter.addWidget(left)
        self.splitter.addWidget(self.right)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([560, 780])
        outer.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        self.new_patient_action = QAction("Nouveau patient…", self)
        self.new_patient_action.setShortcut(QKeySequence("Ctrl+N"))
        self.quit_action = QAction("Quitter", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.check_services_action = QAction("Tester les services nationaux…", self)
        self.about_action = QAction("À propos de LGC…", self)
        self.psc_sign_in_action = QAction("Se connecter avec Pro Santé Connect…", self)
        self.psc_sign_out_action = QAction("Se déconnecter de Pro Santé Connect", self)
        self.psc_sign_out_action.setEnabled(False)
        file_menu = self.menuBar().addMenu("&Fichier")
        file_menu.addAction(self.new_patient_action)
        file_menu.addSeparator()
        file_menu.addAction(self.psc_sign_in_action)
        file_menu.addAction(self.psc_sign_out_action)
        file_menu.addSeparator()
        # Session (issue 7): lock, password change, sign-out
        self.lock_action = QAction("Verrouiller la session", self)
        self.lock_action.setShortcut(QKeySequence("Ctrl+L"))
        self.change_password_action = QAction("Changer mon mot de passe…", self)
        self.sign_out_action = QAction("Se déconnecter", self)
        file_menu.addAction(self.lock_action)
        file_menu.addAction(self.change_password_action)
        file_menu.addAction(self.sign_out_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        tools_menu = self.menuBar().addMenu("&Outils")
        tools_menu.addAction(self.check_services_action)
        # INS qualification (issue 3): the practice's identity document types, and the demo user switch.
        self.document_types_action = QAction("Pièces d'identité acceptées…", self)
        self.switch_user_action = QAction("Changer d'utilisateur (démonstration)…", self)
        self.switch_user_action.setVisible(demo)
        tools_menu.addAction(self.document_types_action)
        tools_menu.addAction(self.switch_user_action)
        # Agenda (issue 5): its window, from the menu and the toolbar.
        self.agenda_action = QAction("Agenda…", self)
        self.agenda_action.setShortcut(QKeySequence("Ctrl+G"))
        self.agenda_action.setToolTip("Agenda : rendez-vous, séries de soins, tournée, liste d'attente (Ctrl+G)")
        self.menuBar().addMenu("A&genda").addAction(self.agenda_action)
        self.agenda_toolbar = self.addToolBar("Agenda")
        self.agenda_toolbar.setObjectName("agendaToolbar")
        self.agenda_toolbar.setMovable(False)
        self.agenda_toolbar.addAction(self.agenda_action)
        # Clinical record (issue 6): the practitioner's follow-up dashboard in its own window.
        self.dashboard_action = QAction("Tableau de bord de suivi…", self)
        self.dashboard_action.setShortcut(QKeySequence("Ctrl+B"))
        self.dashboard_action.setToolTip("Patients suivis, vaccins à proposer, plaies, grossesses… (Ctrl+B)")
        self.menuBar().addMenu("&Dossier").addAction(self.dashboard_action)
        help_menu = self.menuBar().addMenu("&Aide")
        help_menu.addAction(self.about_action)
        self.new_patient_button.clicked.connect(self.new_patient_action.trigger)
        self.quit_action.triggered.connect(self.close)

        self.count_label = QLabel()
        self.mode_label = QLabel()
        self.statusBar().addWidget(self.count_label)
        self.psc_label = QLabel()
        self.psc_label.setObjectName("pscStatus")
        self.psc_label.setStyleSheet("#pscStatus { padding-right: 12px; }")
        self.statusBar().addPermanentWidget(self.psc_label)
        self.statusBar().addPermanentWidget(self.mode_label)
        if demo:
            self.setWindowIcon(icon("demonstration.svg"))
        self.restore_geometry()

    def show_file(self, file: PatientFile) -> None:
        """Display a patient file on the right."""
        self.patient_file.set_file(file)
        self.right.setCurrentWidget(self.patient_file)

    def restore_geometry(self) -> None:
        """Window size and splitter position from the last session."""
        geometry = self._ui_settings.value("main_window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        splitter = self._ui_settings.value("main_window/splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        """Remember the geometry, then close."""
        self._ui_settings.setValue("main_window/geometry", self.saveGeometry())
        self._ui_settings.setValue("main_window/splitter", self.splitter.saveState())
        self._ui_settings.sync()
        self.closing.emit()
        super().closeEvent(event)


class ServiceCheckDialog(QDialog):
    """Results of "Tester les services nationaux", filled line by line as answers arrive."""

    def __init__(self, names: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Services nationaux")
        self.resize(QSize(640, 260))
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Vérification que chaque service national (ou son simulateur en démonstration) répond. "
            "Vous pouvez continuer à travailler pendant le test."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.table = QTableWidget(len(names), 3)
        self.table.setHorizontalHeaderLabels(["Service", "Résultat", "Détail"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.rows = {name: line for line, name in enumerate(names)}
        for name, line in self.rows.items():
            self.table.setItem(line, 0, QTableWidgetItem(name))
            self.table.setItem(line, 1, QTableWidgetItem("En cours…"))
            self.table.setItem(line, 2, QTableWidgetItem(""))
        layout.addWidget(self.table, 1)
        if not names:
            self.table.hide()
            layout.addWidget(QLabel("Aucun service national n'est configuré sur ce poste."))
        buttons = QDialogButtonBox()
        close = buttons.addButton("Fermer", QDialogButtonBox.ButtonRole.RejectRole)
        close.clicked.connect(self.reject)
        layout.addWidget(buttons)

    def set_result(self, name: str, ok: bool, detail: str) -> None:
        """Fill the line of ``name``: "Disponible" / "Indisponible" (word and mark, not colour alone)."""
        line = self.rows.get(name)
        if line is None:
            return
        result = QTableWidgetItem("✔ Disponible" if ok else "✖ Indisponible")
        detail_item = QTableWidgetItem(detail)
        detail_item.setToolTip(detail)
        self.table.setItem(line, 1, result)
        self.table.setItem(line, 2, detail_item)
        self.table.resizeColumnToContents(1)

    def finished_count(self) -> int:
        """How many lines have an answer."""
        done = 0
        for line in self.rows.values():
            item = self.table.item(line, 1)
            if item is not None and item.text() != "En cours…":
                done += 1
        return done


class MainController(QObject):
    """Wires the main window to the services; every service call goes through the task runner.

    Signals:
        ready: the practice is open and the patient list shows its first results.
        file_shown(object): a ``PatientFile`` is displayed.
    """

    ready = Signal()
    file_shown = Signal(object)

    def __init__(
        self,
        window: MainWindow,
        services: Services,
        *,
        prepare: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self._s = services
        self._tasks = services.tasks
        self._prepare = prepare
        self.presenter = ErrorPresenter(window)
        self.list_controller = PatientListController(
            window.patient_list,
            services.patients,
            self._tasks,
        )
        self.overview: PracticeOverview | None = None
        self.form_dialog: PatientFormDialog | None = None
        self.form_controller: PatientFormController | None = None
        self.check_dialog: ServiceCheckDialog | None = None
        self._open_ids = itertools.count(1)
        self._open_latest = 0
        self._is_ready = False
        self._warmed_up = False
        self._closing = False
        window.closing.connect(self._on_closing)
        self.list_controller.patient_activated.connect(self.open_patient)
        self.list_controller.results_shown.connect(self._first_results)
        window.new_patient_action.triggered.connect(self.new_patient)
        window.patient_file.edit_requested.connect(self.edit_open_patient)
        window.check_services_action.triggered.connect(self.check_services)
        window.about_action.triggered.connect(self.show_about)
        self.agenda = AgendaLauncher(services, self.presenter, window)  # issue 5
        self.agenda.bind_tab(window.patient_file.agenda_tab)
        window.agenda_action.triggered.connect(lambda: self.agenda.open())
        self.file_shown.connect(self.agenda.show_file)
        self.record = RecordLauncher(  # issue 6
            services.record,
            self._tasks,
            self.presenter,
            window,
            window.patient_file.observations_tab,
            window.patient_file.dashboard_page.view,
            window.patient_file.dashboard_page.shown_first,
            self.open_patient,
        )
        window.dashboard_action.triggered.connect(self.record.open_dashboard)
        self.file_shown.connect(self.record.show_file)
        self.documents = DocumentsController(  # issue 4
            services.documents, self._tasks, self.presenter, window, window.patient_file.documents_tab
        )
        self.file_shown.connect(self.documents.show_file)
        self.prescriptions = PrescriptionsController(  # issue 6
            services.prescriptions, self._tasks, self.presenter, window, window.patient_file.prescriptions_tab
        )
        self.file_shown.connect(self.prescriptions.show_file)
        self.prescriptions.document_produced.connect(self.documents.refresh)
        self.letters = LettersController(  # issue 6
            services.letters, self._tasks, self.presenter, window, window.patient_file.letters_tab
        )
        self.file_shown.connect(self.letters.show_file)
        # What the other care tabs produce shows in the timeline and may change the alerts (allergy × line);
        # a validated prescription emits `changed` too, so its document needs no second refresh of the record.
        self.prescriptions.changed.connect(self.record.controller.refresh)
        self.documents.changed.connect(self.record.controller.refresh)
        self.letters.document_produced.connect(self.documents.refresh)
        self.letters.document_produced.connect(self.record.controller.refresh)
        self.qualification = QualificationController(self)
        self.ins_label = InsLabelController(self)
        window.document_types_action.triggered.connect(self.qualification.edit_document_types)
        window.switch_user_action.triggered.connect(self.qualification.switch_user)
        self.psc = PscSignInController(services.psc, self._tasks, self.presenter, window)
        window.psc_sign_in_action.setEnabled(services.psc.configured)
        window.psc_sign_in_action.triggered.connect(self.psc.start)
        window.psc_sign_out_action.triggered.connect(self.psc.sign_out)
        self.psc.signed_in.connect(self._psc_signed_in)
        self.psc.signed_out.connect(self._psc_signed_out)
        window.closing.connect(self.psc.cancel)  # quitting must not wait for the browser
        window.new_patient_action.setEnabled(False)
        settings = services.settings
        window.mode_label.setText("Mode démonstration" if settings.is_demo else "Mode production")
        # Local sign-in, inactivity lock and sign-out (issue 7)
        self.session = SessionController(window, services, self.presenter)
        window.lock_action.triggered.connect(lambda: self.session.lock("manuel"))
        window.change_password_action.triggered.connect(self.session.change_password)
        window.sign_out_action.triggered.connect(self.session.sign_out)
        self.session.signed_in.connect(self._signed_in)
        self.session.quit_requested.connect(window.close)
        window.closing.connect(self.session.timer.stop)
        # Pro Santé Connect completes the session like a password; ending one ends the other (issue 7).
        register_sign_in_extension(psc_sign_in_extension)
        self.psc.signed_in.connect(lambda result: self.session.complete_sign_in(result.user))
        self.session.signed_out.connect(self._local_signed_out)

    # -- start-up -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the practice off the UI thread (demo installation on a new store), then fill the list."""
        demo = self._s.settings.is_demo
        self.list_controller.set_waiting(PREPARING_TEXT if demo else LOADING_TEXT)
        self.window.count_label.setText(PREPARING_TEXT if demo else LOADING_TEXT)
        prepare = self._prepare
        practice = self._s.practice

        current_user = self._s.current_user

        def open_practice() -> PracticeOverview | None:
            if prepare is not None:
                prepare()
            if not current_user.is_set:
                return None  # production: the sign-in dialog comes first (issue 7)
            return practice.overview()

        self._tasks.submit(open_practice, lane=Lane.DB, on_success=self._practice_open, on_error=self._start_failed)

    def _on_closing(self) -> None:
        self._closing = True

    def _warm_up(self) -> None:
        """Load what later actions need, in the background, once the window is usable.

        Run after start-up rather than during it: these imports (COG index, the PSC client's httpx/authlib)
        compete with the start-up for the interpreter and delayed the first list by ~0.3 s (bench/startup).
        """
        if self._warmed_up or self._closing:
            return
        self._warmed_up = True
        # The COG index, so that the first birth-place keystroke is fast.
        places = self._s.places
        self._tasks.submit(places.warm_up, lane=Lane.NET, on_error=lambda exc: log.warning("COG warm-up failed"))
        psc = self._s.psc  # the PSC client's libraries, so that the first sign-in stays smooth
        self._tasks.submit(psc.warm_up, lane=Lane.NET, on_error=lambda exc: log.warning("PSC warm-up failed"))

    def _practice_open(self, overview: PracticeOverview | None) -> None:
        if overview is None:
            self._warm_up()  # the sign-in dialog comes first: its PSC client should be ready
            self.list_controller.set_waiting("Connectez-vous pour ouvrir le cabinet.")
            self.window.count_label.setText("")
            self.session.practice_name = self._practice_name()
            self.session.request_sign_in()
            return
        self.session.start_watching()
        self.session.practice_name = overview.name
        self._set_overview(overview)
        self.window.new_patient_action.setEnabled(True)
        self.list_controller.refresh()
        self.window.patient_list.search_box.setFocus()

    def _practice_name(self) -> str:
        return self.overview.name if self.overview is not None else "Logiciel de gestion de cabinet"

    def _signed_in(self, _user: object) -> None:
        """After the sign-in dialog (or a new user after a sign-out): re-read the practice as that user."""
        practice = self._s.practice
        self._tasks.submit(
            practice.overview, lane=Lane.DB, on_success=self._practice_open, on_error=self._start_failed
        )

    def _start_failed(self, exc: BaseException) -> None:
        self.list_controller.set_waiting("Le cabinet n'a pas pu être ouvert.")
        self.presenter.present(exc, context="Ouverture du cabinet", retry=self.start)

    def _first_results(self, _count: int) -> None:
        if not self._is_ready:
            self._is_ready = True
            self.ready.emit()
            QTimer.singleShot(300, self, self._warm_up)

    def _set_overview(self, overview: PracticeOverview) -> None:
        self.overview = overview
        title = f"LGC — {overview.name} — {overview.current_user.display_name}"
        if overview.demo:
            title += " — DÉMONSTRATION"
        self.window.setWindowTitle(title)
        count = overview.patient_count
        self.window.count_label.setText(
            f"{count:,} patient{'s' if count > 1 else ''} dans le cabinet".replace(",", "\u202f")
        )

    def _psc_signed_in(self, result: PscSignInResult) -> None:
        """Show who is connected (title and status bar) and re-read the practice as that user."""
        situation = f" — {result.situation.structure_name}" if result.situation else ""
        self.window.psc_label.setText(f"Pro Santé Connect : {result.identity.display_name}{situation}")
        self.window.psc_label.setToolTip(result.situation.label_fr if result.situation else "")
        self.window.psc_sign_out_action.setEnabled(True)
        self.refresh_overview()

    def _psc_signed_out(self) -> None:
        self.window.psc_label.setText("Pro Santé Connect : déconnecté")
        self.window.psc_sign_out_action.setEnabled(False)
        if self.overview is not None:
            self.window.setWindowTitle(f"LGC — {self.overview.name} — aucun utilisateur connecté")
        if not self._s.current_user.is_set and self.session.sign_in_dialog is None:
            self.session.request_sign_in()

    def _local_signed_out(self) -> None:
        if self._s.psc.signed_in:
            self.psc.sign_out()

    def refresh_overview(self) -> None:
        """Re-read the practice figures (patient count) after a change."""
        practice = self._s.practice
        self._tasks.submit(
            practice.overview,
            lane=Lane.DB,
            on_success=self._set_overview,
            on_error=lambda exc: log.warning("Overview refresh failed: %s", type(exc).__name__),
        )

    # -- patient file ---------------------------------------------------------------------------------
    def open_patient(self, patient_id: int) -> None:
        """Load a file on the DB lane and show it (a later request wins over an earlier one)."""
        request = next(self._open_ids)
        self._open_latest = request
        patients = self._s.patients

        def shown(file: PatientFile) -> None:
            if request == self._open_latest:
                self.show_file(file)

        self._tasks.submit(
            lambda: patients.open_patient(patient_id),
            lane=Lane.DB,
            on_success=shown,
            on_error=lambda exc: self._open_failed(patient_id, exc),
        )

    def _open_failed(self, patient_id: int, exc: BaseException) -> None:
        self.presenter.present(exc, context="Ouverture du dossier", retry=lambda: self.open_patient(patient_id))

    def show_file(self, file: PatientFile) -> None:
        """Display ``file`` on the right (care tabs only for the profiles that read care records)."""
        reads_care = self._s.record.can_read()
        self.window.patient_file.set_clinical_access(reads_care)
        self.window.dashboard_action.setEnabled(reads_care)
        self.window.show_file(file)
        self.file_shown.emit(file)

    # -- create / edit --------------------------------------------------------------------------------
    def new_patient(self) -> None:
        """Open the creation dialog."""
        self._open_form(None)

    def edit_open_patient(self) -> None:
        """Open the edit dialog on the displayed file."""
        file = self.window.patient_file.file
        if file is not None:
            self._open_form(file)

    def _open_form(self, file: PatientFile | None) -> None:
        if self.form_dialog is not None and self.form_dialog.isVisible():
            self.form_dialog.raise_()
            self.form_dialog.activateWindow()
            return
        doc_types = list(self.overview.document_types) if self.overview else []
        dialog = PatientFormDialog(doc_types, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        controller = PatientFormController(
            dialog,
            patients=self._s.patients,
            places=self._s.places,
            tasks=self._tasks,
            presenter=self.presenter,
            file=file,
        )
        controller.saved.connect(self._saved)
        dialog.finished.connect(self._form_closed)
        self.form_dialog = dialog
        self.form_controller = controller
        dialog.open()
        dialog.birth_name.setFocus() if file is None else dialog.used_name.setFocus()

    def _form_closed(self, _result: int) -> None:
        self.form_dialog = None
        self.form_controller = None

    def _saved(self, file: PatientFile) -> None:
        self.show_file(file)
        self.list_controller.refresh(select_id=file.id)
        self.refresh_overview()

    # -- tools ----------------------------------------------------------------------------------------
    def check_services(self) -> None:
        """Check every national service on the NET lane; answers fill the dialog as they come."""
        connectivity = self._s.connectivity
        names = list(connectivity.names)
        dialog = ServiceCheckDialog(names, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: setattr(self, "check_dialog", None))
        self.check_dialog = dialog
        for name in names:
            self._submit_check(dialog, name)
        dialog.open()

    def _submit_check(self, dialog: ServiceCheckDialog, name: str) -> None:
        connectivity = self._s.connectivity
        self._tasks.submit(
            lambda: connectivity.check(name),
            lane=Lane.NET,
            on_success=lambda check: self._check_done(dialog, check),
            on_error=lambda exc: self._check_failed(dialog, name, exc),
        )

    def _check_done(self, dialog: ServiceCheckDialog, check: ServiceCheck) -> None:
        if self.check_dialog is dialog:
            dialog.set_result(check.name, check.ok, check.message_fr)

    def _check_failed(self, dialog: ServiceCheckDialog, name: str, exc: BaseException) -> None:
        message = describe_error(exc)
        if not message.expected:
            log.error("Service check crashed", exc_info=exc)
        if self.check_dialog is dialog:
            dialog.set_result(name, False, message.text)

    def show_about(self) -> None:
        """Aide > À propos: product, technical version, schema revision, data directory, mode, licence."""
        settings = self._s.settings
        mode = "démonstration (services nationaux simulés)" if settings.is_demo else "production"
        box = QMessageBox(self.window)
        box.setWindowTitle("À propos de LGC")
        box.setIconPixmap(icon("status-qualifiee.svg").pixmap(QSize(48, 48)))
        box.setText(f"<b>{PRODUCT_NAME}</b>")
        box.setInformativeText(
            f"Version technique : {technical_version()}<br>"
            f"Révision du schéma de données : {self._s.schema_revision}<br>"
            f"Dossier des données : {settings.data_dir}<br>"
            f"Mode : {mode}<br>"
            f"Chiffrement : {self._s.encryption or 'non précisé'}<br><br>"
            f"Licence : {LICENCE}. Logiciel libre, sans publicité."
        )
        box.addButton("Fermer", QMessageBox.ButtonRole.AcceptRole)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.about_box = box
        box.open()
