"""Secrets go to the OS credential store; a machine without one gets a clear French message."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends.fail import Keyring as FailKeyring

from adapters.secrets.keyring_store import KeyringSecretStore
from app.bootstrap import DATABASE_PASSWORD_SECRET, database_url_with_secret
from domain.errors import SecretStoreUnavailable


class MemoryKeyring(KeyringBackend):
    """A credential store in memory, for tests."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if self.items.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def test_round_trip_in_the_credential_store(memory_keyring: MemoryKeyring) -> None:
    store = KeyringSecretStore()
    assert store.get("jeton") is None
    store.set("jeton", "s3cr3t")
    assert memory_keyring.items == {("lgc", "jeton"): "s3cr3t"}
    assert store.get("jeton") == "s3cr3t"
    store.delete("jeton")
    store.delete("jeton")  # absent: no error
    assert store.get("jeton") is None


def test_no_credential_store_is_a_clear_french_message() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())
    try:
        with pytest.raises(SecretStoreUnavailable) as info:
            KeyringSecretStore().set("jeton", "x")
        assert "coffre-fort" in info.value.message_fr and "en clair" in info.value.message_fr
    finally:
        keyring.set_keyring(previous)


def test_postgresql_password_comes_from_the_credential_store(memory_keyring: MemoryKeyring) -> None:
    store = KeyringSecretStore()
    url = "postgresql+psycopg://lgc@serveur/lgc"
    assert database_url_with_secret(url, store) == url
    store.set(DATABASE_PASSWORD_SECRET, "p@ss:word")
    with_password = database_url_with_secret(url, store)
    assert with_password == "postgresql+psycopg://lgc:p%40ss%3Aword@serveur/lgc"
    assert database_url_with_secret("sqlite:///x.sqlite3", store) == "sqlite:///x.sqlite3"


def test_a_plaintext_file_keyring_is_not_a_credential_store() -> None:
    class PlaintextKeyring(MemoryKeyring):
        """Stands for keyrings.alt's PlaintextKeyring (secrets in clear in a file)."""

    previous = keyring.get_keyring()
    keyring.set_keyring(PlaintextKeyring())
    try:
        with pytest.raises(SecretStoreUnavailable):
            KeyringSecretStore().get("jeton")
    finally:
        keyring.set_keyring(previous)
