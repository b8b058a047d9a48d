"""Encryption at rest of the embedded store: SQLCipher 4 (AES-256) with a raw 256-bit key kept in the OS
credential store, never on disk; a marker file next to the database names the key (it holds no secret)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets as random_secrets
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from domain.errors import SecretStoreUnavailable, StorageError
from domain.ports import SecretStore

log = logging.getLogger("lgc.db")

MARKER_SUFFIX = ".chiffrement.json"
KEY_SECRET_PREFIX = "base-de-donnees-cle-"  # noqa: S105 - prefix of a secret's name
KEY_BYTES = 32
PLAIN_HEADER = b"SQLite format 3\x00"

NO_STORE_FOR_KEY = (
    "Chiffrement impossible : aucun trousseau sécurisé du système n'est disponible pour conserver la clé "
    "(LGC n'écrit jamais de clé en clair sur le disque). Installez ou déverrouillez le trousseau "
    "(gnome-keyring, KWallet, trousseau macOS ou Windows) puis recommencez. La base reste non chiffrée."
)


def marker_path(database: Path) -> Path:
    """The file that says a database is encrypted and which credential-store entry holds its key."""
    return database.with_name(database.name + MARKER_SUFFIX)


def is_plain_sqlite(database: Path) -> bool:
    """True when the file starts with the plain SQLite header (an encrypted file looks random)."""
    with database.open("rb") as handle:
        return handle.read(16) == PLAIN_HEADER


def key_pragma(key: bytes) -> str:
    """``PRAGMA key`` with a raw key (no key derivation: opening costs ~9 ms instead of ~145 ms)."""
    return f"PRAGMA key = \"x'{key.hex()}'\""


def connect(target: str, key: bytes | None, *, uri: bool = False, timeout: float = 5.0) -> Any:
    """A DB-API connection to an SQLite file: the standard module, or SQLCipher keyed with ``key``.

    Raises:
        sqlite3.DatabaseError or sqlcipher3.dbapi2.DatabaseError: as the module raises them.
    """
    if key is None:
        return sqlite3.connect(target, uri=uri, timeout=timeout)
    from sqlcipher3 import dbapi2

    conn = dbapi2.connect(target, uri=uri, timeout=timeout)
    conn.execute(key_pragma(key))
    return conn


def database_errors() -> tuple[type[Exception], ...]:
    """The DatabaseError classes of both modules (so callers catch either)."""
    try:
        from sqlcipher3 import dbapi2
    except ImportError:  # pragma: no cover - sqlcipher3 is a dependency
        return (sqlite3.DatabaseError,)
    return (sqlite3.DatabaseError, dbapi2.DatabaseError)


def load_key(database: Path, secrets: SecretStore) -> bytes | None:
    """The key of an encrypted store (None when the store is not encrypted).

    Raises:
        StorageError: the store is encrypted but its key cannot be read (French message; nothing changed).
    """
    marker = marker_path(database)
    if not marker.exists():
        return None
    if database.exists() and database.stat().st_size > 0 and is_plain_sqlite(database):
        log.warning("Encryption marker present but %s is a plain SQLite file: opened as plain", database)
        return None
    try:
        name = str(json.loads(marker.read_text(encoding="utf-8"))["cle"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"Le fichier {marker} est illisible : la clé de la base chiffrée est introuvable.") from exc
    try:
        value = secrets.get(name)
    except SecretStoreUnavailable as exc:
        raise StorageError(
            "La base de données est chiffrée et sa clé est dans le trousseau du système, qui n'est pas "
            "disponible : déverrouillez la session ou le trousseau, puis relancez LGC. Rien n'a été modifié."
        ) from exc
    if not value:
        raise StorageError(
            f"La base de données est chiffrée mais sa clé (« {name} ») est absente du trousseau de ce poste. "
            "Restaurez le trousseau ou une sauvegarde. Rien n'a été modifié."
        )
    try:
        key = bytes.fromhex(value)
    except ValueError as exc:
        raise StorageError(f"La clé « {name} » du trousseau est invalide. Rien n'a été modifié.") from exc
    if len(key) != KEY_BYTES:
        raise StorageError(f"La clé « {name} » du trousseau n'a pas la bonne longueur. Rien n'a été modifié.")
    return key


def new_key(database: Path, secrets: SecretStore) -> bytes:
    """Create a random key, store it in the credential store, then write the marker (no secret in it).

    Raises:
        SecretStoreUnavailable: no secure credential store (French message saying the store stays plain).
    """
    name = KEY_SECRET_PREFIX + uuid.uuid4().hex[:16]
    key = random_secrets.token_bytes(KEY_BYTES)
    try:
        secrets.set(name, key.hex())
        if secrets.get(name) != key.hex():
            raise SecretStoreUnavailable(NO_STORE_FOR_KEY)
    except SecretStoreUnavailable as exc:
        raise SecretStoreUnavailable(NO_STORE_FOR_KEY) from exc
    marker = marker_path(database)
    tmp = marker.with_name(marker.name + ".partial")
    tmp.write_text(
        json.dumps(
            {
                "cle": name,
                "algorithme": "SQLCipher 4 (AES-256, HMAC-SHA512), clé brute de 256 bits",
                "cree_le": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    os.replace(tmp, marker)
    return key


def _table_counts(conn: Any) -> dict[str, int]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]) for name in names}  # noqa: S608


def encrypt_file(database: Path, secrets: SecretStore) -> None:
    """Encrypt a plain SQLite store in place (the caller closed every connection and made a backup).

    Steps: key into the credential store; encrypted copy with ``sqlcipher_export``; the copy checked (integrity
    and the row count of every table); the marker written; the copy replaces the plain file.

    Raises:
        SecretStoreUnavailable: no credential store (the store stays plain).
        StorageError: the copy does not check out (the plain store is untouched).
    """
    if not database.exists() or not is_plain_sqlite(database):
        raise StorageError(f"{database} n'est pas une base SQLite non chiffrée : rien n'a été modifié.")
    from sqlcipher3 import dbapi2

    encrypted = database.with_name(database.name + ".chiffrement-en-cours")
    encrypted.unlink(missing_ok=True)
    plain = dbapi2.connect(str(database))
    try:
        plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        expected = _table_counts(plain)
        user_version = int(plain.execute("PRAGMA user_version").fetchone()[0])
    finally:
        plain.close()
    key = new_key(database, secrets)
    marker = marker_path(database)
    try:
        conn = dbapi2.connect(str(database))
        try:
            conn.execute(f"ATTACH DATABASE ? AS encrypted KEY \"x'{key.hex()}'\"", (str(encrypted),))
            conn.execute("SELECT sqlcipher_export('encrypted')")
            conn.execute(f"PRAGMA encrypted.user_version = {user_version}")
            conn.execute("DETACH DATABASE encrypted")
        finally:
            conn.close()
        check = connect(str(encrypted), key)
        try:
            integrity = check.execute("PRAGMA integrity_check").fetchone()
            counts = _table_counts(check)
        finally:
            check.close()
        if not integrity or integrity[0] != "ok" or counts != expected:
            raise StorageError("La copie chiffrée ne correspond pas à la base d'origine : rien n'a été modifié.")
        if is_plain_sqlite(encrypted):
            raise StorageError("La copie n'est pas chiffrée : rien n'a été modifié.")
    except BaseException:
        encrypted.unlink(missing_ok=True)
        marker.unlink(missing_ok=True)
        raise
    for suffix in ("-wal", "-shm"):
        Path(str(database) + suffix).unlink(missing_ok=True)
    os.replace(encrypted, database)
    log.info("Database %s encrypted (SQLCipher)", database)
