"""SecretStore over the ``keyring`` library (Secret Service, macOS Keychain, Windows Credential Locker)."""

from __future__ import annotations

import logging
from typing import Any

from domain.errors import SecretStoreUnavailable

log = logging.getLogger("lgc.secrets")

SERVICE = "lgc"

NO_STORE_MESSAGE = (
    "Aucun coffre-fort de mots de passe n'est disponible sur ce poste (trousseau du système). "
    "LGC ne conserve jamais de secret en clair : installez ou déverrouillez le trousseau "
    "(par exemple gnome-keyring ou KWallet), puis réessayez."
)


class KeyringSecretStore:
    """Secrets stored under the service name ``lgc``; never in the TOML file or the database."""

    def __init__(self, service: str = SERVICE) -> None:
        self._service = service

    def get(self, name: str) -> str | None:
        """The secret, or None."""
        keyring, errors = _checked_keyring()
        try:
            value: str | None = keyring.get_password(self._service, name)
            return value
        except errors.KeyringError as exc:
            raise _unavailable(exc) from exc

    def set(self, name: str, value: str) -> None:
        """Store a secret."""
        keyring, errors = _checked_keyring()
        try:
            keyring.set_password(self._service, name, value)
        except errors.KeyringError as exc:
            raise _unavailable(exc) from exc
        log.info("Secret %s stored", name)

    def delete(self, name: str) -> None:
        """Forget a secret."""
        keyring, errors = _checked_keyring()
        try:
            keyring.delete_password(self._service, name)
        except errors.PasswordDeleteError:
            return
        except errors.KeyringError as exc:
            raise _unavailable(exc) from exc


def _keyring() -> tuple[Any, Any]:
    import keyring
    import keyring.errors

    backend = keyring.get_keyring()
    if "plaintext" in type(backend).__name__.lower():
        # keyrings.alt's PlaintextKeyring writes secrets in clear in a file: that is no credential store.
        raise keyring.errors.NoKeyringError(type(backend).__name__)
    return keyring, keyring.errors


def _checked_keyring() -> tuple[Any, Any]:
    import keyring.errors

    try:
        return _keyring()
    except keyring.errors.KeyringError as exc:
        raise _unavailable(exc) from exc


def _unavailable(exc: Exception) -> SecretStoreUnavailable:
    log.info("No usable credential store: %s", type(exc).__name__)
    return SecretStoreUnavailable(NO_STORE_MESSAGE)
