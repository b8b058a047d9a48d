"""The traces' chain anchor kept outside the database: a small JSON file, sealed with an HMAC key from the OS
credential store when one exists, so that removing traces at the end of the chain does not go unnoticed."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets as random_secrets
import threading
from pathlib import Path

from domain.audit import ChainAnchor
from domain.errors import SecretStoreUnavailable, StorageError
from domain.ports import SecretStore

log = logging.getLogger("lgc.audit")

ANCHOR_KEY_SECRET = "traces-ancre-cle"  # noqa: S105 - the name of the secret, not a secret


def anchor_path_for(database_url: str, data_dir: Path) -> Path:
    """Where the anchor of this store lives: next to an SQLite file, else in the data directory."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = Path(url.database)
        return database.with_name(database.name + ".ancre-traces.json")
    safe = url.set(password=None).render_as_string(hide_password=True)
    digest = hashlib.sha256(safe.encode("utf-8")).hexdigest()[:16]
    return data_dir / f"ancre-traces-{digest}.json"


class FileAuditAnchor:
    """AuditAnchorStore in a JSON file; the anchor only moves forward (except ``reset`` after a restore).

    Args:
        path: the anchor file.
        secrets: the OS credential store holding the sealing key (None or unavailable: the file is not sealed).
    """

    def __init__(self, path: Path, secrets: SecretStore | None = None) -> None:
        self._path = path
        self._secrets = secrets
        self._key: bytes | None = None
        self._key_loaded = False
        self._create_tried = False
        self._lock = threading.Lock()
        self._current: ChainAnchor | None = None
        self._loaded = False

    @property
    def path(self) -> Path:
        """The anchor file."""
        return self._path

    def read(self) -> ChainAnchor | None:
        """The recorded anchor, checked against its seal.

        Raises:
            StorageError: the file is unreadable or its seal does not match (it was edited).
        """
        with self._lock:
            self._current = self._read_file()
            self._loaded = True
            return self._current

    def last_known(self) -> ChainAnchor | None:
        """The anchor as last read or written (read from the file the first time).

        Raises:
            StorageError: the file was tampered with.
        """
        with self._lock:
            if not self._loaded:
                self._current = self._read_file()
                self._loaded = True
            return self._current

    def advance(self, anchor: ChainAnchor) -> None:
        """Record a newer last trace (never backwards)."""
        current = self.last_known()
        with self._lock:
            if current is not None and anchor.last_id <= current.last_id:
                return
            self._write(anchor)
            self._current = anchor

    def reset(self, anchor: ChainAnchor | None) -> None:
        """Replace the anchor (after a restore)."""
        with self._lock:
            if anchor is None:
                self._path.unlink(missing_ok=True)
            else:
                self._write(anchor)
            self._current = anchor
            self._loaded = True

    # -- internals --------------------------------------------------------------------------------
    def _seal_key(self, *, create: bool) -> bytes | None:
        if self._key_loaded and (self._key is not None or not create or self._create_tried):
            return self._key
        self._create_tried = self._create_tried or create
        if self._secrets is None:
            self._key_loaded = True
            return None
        try:
            stored = self._secrets.get(ANCHOR_KEY_SECRET)
            if stored is None and create:
                stored = random_secrets.token_hex(32)
                self._secrets.set(ANCHOR_KEY_SECRET, stored)
        except SecretStoreUnavailable:
            stored = None
        self._key = bytes.fromhex(stored) if stored else None
        self._key_loaded = True
        return self._key

    @staticmethod
    def _message(anchor: ChainAnchor) -> bytes:
        return f"{anchor.last_id}:{anchor.last_hash}".encode("ascii")

    def _read_file(self) -> ChainAnchor | None:
        if not self._path.exists():
            return None
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            anchor = ChainAnchor(int(data["dernier_id"]), str(data["derniere_empreinte"]))
            seal = data.get("sceau")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"Le fichier d'ancrage des traces {self._path} est illisible ou a été modifié.") from exc
        if seal is not None:
            key = self._seal_key(create=False)
            if key is not None:
                expected = hmac.new(key, self._message(anchor), hashlib.sha256).hexdigest()
                if not hmac.compare_digest(expected, str(seal)):
                    raise StorageError(f"Le fichier d'ancrage des traces {self._path} a été modifié (sceau invalide).")
        return anchor

    def _write(self, anchor: ChainAnchor) -> None:
        data: dict[str, object] = {"dernier_id": anchor.last_id, "derniere_empreinte": anchor.last_hash}
        key = self._seal_key(create=True)
        if key is not None:
            data["sceau"] = hmac.new(key, self._message(anchor), hashlib.sha256).hexdigest()
        tmp = self._path.with_name(self._path.name + ".partial")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self._path)
