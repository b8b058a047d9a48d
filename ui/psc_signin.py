"""Pro Santé Connect in the desktop UI: the waiting dialog, the situation d'exercice choice, the controller."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.tasks import Lane, TaskRunner
from domain.errors import DomainError
from domain.psc import PracticeSituation, PscCancelled
from ui.error_presenter import ErrorPresenter

if TYPE_CHECKING:
    from app.services.signin_psc import PendingPscSignIn, PscSignInResult, PscSignInService
    from ui.sign_in import SessionController, SignInDialog

log = logging.getLogger("lgc.ui")

PSC_BUTTON_TEXT = "Se connecter avec Pro Santé Connect"
PSC_BUTTON_TOOLTIP = "Connexion avec votre e-CPS (application mobile) ou votre carte CPS, dans votre navigateur"
KEEP_ALIVE_MS = 60_000
PSC_BLUE = "#000091"


class QtBrowser:
    """``Browser`` port for the UI: opens the system browser through Qt, on the UI thread."""

    def __init__(self, tasks: TaskRunner) -> None:
        self._tasks = tasks
        self.last_url = ""

    def open(self, url: str) -> None:
        """Open ``url`` in the default browser (called from a worker thread: posted to the UI thread)."""
        self.last_url = url
        self._tasks.post(lambda: self._open_now(url))

    def reopen(self) -> None:
        """Open the last URL again (the user closed the browser tab)."""
        if self.last_url:
            self._open_now(self.last_url)

    @staticmethod
    def _open_now(url: str) -> None:
        from PySide6.QtGui import QDesktopServices  # first use only: keeps start-up light

        if not QDesktopServices.openUrl(QUrl(url)):
            log.warning("The system browser could not be opened")


def make_psc_button(parent: QWidget | None = None) -> QPushButton:
    """The "Se connecter avec Pro Santé Connect" button in PSC's colours (for any sign-in dialog)."""
    return style_psc_button(QPushButton(PSC_BUTTON_TEXT, parent))


def style_psc_button(button: QPushButton) -> QPushButton:
    """Give a button PSC's look and tooltip."""
    button.setObjectName("pscButton")
    button.setToolTip(PSC_BUTTON_TOOLTIP)
    button.setMinimumHeight(36)
    button.setStyleSheet(
        f"#pscButton {{ background: {PSC_BLUE}; color: white; font-weight: bold; padding: 6px 14px;"
        " border-radius: 4px; } #pscButton:disabled { background: #8585c0; }"
    )
    return button


def psc_sign_in_extension(dialog: SignInDialog, session: SessionController) -> None:
    """Sign-in dialog extension (``ui.sign_in.register_sign_in_extension``): the PSC button under the form.

    It uses the ``PscSignInController`` of the dialog's main window; a PSC sign-in then completes the
    session like a password sign-in (``session.complete_sign_in``).
    """
    controllers = session.window.findChildren(PscSignInController)
    if not controllers or not controllers[0].configured:
        return
    controller = controllers[0]
    button = style_psc_button(dialog.add_alternative(PSC_BUTTON_TEXT, PSC_BUTTON_TOOLTIP))
    button.clicked.connect(controller.start)


class PscWaitDialog(QDialog):
    """Shown while the user authenticates in the browser; "Annuler" gives up, "Rouvrir" reopens the page.

    Signals:
        reopen_requested: the user wants the PSC page opened again.
    """

    reopen_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connexion avec Pro Santé Connect")
        self.setMinimumSize(QSize(520, 230))
        layout = QVBoxLayout(self)
        heading = QLabel(f"<span style='font-size:14pt; color:{PSC_BLUE}'><b>Pro Santé Connect</b></span>")
        layout.addWidget(heading)
        self.message = QLabel(
            "La page de connexion Pro Santé Connect s'est ouverte dans votre navigateur.<br><br>"
            "Authentifiez-vous avec votre <b>e-CPS</b> (application mobile) ou votre <b>carte CPS</b>, "
            "puis revenez ici : la connexion se termine automatiquement."
        )
        self.message.setWordWrap(True)
        layout.addWidget(self.message, 1)
        buttons = QDialogButtonBox()
        self.reopen_button = buttons.addButton("Rouvrir la page de connexion", QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button = buttons.addButton("Annuler", QDialogButtonBox.ButtonRole.RejectRole)
        self.reopen_button.clicked.connect(self.reopen_requested)
        self.cancel_button.clicked.connect(self.reject)
        layout.addWidget(buttons)

    def set_finishing(self) -> None:
        """The browser answered: LGC is opening the session."""
        self.message.setText("Identité vérifiée par Pro Santé Connect. Ouverture de la session…")
        self.reopen_button.setEnabled(False)


class SituationDialog(QDialog):
    """The user picks the situation d'exercice of this session (PSC lists several activities)."""

    def __init__(self, name: str, situations: tuple[PracticeSituation, ...], parent: QWidget | None = None) -> None:
        from PySide6.QtWidgets import QListWidget, QListWidgetItem  # first use only: keeps start-up light

        super().__init__(parent)
        self.setWindowTitle("Situation d'exercice")
        self.setMinimumSize(QSize(680, 220))
        self.resize(QSize(700, 240))
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"<b>{_escape(name)}</b>, Pro Santé Connect indique plusieurs situations d'exercice.<br>"
            "Choisissez celle dans laquelle vous travaillez pendant cette session : elle sera utilisée pour "
            "les documents et les échanges avec les services nationaux."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.list = QListWidget()
        for situation in situations:
            item = QListWidgetItem(situation.label_fr)
            detail = [f"Identifiant de structure : {situation.structure_id or '—'}"]
            if situation.finess:
                detail.append(f"FINESS : {situation.finess}")
            if situation.siret:
                detail.append(f"SIRET : {situation.siret}")
            item.setToolTip("\n".join(detail))
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        layout.addWidget(self.list, 1)
        buttons = QDialogButtonBox()
        self.ok_button = buttons.addButton("Continuer", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton("Annuler", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    @property
    def chosen(self) -> int:
        """Index of the chosen situation."""
        return max(self.list.currentRow(), 0)


class PscSignInController(QObject):
    """Runs the PSC sign-in from the UI: browser, waiting dialog, situation choice, keep-alive, sign-out.

    Any sign-in dialog can use it: create one, connect ``signed_in``, call ``start()`` (or put
    ``make_psc_button()`` in the dialog and connect its ``clicked`` to ``start``).

    Signals:
        signed_in(object): a ``PscSignInResult``; the current user is set.
        signed_out(): the PSC session ended (sign-out, or refused renewal); nobody is signed in.
        failed(object): the attempt failed (already shown to the user), or was cancelled.
    """

    signed_in = Signal(object)
    signed_out = Signal()
    failed = Signal(object)

    def __init__(
        self,
        service: PscSignInService,
        tasks: TaskRunner,
        presenter: ErrorPresenter,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._service = service
        self._tasks = tasks
        self._presenter = presenter
        self._parent = parent
        self.browser = QtBrowser(tasks)
        self.wait_dialog: PscWaitDialog | None = None
        self.situation_dialog: SituationDialog | None = None
        self._keep_alive = QTimer(self)
        self._keep_alive.setInterval(KEEP_ALIVE_MS)
        self._keep_alive.timeout.connect(self.keep_alive)
        self._cancel = threading.Event()
        self.busy = False

    @property
    def configured(self) -> bool:
        """True when PSC is configured on this workstation."""
        return self._service.configured

    def start(self) -> None:
        """Open PSC in the browser and wait (NET lane) with the waiting dialog shown."""
        if self.busy:
            if self.wait_dialog is not None:
                self.wait_dialog.raise_()
            return
        self.busy = True
        self._cancel = threading.Event()
        dialog = PscWaitDialog(self._parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.rejected.connect(self._wait_rejected)
        dialog.reopen_requested.connect(self.browser.reopen)
        self.wait_dialog = dialog
        dialog.open()
        service, browser, cancel = self._service, self.browser, self._cancel
        self._tasks.submit(
            lambda: service.authenticate(browser, cancel),
            lane=Lane.NET,
            on_success=self._authenticated,
            on_error=self._failed,
        )

    def _authenticated(self, pending: PendingPscSignIn) -> None:
        if self.wait_dialog is not None:
            self.wait_dialog.set_finishing()
        if pending.needs_choice:
            self._close_wait()
            dialog = SituationDialog(pending.identity.display_name, pending.situations, self._parent)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.situation_dialog = dialog

            def chosen(result: int) -> None:
                self.situation_dialog = None
                if result == QDialog.DialogCode.Accepted:
                    self._finish(pending, dialog.chosen)
                else:
                    self.busy = False
                    self.failed.emit(PscCancelled("Choix de la situation d'exercice annulé."))

            dialog.finished.connect(chosen)
            dialog.open()
            return
        self._finish(pending, None)

    def _finish(self, pending: PendingPscSignIn, index: int | None) -> None:
        service = self._service
        self._tasks.submit(
            lambda: service.finish(pending, index),
            lane=Lane.DB,
            on_success=self._done,
            on_error=self._failed,
        )

    def _done(self, result: PscSignInResult) -> None:
        self._close_wait()
        self.busy = False
        self._keep_alive.start()
        log.info("PSC sign-in finished")
        self.signed_in.emit(result)

    def _failed(self, exc: BaseException) -> None:
        self._close_wait()
        self.busy = False
        if not isinstance(exc, PscCancelled):
            self._presenter.present(exc, context="Connexion avec Pro Santé Connect", retry=self.start)
        self.failed.emit(exc)

    def _wait_rejected(self) -> None:
        self.wait_dialog = None  # closed by the user (and deleted): only stop waiting
        self.cancel()

    def cancel(self) -> None:
        """Stop waiting for the browser (the dialog was closed, or the application quits)."""
        self._cancel.set()

    def _close_wait(self) -> None:
        dialog, self.wait_dialog = self.wait_dialog, None
        if dialog is not None:
            dialog.accept()

    def keep_alive(self) -> None:
        """Renew the tokens if needed (NET lane); a refused renewal ends the session with a message."""
        service = self._service
        self._tasks.submit(service.keep_alive, lane=Lane.NET, on_error=self._keep_alive_failed)

    def _keep_alive_failed(self, exc: BaseException) -> None:
        if self._service.signed_in:
            log.warning("PSC renewal failed, session kept until its tokens expire: %s", type(exc).__name__)
            return
        self._keep_alive.stop()
        self._presenter.present(exc, context="Session Pro Santé Connect terminée")
        self.signed_out.emit()

    def sign_out(self) -> None:
        """End the PSC session (at PSC too, NET lane); ``signed_out`` follows."""
        self._keep_alive.stop()
        service = self._service
        self._tasks.submit(
            service.sign_out,
            lane=Lane.NET,
            on_success=lambda _none: self.signed_out.emit(),
            on_error=self._sign_out_failed,
        )

    def _sign_out_failed(self, exc: BaseException) -> None:
        if isinstance(exc, DomainError):
            self._presenter.present(exc, context="Déconnexion de Pro Santé Connect")
        else:
            log.error("PSC sign-out crashed", exc_info=exc)
        self.signed_out.emit()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
