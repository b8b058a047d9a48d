"""The "INS à scanner" datamatrix of a patient file and its printable label (qualified identities only, rule 32)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from domain.audit import AuditAction, AuditEvent
from domain.errors import DomainError
from domain.identity import Identity
from domain.ins_datamatrix import (
    DatamatrixRenderer,
    InsDatamatrix,
    InsLabel,
    InsLabelWriter,
    build_payload,
    datamatrix_for,
)
from domain.ports import Clock, UnitOfWorkFactory
from domain.practice import UserAccount

log = logging.getLogger("lgc.ins_label")


@dataclass(frozen=True, slots=True)
class DatamatrixImage:
    """What the patient file shows: the payload and a PNG of the symbol."""

    content: InsDatamatrix
    payload: str
    png: bytes


class InsLabelService:
    """Builds the datamatrix of a qualified identity, and writes the printable INS label (traced)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        renderer: DatamatrixRenderer,
        writer: InsLabelWriter,
        clock: Clock,
        current_user: Callable[[], UserAccount],
    ) -> None:
        self._uow = uow
        self._renderer = renderer
        self._writer = writer
        self._clock = clock
        self._current_user = current_user

    def image(self, identity: Identity, module_px: int = 3) -> DatamatrixImage:
        """The datamatrix of ``identity`` (no store access: the file is already open).

        Raises:
            InvalidInput: not a qualified identity, or a trait the format cannot carry (sex I).
        """
        content = datamatrix_for(identity)
        payload = build_payload(content)
        return DatamatrixImage(content, payload, self._renderer.png(payload, module_px))

    def write_label(self, patient_id: int, path: Path, birth_place_label: str = "") -> Path:
        """Write the INS label of patient ``patient_id`` as a PDF at ``path``; traced.

        Raises:
            InvalidInput: not a qualified identity, or the file cannot be written (nothing is traced then).
            NotFound: no such patient.
        """
        user = self._current_user()
        with self._uow() as uow:
            patient = uow.patients.get(patient_id)
        content = datamatrix_for(patient.identity)
        label = InsLabel(content, build_payload(content), birth_place_label, printed_by=user.actor)
        try:
            self._writer.write_pdf(label, path)
        except DomainError as exc:
            log.warning("INS label of patient %s not written: %s", patient_id, exc.message_fr)
            raise
        with self._uow() as uow:
            uow.audit.append(
                AuditEvent(
                    at=self._clock.now(),
                    actor=user.actor,
                    action=AuditAction.INS_LABEL_PRINT,
                    patient_id=patient_id,
                    detail={"fichier": path.name, "matricule": content.matricule, "oid": content.oid},
                )
            )
            uow.commit()
        return path
