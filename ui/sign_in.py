"""Sign-in, password change and lock screen dialogs, and the session controller (inactivity lock, sign-out)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.services.accounts import SignInResult
from app.tasks import Lane
from domain.errors import DomainError, InvalidInput
from domain.practice import UserAccount
from domain.security import SignInRefused
from ui.error_presenter import ErrorPresenter

if TYPE_CHECKING:  # only for the type
    from app.bootstrap import Services

log = logging.getLogger("lgc.ui")

ERROR_STYLE = "color: #a4000f; font-weight: bold;"
HINT_STYLE = "background: #fff3b0; border: 1px dashed #8a6d00; padding: 4px; color: #3d3000;"
_INPUT_EVENTS = {
    QEvent.Type.KeyPress,
    QEvent.Type.MouseButtonPress,
    QEvent.Type.MouseMove,
    QEvent.Type.Wheel,
    QEvent.Type.TouchBegin,
}

SignInExtension = Callable[["SignInDialog", "SessionController"], None]
_EXTENSIONS: list[SignInExtension] = []


def register_sign_in_extension(extension: SignInExtension) -> None:
    """Add another way to sign in to every sign-in dialog (e.g. "Se connecter avec Pro Santé Connect").

    ``extension(dialog, session)`` is called when a dialog is built: it typically creates a button with
    ``dialog.add_alternative(text)``, runs its own flow, then calls ``session.complete_sign_in(user)`` with the
    account it proved (after ``services.accounts.sign_in_external``), or ``dialog.show_error(text)``.
    """
    if extension not in _EXTENSIONS:
        _EXTENSIONS.append(extension)


def _error_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(ERROR_STYLE)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


class SignInDialog(QDialog):
    """Login and password; errors shown in the dialog (wrong password, lock); alternatives added below.

    Signals:
        submitted(str, str): the user asks to sign in with this login and password.
    """

    submitted = Signal(str, str)

    def __init__(self, practice_name: str, *, demo_password: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connexion — LGC")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        title = QLabel(f"<p style='font-size:14pt'><b>Connexion</b></p><p>{practice_name}</p>")
        title.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(title)
        form = QFormLayout()
        self.login = QLineEdit()
        self.login.setPlaceholderText("ex. m.durand")
        self.login.setMaxLength(80)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setMaxLength(256)
        form.addRow("&Identifiant :", self.login)
        form.addRow("&Mot de passe :", self.password)
        layout.addLayout(form)
        self.error = _error_label()
        layout.addWidget(self.error)
        self.demo_hint = QLabel(
            f"Démonstration : tous les comptes du cabinet fictif ont le mot de passe <b>{demo_password}</b> "
            "(identifiants : ide, sf, mk, admin, csi-secretariat…)."
        )
        self.demo_hint.setWordWrap(True)
        self.demo_hint.setStyleSheet(HINT_STYLE)
        self.demo_hint.setVisible(bool(demo_password))
        layout.addWidget(self.demo_hint)
        buttons = QDialogButtonBox()
        self.sign_in_button = buttons.addButton("Se connecter", QDialogButtonBox.ButtonRole.AcceptRole)
        self.quit_button = buttons.addButton("Quitter", QDialogButtonBox.ButtonRole.RejectRole)
        self.sign_in_button.setDefault(True)
        layout.addWidget(buttons)
        self.alternatives = QVBoxLayout()
        self._separator = QFrame()
        self._separator.setFrameShape(QFrame.Shape.HLine)
        self._separator.hide()
        layout.addWidget(self._separator)
        layout.addLayout(self.alternatives)
        self.sign_in_button.clicked.connect(self._submit)
        self.quit_button.clicked.connect(self.reject)
        self.password.returnPressed.connect(self._submit)
        self.login.returnPressed.connect(self.password.setFocus)

    def add_alternative(self, text: str, tooltip: str = "") -> QPushButton:
        """A button under the form for another sign-in method (Pro Santé Connect…)."""
        self._separator.show()
        button = QPushButton(text)
        button.setToolTip(tooltip)
        self.alternatives.addWidget(button)
        return button

    def _submit(self) -> None:
        login = self.login.text().strip()
        if not login:
            self.show_error("Saisissez votre identifiant.")
            self.login.setFocus()
            return
        if not self.password.text():
            self.show_error("Saisissez votre mot de passe.")
            self.password.setFocus()
            return
        self.set_busy(True)
        self.submitted.emit(login, self.password.text())

    def set_busy(self, busy: bool) -> None:
        """Disable the form while the password is checked."""
        self.sign_in_button.setEnabled(not busy)
        self.sign_in_button.setText("Vérification…" if busy else "Se connecter")

    def show_error(self, text: str) -> None:
        """A French message in the dialog; the password field is cleared for another try."""
        self.set_busy(False)
        self.error.setText("✖ " + text)
        self.error.show()
        self.adjustSize()
        self.password.clear()
        self.password.setFocus()


class PasswordChangeDialog(QDialog):
    """Current password, new password twice, and the policy that applies.

    Signals:
        submitted(str, str, str): current, new, confirmation.
    """

    submitted = Signal(str, str, str)

    def __init__(
        self,
        login: str,
        policy_lines: list[str],
        *,
        reason: str = "",
        current_password: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.login = login
        self.setWindowTitle("Changer le mot de passe — LGC")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        heading = QLabel(f"<b>Nouveau mot de passe pour « {login} »</b>")
        layout.addWidget(heading)
        self.reason = QLabel(reason)
        self.reason.setWordWrap(True)
        self.reason.setVisible(bool(reason))
        layout.addWidget(self.reason)
        self.policy = QLabel("<ul>" + "".join(f"<li>{line}</li>" for line in policy_lines) + "</ul>")
        self.policy.setWordWrap(True)
        self.policy.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.policy)
        form = QFormLayout()
        self.current = QLineEdit()
        self.current.setEchoMode(QLineEdit.EchoMode.Password)
        self.new = QLineEdit()
        self.new.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirmation = QLineEdit()
        self.confirmation.setEchoMode(QLineEdit.EchoMode.Password)
        if current_password is None:
            form.addRow("Mot de passe &actuel :", self.current)
        else:
            self.current.setText(current_password)
            self.current.hide()
        form.addRow("&Nouveau mot de passe :", self.new)
        form.addRow("&Confirmation :", self.confirmation)
        layout.addLayout(form)
        self.error = _error_label()
        layout.addWidget(self.error)
        buttons = QDialogButtonBox()
        self.ok_button = buttons.addButton("Changer le mot de passe", QDialogButtonBox.ButtonRole.AcceptRole)
        cancel = buttons.addButton("Annuler", QDialogButtonBox.ButtonRole.RejectRole)
        self.ok_button.setDefault(True)
        layout.addWidget(buttons)
        self.ok_button.clicked.connect(self._submit)
        cancel.clicked.connect(self.reject)

    def _submit(self) -> None:
        self.ok_button.setEnabled(False)
        self.submitted.emit(self.current.text(), self.new.text(), self.confirmation.text())

    def show_error(self, text: str) -> None:
        """A French message in the dialog; the new password fields are cleared."""
        self.ok_button.setEnabled(True)
        self.error.setText("✖ " + text)
        self.error.show()
        self.adjustSize()
        self.new.clear()
        self.confirmation.clear()
        (self.current if self.current.isVisible() and not self.current.text() else self.new).setFocus()


class LockScreen(QDialog):
    """Shown after inactivity or on request: the user's password unlocks; "Changer d'utilisateur" signs out.

    Signals:
        unlock_requested(str): the password typed.
        switch_user_requested(): sign out and show the sign-in dialog.
    """

    unlock_requested = Signal(str)
    switch_user_requested = Signal()

    def __init__(self, user: UserAccount, *, demo_password: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Session verrouillée — LGC")
        self.setMinimumWidth(460)
        self.setWindowFlag(Qt.WindowType.WindowCloseButtonHint, False)
        layout = QVBoxLayout(self)
        title = QLabel(
            "<p style='font-size:14pt'><b>Session verrouillée</b></p>"
            f"<p>Session de <b>{user.display_name}</b> ({user.login}). "
            "Saisissez votre mot de passe pour reprendre votre travail.</p>"
        )
        title.setWordWrap(True)
        layout.addWidget(title)
        form = QFormLayout()
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("&Mot de passe :", self.password)
        layout.addLayout(form)
        self.error = _error_label()
        layout.addWidget(self.error)
        hint = QLabel(f"Démonstration : mot de passe <b>{demo_password}</b>.")
        hint.setStyleSheet(HINT_STYLE)
        hint.setVisible(bool(demo_password))
        layout.addWidget(hint)
        buttons = QDialogButtonBox()
        self.unlock_button = buttons.addButton("Déverrouiller", QDialogButtonBox.ButtonRole.AcceptRole)
        self.switch_button = buttons.addButton("Changer d'utilisateur", QDialogButtonBox.ButtonRole.ResetRole)
        self.unlock_button.setDefault(True)
        layout.addWidget(buttons)
        self.unlock_button.clicked.connect(self._submit)
        self.password.returnPressed.connect(self._submit)
        self.switch_button.clicked.connect(self.switch_user_requested)

    def _submit(self) -> None:
        if not self.password.text():
            self.show_error("Saisissez votre mot de passe.")
            return
        self.unlock_button.setEnabled(False)
        self.unlock_requested.emit(self.password.text())

    def show_error(self, text: str) -> None:
        """A French message on the lock screen."""
        self.unlock_button.setEnabled(True)
        self.error.setText("✖ " + text)
        self.error.show()
        self.adjustSize()
        self.password.clear()
        self.password.setFocus()

    def reject(self) -> None:
        """Escape does not unlock."""


class SessionController(QObject):
    """Sign-in, sign-out, password change and the inactivity lock of the main window.

    Signals:
        signed_in(object): a ``UserAccount`` is now the current user.
        signed_out(): nobody is signed in any more (the sign-in dialog follows).
        locked(): the screen was locked.
        quit_requested(): the user chose "Quitter" on the sign-in dialog.
    """

    signed_in = Signal(object)
    signed_out = Signal()
    locked = Signal()
    quit_requested = Signal()

    def __init__(self, window: QMainWindow, services: Services, presenter: ErrorPresenter) -> None:
        super().__init__(window)
        self.window = window
        self._s = services
        self._tasks = services.tasks
        self._presenter = presenter
        self.sign_in_dialog: SignInDialog | None = None
        self.change_dialog: PasswordChangeDialog | None = None
        self.lock_screen: LockScreen | None = None
        self.practice_name = "Logiciel de gestion de cabinet"
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(lambda: self.lock("inactivite"))
        self.set_inactivity_minutes(services.accounts.options.inactivity_minutes)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    @property
    def demo_password(self) -> str:
        """The demo accounts' password (demo mode only)."""
        if not self._s.settings.is_demo:
            return ""
        from app.services.accounts import DEMO_PASSWORD

        return DEMO_PASSWORD

    def set_inactivity_minutes(self, minutes: float) -> None:
        """Lock after this many minutes without keyboard or mouse input."""
        self.timer.setInterval(max(1, int(minutes * 60_000)))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        """Any keyboard or mouse input restarts the inactivity countdown."""
        if event.type() in _INPUT_EVENTS and self.timer.isActive():
            self.timer.start()
        return False

    def is_locked(self) -> bool:
        """True while the lock screen or the sign-in dialog is shown."""
        return self.lock_screen is not None or self.sign_in_dialog is not None

    # -- sign-in --------------------------------------------------------------------------------------
    def start_watching(self) -> None:
        """Start the inactivity countdown (after a sign-in)."""
        self.timer.start()

    def request_sign_in(self) -> None:
        """Show the sign-in dialog (start-up in production, after a sign-out)."""
        self.timer.stop()
        self._conceal(True)
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.raise_()
            return
        dialog = SignInDialog(self.practice_name, demo_password=self.demo_password, parent=self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.submitted.connect(self._submit_sign_in)
        dialog.rejected.connect(self._sign_in_rejected)
        self.sign_in_dialog = dialog
        for extension in list(_EXTENSIONS):
            try:
                extension(dialog, self)
            except Exception:
                log.exception("A sign-in extension failed")
        dialog.open()
        dialog.login.setFocus()

    def _sign_in_rejected(self) -> None:
        self.sign_in_dialog = None
        if not self._s.current_user.is_set:
            self.quit_requested.emit()

    def _submit_sign_in(self, login: str, password: str) -> None:
        accounts = self._s.accounts
        self._tasks.submit(
            lambda: accounts.sign_in(login, password),
            lane=Lane.DB,
            on_success=lambda result: self._signed_in_result(result, password),
            on_error=self._sign_in_failed,
        )

    def _signed_in_result(self, result: SignInResult, password: str) -> None:
        if result.must_change_password:
            self._open_change(result.user.login, reason=result.reason_fr, current_password=password)
            return
        self.complete_sign_in(result.user)

    def _sign_in_failed(self, exc: BaseException) -> None:
        dialog = self.sign_in_dialog
        if dialog is not None and isinstance(exc, DomainError):
            dialog.show_error(exc.message_fr)
            return
        if dialog is not None:
            dialog.set_busy(False)
        self._presenter.present(exc, context="Connexion")

    def complete_sign_in(self, user: UserAccount) -> None:
        """The user is signed in (by password or another method): close the dialogs, show the window."""
        for dialog in (self.sign_in_dialog, self.change_dialog):
            if dialog is not None:
                dialog.done(QDialog.DialogCode.Accepted)
        self.sign_in_dialog = None
        self.change_dialog = None
        self._conceal(False)
        self.start_watching()
        log.info("Signed in through the dialog: %s", user.login)
        self.signed_in.emit(user)

    # -- password change ------------------------------------------------------------------------------
    def change_password(self) -> None:
        """Menu "Changer mon mot de passe…" for the signed-in user."""
        if not self._s.current_user.is_set:
            return
        self._open_change(self._s.current_user().login)

    def _open_change(self, login: str, *, reason: str = "", current_password: str | None = None) -> None:
        accounts = self._s.accounts

        def show(lines: list[str]) -> None:
            dialog = PasswordChangeDialog(
                login, lines, reason=reason, current_password=current_password, parent=self.window
            )
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.submitted.connect(lambda cur, new, conf: self._submit_change(login, cur, new, conf))
            dialog.rejected.connect(self._change_rejected)
            self.change_dialog = dialog
            dialog.open()
            (dialog.new if current_password is not None else dialog.current).setFocus()

        def failed(exc: BaseException) -> None:
            self._presenter.present(exc, context="Changement de mot de passe")

        self._tasks.submit(lambda: accounts.policy_lines(login), lane=Lane.DB, on_success=show, on_error=failed)

    def _change_rejected(self) -> None:
        self.change_dialog = None
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.show_error("Mot de passe à changer : la connexion n'a pas été ouverte.")

    def _submit_change(self, login: str, current: str, new: str, confirmation: str) -> None:
        accounts = self._s.accounts
        self._tasks.submit(
            lambda: accounts.change_password(login, current, new, confirmation),
            lane=Lane.DB,
            on_success=self._changed,
            on_error=self._change_failed,
        )

    def _changed(self, user: UserAccount) -> None:
        if self.sign_in_dialog is not None:
            self.complete_sign_in(user)
            return
        if self.change_dialog is not None:
            self.change_dialog.done(QDialog.DialogCode.Accepted)
            self.change_dialog = None
        self.window.statusBar().showMessage("Mot de passe changé.", 8000)

    def _change_failed(self, exc: BaseException) -> None:
        dialog = self.change_dialog
        if dialog is None:
            self._presenter.present(exc, context="Changement de mot de passe")
            return
        if isinstance(exc, SignInRefused) and not self._s.current_user.is_set and self.sign_in_dialog is None:
            dialog.done(QDialog.DialogCode.Rejected)
            self.request_sign_in()
            return
        if isinstance(exc, DomainError):
            text = exc.message_fr
            if isinstance(exc, InvalidInput):
                text = " ".join(exc.field_errors.values())
            dialog.show_error(text)
            return
        dialog.ok_button.setEnabled(True)
        self._presenter.present(exc, context="Changement de mot de passe")

    # -- lock and sign-out ----------------------------------------------------------------------------
    def lock(self, reason: str = "manuel") -> None:
        """Hide the window's content behind the lock screen (inactivity or Ctrl+L)."""
        if not self._s.current_user.is_set or self.is_locked():
            return
        self.timer.stop()
        user = self._s.current_user()
        self._conceal(True)
        screen = LockScreen(user, demo_password=self.demo_password, parent=self.window)
        screen.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        screen.unlock_requested.connect(self._submit_unlock)
        screen.switch_user_requested.connect(self.sign_out)
        self.lock_screen = screen
        screen.open()
        screen.password.setFocus()
        accounts = self._s.accounts
        self._tasks.submit(
            lambda: accounts.lock_session(reason),
            lane=Lane.DB,
            on_error=lambda exc: log.warning("Lock trace failed: %s", type(exc).__name__),
        )
        self.locked.emit()

    def _submit_unlock(self, password: str) -> None:
        accounts = self._s.accounts
        self._tasks.submit(
            lambda: accounts.unlock_session(password),
            lane=Lane.DB,
            on_success=self._unlocked,
            on_error=self._unlock_failed,
        )

    def _unlocked(self, _user: UserAccount) -> None:
        if self.lock_screen is not None:
            self.lock_screen.done(QDialog.DialogCode.Accepted)
            self.lock_screen = None
        self._conceal(False)
        self.start_watching()

    def _unlock_failed(self, exc: BaseException) -> None:
        screen = self.lock_screen
        if not self._s.current_user.is_set:  # locked out: back to the sign-in dialog
            if screen is not None:
                screen.done(QDialog.DialogCode.Rejected)
                self.lock_screen = None
            self.signed_out.emit()
            self.request_sign_in()
            if self.sign_in_dialog is not None and isinstance(exc, DomainError):
                self.sign_in_dialog.show_error(exc.message_fr)
            return
        if screen is not None and isinstance(exc, DomainError):
            screen.show_error(
                exc.message_fr.replace("Identifiant ou mot de passe incorrect.", "Mot de passe incorrect.")
            )
            return
        self._presenter.present(exc, context="Déverrouillage")

    def sign_out(self) -> None:
        """Menu "Se déconnecter" (or "Changer d'utilisateur" on the lock screen): traced, then sign-in dialog."""
        accounts = self._s.accounts
        self.timer.stop()
        self._conceal(True)
        if self.lock_screen is not None:
            self.lock_screen.done(QDialog.DialogCode.Accepted)
            self.lock_screen = None

        def done(_result: object = None) -> None:
            self.signed_out.emit()
            self.request_sign_in()

        self._tasks.submit(accounts.sign_out, lane=Lane.DB, on_success=done, on_error=lambda exc: done())

    def _conceal(self, hidden: bool) -> None:
        """Hide patient data while nobody is signed in or the session is locked."""
        central = self.window.centralWidget()
        if central is not None:
            central.setVisible(not hidden)
        self.window.menuBar().setEnabled(not hidden)
        for bar in self.window.findChildren(QToolBar):
            bar.setEnabled(not hidden)
        for dock in self.window.findChildren(QDockWidget):
            content = dock.widget()
            if content is not None:
                content.setVisible(not hidden)
