"""Files attached to form answers (wound photos…), stored by content hash under the data directory."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

from domain.errors import InvalidInput, NotFound, StorageError

log = logging.getLogger("lgc.record.files")

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)


class FileAttachmentStore:
    """Content-addressed files: ``<directory>/<sha256[:2]>/<sha256>``; written atomically, never overwritten."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def put(self, name: str, data: bytes) -> tuple[str, str]:
        """Store the bytes of a JPEG, PNG or PDF file; return (sha256, media type).

        Raises:
            InvalidInput: empty, too large, or not a JPEG/PNG/PDF (checked on the content, not the name).
            StorageError: the disk refused the write.
        """
        if not data:
            raise InvalidInput(f"« {Path(name).name} » est vide.")
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise InvalidInput(
                f"« {Path(name).name} » dépasse {MAX_ATTACHMENT_BYTES // (1024 * 1024)} Mo : réduisez la photo."
            )
        media = next((m for sig, m in _SIGNATURES if data.startswith(sig)), None)
        if media is None:
            raise InvalidInput(f"« {Path(name).name} » n'est ni une photo JPEG/PNG ni un PDF.")
        sha = hashlib.sha256(data).hexdigest()
        target = self._path(sha)
        if target.exists():
            return sha, media
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            with partial.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            partial.replace(target)
        except OSError as exc:
            log.error("Attachment write failed: %s", exc)
            raise StorageError(f"Impossible d'enregistrer la pièce jointe sur le disque ({exc.strerror}).") from exc
        return sha, media

    def get(self, sha256: str) -> bytes:
        """The stored bytes.

        Raises:
            NotFound: no such file (or a malformed hash).
        """
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise NotFound("Pièce jointe introuvable.")
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            raise NotFound("Pièce jointe introuvable (fichier supprimé du dossier des données ?).") from None

    def _path(self, sha256: str) -> Path:
        return self._directory / sha256[:2] / sha256
