"""Backup and restore of the store: SQLite online backup API, pg_dump/pg_restore for PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import Engine, make_url

from adapters.db.database import backup_sqlite, known_revisions, sqlite_path
from adapters.db.encryption import connect as connect_sqlite
from adapters.db.encryption import database_errors, is_plain_sqlite
from domain.errors import InvalidInput, StorageError

log = logging.getLogger("lgc.db")


class SqliteMaintenance:
    """Backup/restore of the embedded SQLite store."""

    def __init__(self, engine: Engine, path: Path, key: bytes | None = None) -> None:
        self._engine = engine
        self._path = path
        self._key = key  # SQLCipher key of an encrypted store: backups are encrypted with it (issue 7)

    def backup(self, destination: Path) -> Path:
        """Consistent copy of the live database, checked (integrity_check) before it is kept."""
        if destination.exists() and destination.is_dir():
            raise InvalidInput("La sauvegarde doit être un fichier, pas un dossier.")
        return backup_sqlite(self._path, destination, self._key)

    def restore(self, source: Path) -> Path:
        """Replace the store with a backup; the current store is kept aside first.

        Returns:
            Where the previous store was kept.

        Raises:
            InvalidInput: the file is not an LGC backup or comes from a newer version.
        """
        _check_sqlite_backup(source, self._key)
        self._engine.dispose()
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        kept = self._path.with_name(f"{self._path.stem}-avant-restauration-{stamp}.sqlite3")
        if self._path.exists():
            backup_sqlite(self._path, kept, self._key)
        tmp = self._path.with_suffix(".restoring")
        shutil.copyfile(source, tmp)
        for suffix in ("-wal", "-shm"):
            Path(str(self._path) + suffix).unlink(missing_ok=True)
        tmp.replace(self._path)
        log.info("Database restored from %s (previous kept in %s)", source, kept)
        return kept


def _check_sqlite_backup(source: Path, key: bytes | None = None) -> None:
    if not source.is_file():
        raise InvalidInput(f"Fichier de sauvegarde introuvable : {source}")
    encrypted = key is not None and not is_plain_sqlite(source)
    if key is not None and is_plain_sqlite(source):
        raise InvalidInput(
            f"{source} est une sauvegarde non chiffrée alors que la base de ce poste est chiffrée : restaurez une "
            "sauvegarde chiffrée (lgc backup) ; rien n'a été modifié."
        )
    try:
        conn = connect_sqlite(f"file:{source}?mode=ro", key if encrypted else None, uri=True)
        try:
            check = conn.execute("PRAGMA integrity_check").fetchone()
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except database_errors() as exc:
        raise InvalidInput(f"{source} n'est pas une sauvegarde LGC lisible ({exc}).") from exc
    if not check or check[0] != "ok":
        raise InvalidInput(f"La sauvegarde {source} est endommagée : restauration refusée.")
    if not row or row[0] not in known_revisions():
        raise InvalidInput(
            f"La sauvegarde {source} vient d'une version plus récente de LGC (schéma {row[0] if row else '?'}) : "
            "restauration refusée."
        )


class PostgresMaintenance:
    """Backup/restore of a PostgreSQL store with pg_dump / pg_restore (custom format)."""

    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self._url = make_url(url)

    def _args(self) -> tuple[list[str], dict[str, str]]:
        u = self._url
        args = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]
        env = {"PGPASSWORD": u.password} if u.password else {}
        return args, env

    def backup(self, destination: Path) -> Path:
        """pg_dump in custom format."""
        args, env = self._args()
        self._run(["pg_dump", "-Fc", *args, "-f", str(destination), self._url.database or "lgc"], env)
        return destination

    def restore(self, source: Path) -> Path:
        """pg_restore --clean into the configured database."""
        if not source.is_file():
            raise InvalidInput(f"Fichier de sauvegarde introuvable : {source}")
        self._engine.dispose()
        args, env = self._args()
        self._run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                *args,
                "-d",
                self._url.database or "lgc",
                str(source),
            ],
            env,
        )
        return source

    @staticmethod
    def _run(cmd: list[str], env_extra: dict[str, str]) -> None:
        import os

        if shutil.which(cmd[0]) is None:
            raise StorageError(f"{cmd[0]} est introuvable : installez le client PostgreSQL.")
        result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env_extra}, check=False)
        if result.returncode != 0:
            raise StorageError(f"{cmd[0]} a échoué : {result.stderr.strip()[:500]}")


def maintenance_for(engine: Engine, url: str, key: bytes | None = None) -> SqliteMaintenance | PostgresMaintenance:
    """The maintenance adapter for this store (``key``: SQLCipher key of an encrypted SQLite store)."""
    path = sqlite_path(url)
    if path is not None:
        return SqliteMaintenance(engine, path, key)
    return PostgresMaintenance(engine, url)
