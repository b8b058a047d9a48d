"""Opening the store: engine and pragmas, migrations at start-up after a backup copy, clear failures."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError

from adapters.db.encryption import connect as connect_sqlite
from adapters.db.encryption import database_errors, key_pragma
from domain.errors import StorageError

log = logging.getLogger("lgc.db")

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


@dataclass(frozen=True, slots=True)
class MigrationOutcome:
    """What ``open_database`` did."""

    backup_path: Path | None
    from_revision: str | None
    to_revision: str


def is_sqlite(url: str) -> bool:
    """True for an SQLite URL."""
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The file behind an SQLite URL (None for in-memory)."""
    if not is_sqlite(url):
        return None
    path = url.split("///", 1)[1] if "///" in url else ""
    return Path(path) if path and path != ":memory:" else None


def make_engine(url: str, *, read_only: bool = False, key: bytes | None = None) -> Engine:
    """Create the engine with the pragmas health data needs (WAL, synchronous=FULL, foreign keys).

    ``key``: the raw 256-bit key of an SQLCipher-encrypted SQLite file (issue 7); the driver is then sqlcipher3.
    """
    if is_sqlite(url):
        extra: dict[str, Any] = {}
        if key is not None:
            from sqlcipher3 import dbapi2 as sqlcipher_dbapi

            extra["module"] = sqlcipher_dbapi
        engine = create_engine(
            url,
            connect_args={"timeout": 5.0, "check_same_thread": False},
            pool_pre_ping=False,
            **extra,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own transaction handling emits BEGIN lazily; let SQLAlchemy drive it instead so
            # that SAVEPOINT and batch migrations behave (SQLAlchemy docs, "Serializable isolation").
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            if key is not None:
                cursor.execute(key_pragma(key))  # first statement on an SQLCipher connection
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            if not read_only:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA cache_size=-16000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # IMMEDIATE: a deferred transaction that reads then writes gets SQLITE_BUSY at once (no busy wait)
            # when another connection committed in between, which surfaced as "database is locked" when the
            # UI's lanes wrote concurrently. Taking the write lock at BEGIN lets busy_timeout do its job.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def close_engine(engine: Engine) -> None:
    """Release the store; on SQLite let it refresh its planner statistics first (cheap, recommended)."""
    if engine.dialect.name == "sqlite":
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA optimize")
        except SQLAlchemyError:
            log.warning("PRAGMA optimize failed at close", exc_info=True)
    engine.dispose()


def alembic_config(connection: Connection | None = None) -> Any:
    """Alembic configuration built in code (no alembic.ini needed at run time)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


SCHEMA_HEAD = "0010"
"""The newest migration of this build, kept as a constant so that a normal start-up (store already at head)
does not import alembic (~110 ms). tests/integration/test_store.py checks it against the migration scripts."""


def head_revision() -> str:
    """The newest migration this build knows."""
    return SCHEMA_HEAD


def scripted_head_revision() -> str:
    """The head according to alembic's migration scripts (the source of truth SCHEMA_HEAD must match)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    """Every migration this build knows."""
    from alembic.script import ScriptDirectory

    return {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the store (None for a new store)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return row[0] if row else None


def check_sqlite_file(path: Path, key: bytes | None = None) -> None:
    """Refuse a file that is not a readable, writable, intact SQLite database.

    Raises:
        StorageError: with a French message saying what is wrong and that nothing was changed.
    """
    if not path.exists():
        if not path.parent.exists() or not _writable_dir(path.parent):
            raise StorageError(f"Le dossier de données {path.parent} n'est pas accessible en écriture.")
        return
    with path.open("rb") as handle:
        header = handle.read(16)
    if header and header != b"SQLite format 3\x00" and key is None:
        raise StorageError(
            f"Le fichier {path} n'est pas une base LGC (fichier endommagé ou d'un autre logiciel). "
            "Il n'a pas été modifié : restaurez une sauvegarde (lgc restore)."
        )
    if not _writable(path) or not _writable_dir(path.parent):
        raise StorageError(
            f"La base {path} est en lecture seule : vérifiez les droits du fichier et du dossier. Rien n'a été modifié."
        )
    try:
        conn = connect_sqlite(f"file:{path}?mode=ro", key if header else None, uri=True, timeout=2.0)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()
        finally:
            conn.close()
    except database_errors() as exc:
        if key is not None and "not a database" in str(exc).lower():
            raise StorageError(
                f"La clé de chiffrement du trousseau ne permet pas d'ouvrir la base {path} (mauvaise clé ou "
                "fichier endommagé). Elle n'a pas été modifiée : restaurez le trousseau ou une sauvegarde."
            ) from exc
        raise _translate_sqlite(exc, path) from exc
    if not result or result[0] != "ok":
        raise StorageError(
            f"La base {path} est endommagée ({result[0] if result else 'contrôle impossible'}). "
            "Elle n'a pas été modifiée : restaurez la dernière sauvegarde (lgc restore)."
        )


def _translate_sqlite(exc: Exception, path: Path) -> StorageError:
    message = str(exc).lower()
    if "locked" in message or "busy" in message:
        return StorageError(
            f"La base {path} est verrouillée par un autre programme (une autre instance de LGC ?). "
            "Fermez-le puis réessayez.",
            retryable=True,
        )
    if "readonly" in message or "read-only" in message:
        return StorageError(f"La base {path} est en lecture seule : rien n'a été modifié.")
    return StorageError(
        f"La base {path} est illisible ou endommagée ({exc}). Elle n'a pas été modifiée : "
        "restaurez une sauvegarde (lgc restore)."
    )


def _writable(path: Path) -> bool:
    import os

    return os.access(path, os.W_OK)


def _writable_dir(path: Path) -> bool:
    import os

    return os.access(path, os.W_OK | os.X_OK)


def backup_sqlite(source: Path, destination: Path, key: bytes | None = None) -> Path:
    """Copy a live SQLite database with the online backup API (consistent even while in use).

    An encrypted store (``key``) gives a backup encrypted with the same key.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_suffix(destination.suffix + ".partial")
    src = connect_sqlite(f"file:{source}?mode=ro", key, uri=True, timeout=10.0)
    try:
        dst = connect_sqlite(str(tmp), key)
        try:
            src.backup(dst)
            check = dst.execute("PRAGMA integrity_check").fetchone()
        finally:
            dst.close()
    finally:
        src.close()
    if not check or check[0] != "ok":
        tmp.unlink(missing_ok=True)
        raise StorageError("La copie de sauvegarde est incohérente ; la base d'origine est intacte.")
    tmp.replace(destination)
    return destination


def prune_backups(directory: Path, keep: int) -> None:
    """Keep the ``keep`` most recent automatic backups."""
    backups = sorted(directory.glob("avant-migration-*.sqlite3"))
    for old in backups[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)


def open_database(
    url: str, *, backup_dir: Path | None = None, backup_keep: int = 10, key: bytes | None = None
) -> tuple[Engine, MigrationOutcome]:
    """Open (and create or migrate) the store.

    SQLite: the file is checked first; before any migration of an existing file a backup copy is made.
    A store from a newer version of LGC is refused, never downgraded.

    Raises:
        StorageError: corrupt, locked, read-only, unreachable or newer store (French message, nothing lost).
    """
    path = sqlite_path(url)
    existed = False
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        check_sqlite_file(path, key)
        existed = path.exists() and path.stat().st_size > 0
    engine = make_engine(url, key=key)
    try:
        current = current_revision(engine)
        head = head_revision()
        if current is not None and current != head and current not in known_revisions():
            raise StorageError(
                f"Cette base a été créée par une version plus récente de LGC (schéma {current}). "
                "Installez cette version plus récente : la base n'a pas été modifiée."
            )
        backup_path: Path | None = None
        if current != head:
            if path is not None and existed and backup_dir is not None:
                stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
                backup_path = backup_sqlite(path, backup_dir / f"avant-migration-{stamp}.sqlite3", key)
                prune_backups(backup_dir, backup_keep)
                log.info("Backup before migration: %s", backup_path)
            upgrade(engine)
            log.info("Database migrated from %s to %s", current, head)
        return engine, MigrationOutcome(backup_path=backup_path, from_revision=current, to_revision=head)
    except StorageError:
        engine.dispose()
        raise
    except (OperationalError, DatabaseError) as exc:
        engine.dispose()
        if path is not None:
            raise _translate_sqlite(exc, path) from exc
        raise StorageError(
            f"Le serveur de base de données ne répond pas ou refuse la connexion : {exc.orig}", retryable=True
        ) from exc
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StorageError(f"Ouverture de la base impossible : {exc}") from exc


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations on the application's own connection."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)
