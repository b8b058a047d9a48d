"""A store that is corrupt, locked, read-only or from a newer version: clear message, nothing lost."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from adapters.db.database import head_revision, open_database
from domain.errors import StorageError


def _new_store(path: Path) -> None:
    engine, _ = open_database(f"sqlite:///{path}")
    engine.dispose()


def test_corrupt_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "lgc.sqlite3"
    path.write_bytes(b"ceci n'est pas une base" * 100)
    before = path.read_bytes()
    with pytest.raises(StorageError) as info:
        open_database(f"sqlite:///{path}")
    assert "n'est pas une base LGC" in info.value.message_fr
    assert path.read_bytes() == before


def test_damaged_pages_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "lgc.sqlite3"
    _new_store(path)
    data = bytearray(path.read_bytes())
    # keep the header, scribble over the schema page
    data[100:1200] = b"\xff" * 1100
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError) as info:
        open_database(f"sqlite:///{path}")
    assert "endommagée" in info.value.message_fr or "illisible" in info.value.message_fr


def test_read_only_store_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lgc.sqlite3"
    _new_store(path)
    # Running as root ignores permission bits, so the check is exercised through os.access.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == path else real_access(p, mode))
    with pytest.raises(StorageError) as info:
        open_database(f"sqlite:///{path}")
    assert "lecture seule" in info.value.message_fr


def test_locked_store_says_so(tmp_path: Path) -> None:
    path = tmp_path / "lgc.sqlite3"
    _new_store(path)
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError) as info:
            open_database(f"sqlite:///{path}")
        assert "verrouillée" in info.value.message_fr
        assert info.value.retryable
    finally:
        holder.rollback()
        holder.close()


def test_store_from_a_newer_version_is_never_downgraded(tmp_path: Path) -> None:
    path = tmp_path / "lgc.sqlite3"
    _new_store(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError) as info:
        open_database(f"sqlite:///{path}")
    assert "version plus récente" in info.value.message_fr
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "9999_future"
    conn.close()


def test_backup_copy_is_made_before_migrating_an_existing_store(tmp_path: Path) -> None:
    path = tmp_path / "lgc.sqlite3"
    _new_store(path)
    # Simulate a store left by an older version: downgrade the recorded revision to "before 0001".
    from alembic import command

    from adapters.db.database import alembic_config, make_engine

    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
        conn.exec_driver_sql("CREATE TABLE precious (x TEXT)")
        conn.exec_driver_sql("INSERT INTO precious VALUES ('données')")
    engine.dispose()
    backups = tmp_path / "sauvegardes"
    engine, outcome = open_database(f"sqlite:///{path}", backup_dir=backups)
    engine.dispose()
    assert outcome.to_revision == head_revision()
    assert outcome.backup_path is not None and outcome.backup_path.parent == backups
    copy = sqlite3.connect(outcome.backup_path)
    assert copy.execute("SELECT x FROM precious").fetchone() == ("données",)
    copy.close()


def test_unreachable_postgresql_server(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StorageError) as info:
        open_database(f"postgresql+psycopg://lgc@127.0.0.1:{port}/lgc?connect_timeout=2")
    assert "serveur de base de données" in info.value.message_fr
    assert info.value.retryable
