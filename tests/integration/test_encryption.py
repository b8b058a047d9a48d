"""Encryption at rest of the embedded store (SQLCipher, raw key in the OS credential store): a new production
store, ``lgc db encrypt`` of an existing plain store with a verified backup first, wrong or missing key.
PostgreSQL is not affected (the server's storage encryption applies)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.db.database import open_database
from adapters.db.encryption import PLAIN_HEADER, encrypt_file, load_key, marker_path
from app.bootstrap import ENCRYPTED_TEXT, NO_STORE_TEXT, SERVER_TEXT, build
from app.settings import load_settings
from domain.errors import SecretStoreUnavailable, StorageError

ROOT = Path(__file__).resolve().parents[2]


class MemorySecrets:
    def __init__(self) -> None:
        self.items: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.items.get(name)

    def set(self, name: str, value: str) -> None:
        self.items[name] = value

    def delete(self, name: str) -> None:
        self.items.pop(name, None)


class NoSecrets(MemorySecrets):
    def get(self, name: str) -> str | None:
        raise SecretStoreUnavailable("aucun trousseau")

    def set(self, name: str, value: str) -> None:
        raise SecretStoreUnavailable("aucun trousseau")


def header(path: Path) -> bytes:
    return path.read_bytes()[:16]


def production_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "lgc.toml").write_text('[general]\nmode = "production"\n', encoding="utf-8")
    return data


def test_new_production_store_is_encrypted_with_a_key_from_the_credential_store(tmp_path: Path) -> None:
    secrets = MemorySecrets()
    settings = load_settings(production_dir(tmp_path))
    services = build(settings, secrets=secrets)
    try:
        services.demo.install_practice()
        assert services.encryption == ENCRYPTED_TEXT
    finally:
        services.close()
    db = settings.database_path
    assert header(db) != PLAIN_HEADER
    marker = json.loads(marker_path(db).read_text(encoding="utf-8"))
    key_hex = secrets.items[marker["cle"]]
    assert len(bytes.fromhex(key_hex)) == 32
    assert key_hex not in marker_path(db).read_text(encoding="utf-8")  # no key on disk
    # a backup before migration / lgc backup of an encrypted store is encrypted too
    services = build(settings, secrets=secrets)
    try:
        services.maintenance.backup(tmp_path / "copie.sqlite3")
        assert header(tmp_path / "copie.sqlite3") != PLAIN_HEADER
        assert services.traces.check().intact
    finally:
        services.close()
    # the wrong key, then no key: refused with a French message, file untouched
    before = db.read_bytes()
    secrets.items[marker["cle"]] = "00" * 32
    with pytest.raises(StorageError) as err:
        build(settings, secrets=secrets)
    assert "ne permet pas d'ouvrir" in err.value.message_fr
    del secrets.items[marker["cle"]]
    with pytest.raises(StorageError) as err:
        build(settings, secrets=secrets)
    assert "absente du trousseau" in err.value.message_fr
    with pytest.raises(StorageError) as err:
        build(settings, secrets=NoSecrets())
    assert "déverrouillez" in err.value.message_fr
    assert db.read_bytes() == before


def test_without_credential_store_a_new_store_stays_plain_with_a_clear_status(tmp_path: Path) -> None:
    settings = load_settings(production_dir(tmp_path))
    services = build(settings, secrets=NoSecrets())
    try:
        assert services.encryption == NO_STORE_TEXT
    finally:
        services.close()
    assert header(settings.database_path) == PLAIN_HEADER
    assert not marker_path(settings.database_path).exists()


def test_encrypt_file_keeps_every_row_and_refuses_twice(tmp_path: Path) -> None:
    db = tmp_path / "lgc.sqlite3"
    engine, _ = open_database(f"sqlite:///{db}")
    engine.dispose()
    secrets = MemorySecrets()
    encrypt_file(db, secrets)
    key = load_key(db, secrets)
    assert key is not None and header(db) != PLAIN_HEADER
    engine, outcome = open_database(f"sqlite:///{db}", key=key)
    engine.dispose()
    assert outcome.from_revision == outcome.to_revision  # already at head: nothing migrated
    with pytest.raises(StorageError):
        encrypt_file(db, secrets)


def test_postgresql_is_not_affected(postgres_url: str, tmp_path: Path) -> None:
    settings = load_settings(production_dir(tmp_path), postgres_url)
    services = build(settings, secrets=MemorySecrets())
    try:
        assert services.encryption == SERVER_TEXT
    finally:
        services.close()


def lgc(*args: str, data_dir: Path, keyring_file: Path | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PYTHON_KEYRING_BACKEND", None)
    if keyring_file is not None:
        env["PYTHON_KEYRING_BACKEND"] = "tests.file_keyring.TestFileKeyring"
        env["LGC_TEST_KEYRING_FILE"] = str(keyring_file)
    cmd = [sys.executable, "-m", "app.cli", *args, "--data-dir", str(data_dir)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False)


def test_lgc_db_encrypt_migrates_an_existing_plain_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    keyring_file = tmp_path / "trousseau.json"
    assert lgc("demo-data", "--patients", "40", data_dir=data, keyring_file=None).returncode == 0
    before = lgc("patients", "search", "", "--json", "--limit", "1000", data_dir=data, keyring_file=None).stdout
    out = lgc("db", "status", data_dir=data, keyring_file=None)
    assert "non chiffrée" in out.stdout
    out = lgc("db", "encrypt", data_dir=data, keyring_file=None)
    assert out.returncode == 2 and "aucun trousseau sécurisé" in out.stderr and "reste non chiffrée" in out.stderr
    assert header(data / "lgc.sqlite3") == PLAIN_HEADER

    out = lgc("db", "encrypt", data_dir=data, keyring_file=keyring_file)
    assert out.returncode == 0, out.stderr
    assert "NON chiffrée" in out.stdout
    assert header(data / "lgc.sqlite3") != PLAIN_HEADER
    backups = list((data / "sauvegardes").glob("avant-chiffrement-*.sqlite3"))
    assert len(backups) == 1 and header(backups[0]) == PLAIN_HEADER
    after = lgc("patients", "search", "", "--json", "--limit", "1000", data_dir=data, keyring_file=keyring_file)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == json.loads(before)
    out = lgc("audit", "verify", data_dir=data, keyring_file=keyring_file)
    assert out.returncode == 0 and "intègres" in out.stdout, out.stdout + out.stderr
    out = lgc("db", "status", data_dir=data, keyring_file=keyring_file)
    assert "base chiffrée" in out.stdout
    out = lgc("db", "encrypt", data_dir=data, keyring_file=keyring_file)
    assert out.returncode == 2 and "déjà chiffrée" in out.stderr
    # without the credential store the encrypted store cannot be opened, and says why
    out = lgc("patients", "search", "a", data_dir=data, keyring_file=None)
    assert out.returncode == 2 and "trousseau" in out.stderr
