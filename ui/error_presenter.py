"""Turns errors into French messages with what to do next, and shows them without blocking the event loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QMessageBox, QWidget

from domain.errors import (
    AuthenticationRequired,
    ConflictError,
    DeviceUnavailable,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RemoteServiceError,
    SecretStoreUnavailable,
    StorageError,
)

log = logging.getLogger("lgc.ui")

GENERIC_MESSAGE = "Une erreur inattendue est survenue. Elle a été enregistrée dans le journal technique du logiciel."
GENERIC_ACTION = (
    "Réessayez. Si l'erreur se reproduit, redémarrez le logiciel et transmettez le journal (lgc.log) "
    "à votre assistance."
)


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """What the user reads about an error.

    Attributes:
        title: window title / heading.
        text: what happened, in French.
        action: what to do now, in French.
        retryable: trying the same thing again may work.
        expected: a declared error (False: a bug, logged with its traceback).
    """

    title: str
    text: str
    action: str
    retryable: bool = False
    expected: bool = True

    @property
    def full_text(self) -> str:
        """The message and the action, as one paragraph each."""
        return f"{self.text}\n\n{self.action}" if self.action else self.text


def describe_error(exc: BaseException) -> ErrorMessage:
    """Translate an exception into an ``ErrorMessage`` (pure function: no logging, no widget)."""
    if isinstance(exc, InvalidInput):
        return ErrorMessage("Saisie à corriger", exc.message_fr, "Corrigez les champs signalés puis recommencez.")
    if isinstance(exc, PermissionDenied):
        return ErrorMessage(
            "Action non autorisée",
            exc.message_fr,
            "Demandez à un administrateur du cabinet de faire cette modification.",
        )
    if isinstance(exc, ConflictError):
        return ErrorMessage(
            "Dossier modifié sur un autre poste",
            exc.message_fr,
            "Rouvrez le dossier pour voir sa dernière version, puis refaites votre modification.",
            retryable=True,
        )
    if isinstance(exc, NotFound):
        return ErrorMessage("Élément introuvable", exc.message_fr, "Actualisez la liste : il a peut-être été supprimé.")
    if isinstance(exc, AuthenticationRequired):
        return ErrorMessage(
            "Connexion nécessaire",
            exc.message_fr,
            "Connectez-vous (carte CPS, e-CPS ou Pro Santé Connect), puis recommencez.",
            retryable=True,
        )
    if isinstance(exc, DeviceUnavailable):
        return ErrorMessage(
            "Lecteur indisponible",
            exc.message_fr,
            "Vérifiez que le lecteur est branché et que la carte est bien insérée, puis réessayez.",
            retryable=True,
        )
    if isinstance(exc, RemoteServiceError):
        if exc.retryable:
            action = (
                "Réessayez dans quelques instants. Le travail sur le poste continue : ce qui doit être "
                "envoyé le sera quand le service répondra."
            )
        else:
            action = "Vérifiez la configuration du service (adresse, certificat) ou contactez votre assistance."
        return ErrorMessage("Service national indisponible", exc.message_fr, action, retryable=exc.retryable)
    if isinstance(exc, StorageError):
        if exc.retryable:
            action = "La base est peut-être occupée par un autre poste : réessayez dans un instant."
        else:
            action = (
                "Aucune donnée n'a été perdue. Vérifiez l'espace disque et les droits du dossier de données, "
                "ou restaurez la dernière sauvegarde ; contactez votre assistance si besoin."
            )
        return ErrorMessage("Base de données indisponible", exc.message_fr, action, retryable=exc.retryable)
    if isinstance(exc, SecretStoreUnavailable):
        return ErrorMessage(
            "Coffre-fort de mots de passe indisponible",
            exc.message_fr,
            "Installez ou déverrouillez le trousseau de mots de passe du système, puis réessayez.",
            retryable=True,
        )
    if isinstance(exc, DomainError):
        return ErrorMessage("Opération impossible", exc.message_fr, "", retryable=False)
    return ErrorMessage("Erreur inattendue", GENERIC_MESSAGE, GENERIC_ACTION, retryable=True, expected=False)


class ErrorPresenter:
    """Shows errors to the user as non-blocking message boxes (``open()``, never ``exec()``)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self._parent = parent
        self.last_box: QMessageBox | None = None

    def handler(self, context: str, retry: Callable[[], None] | None = None) -> Callable[[BaseException], None]:
        """An ``on_error`` callback for the task runner that presents the error with this context (and retry)."""

        def show(exc: BaseException) -> None:
            self.present(exc, context=context, retry=retry)

        return show

    def present(
        self,
        exc: BaseException,
        *,
        context: str = "",
        retry: Callable[[], None] | None = None,
        parent: QWidget | None = None,
    ) -> ErrorMessage:
        """Log ``exc`` and show its French message; offer "Réessayer" when ``retry`` is given and useful.

        Args:
            exc: the error.
            context: what the user was doing, in French ("Enregistrement du patient"), shown as heading.
            retry: called when the user clicks "Réessayer".
            parent: the window the message belongs to (defaults to the presenter's).

        Returns:
            The message shown.
        """
        message = describe_error(exc)
        if message.expected:
            log.info("%s: %s", type(exc).__name__, context or message.title)
        else:
            log.error("Unexpected error (%s)", context or "no context", exc_info=exc)
        box = QMessageBox(parent or self._parent)
        box.setIcon(QMessageBox.Icon.Warning if message.expected else QMessageBox.Icon.Critical)
        box.setWindowTitle(message.title)
        box.setText(f"<b>{_escape(context)}</b>" if context else f"<b>{_escape(message.title)}</b>")
        box.setInformativeText(_escape(message.full_text).replace("\n", "<br>"))
        retry_button = None
        if retry is not None and message.retryable:
            retry_button = box.addButton("Réessayer", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Fermer", QMessageBox.ButtonRole.RejectRole)

        def finished() -> None:
            if retry_button is not None and box.clickedButton() is retry_button and retry is not None:
                retry()
            box.deleteLater()

        box.finished.connect(finished)
        self.last_box = box
        box.open()
        return message


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
