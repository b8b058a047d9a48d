"""SQL storage of prescriptions and their lines."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from adapters.db.models_prescription import PrescriptionLineRow, PrescriptionRow
from domain.errors import ConflictError, NotFound
from domain.prescriptions import Prescription, PrescriptionLine, PrescriptionStatus


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class SqlPrescriptionRepository:
    """Implements PrescriptionRepository on the unit of work's session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, prescription: Prescription) -> int:
        row = PrescriptionRow(
            patient_id=prescription.patient_id,
            kind=prescription.kind,
            status=prescription.status.value,
            author_login=prescription.author_login,
            author=prescription.author,
            profession=prescription.profession,
            created_at=prescription.created_at,
            validated_at=prescription.validated_at,
            mentions=prescription.mentions,
            document_row_id=prescription.document_row_id,
            renews_id=prescription.renews_id,
        )
        self._session.add(row)
        self._session.flush()
        self._write_lines(row.id, prescription.lines)
        return row.id

    def update(self, prescription: Prescription) -> Prescription:
        row = self._session.get(PrescriptionRow, prescription.id) if prescription.id is not None else None
        if row is None:
            raise NotFound("Cette prescription n'existe pas (ou plus).")
        if row.row_version != prescription.row_version:
            raise ConflictError(
                "Cette prescription a été modifiée sur un autre poste depuis son ouverture : rouvrez-la."
            )
        row.kind = prescription.kind
        row.status = prescription.status.value
        row.validated_at = prescription.validated_at
        row.mentions = prescription.mentions
        row.document_row_id = prescription.document_row_id
        flag_modified(row, "status")  # lines may be all that changed: the row version must still move
        self._session.execute(delete(PrescriptionLineRow).where(PrescriptionLineRow.prescription_id == row.id))
        self._write_lines(row.id, prescription.lines)
        try:
            self._session.flush()
        except StaleDataError as exc:
            raise ConflictError(
                "Cette prescription a été modifiée sur un autre poste depuis son ouverture : rouvrez-la."
            ) from exc
        return self.get(row.id)

    def get(self, prescription_id: int) -> Prescription:
        row = self._session.get(PrescriptionRow, prescription_id)
        if row is None:
            raise NotFound(f"La prescription n° {prescription_id} n'existe pas (ou plus).")
        return self._load([row])[0]

    def for_patient(self, patient_id: int) -> list[Prescription]:
        rows = self._session.scalars(
            select(PrescriptionRow)
            .where(PrescriptionRow.patient_id == patient_id)
            .order_by(PrescriptionRow.created_at.desc(), PrescriptionRow.id.desc())
        ).all()
        return self._load(list(rows))

    def _write_lines(self, prescription_id: int, lines: tuple[PrescriptionLine, ...]) -> None:
        self._session.add_all(
            PrescriptionLineRow(
                prescription_id=prescription_id,
                position=position,
                label=line.label,
                item_key=line.item_key,
                category=line.category,
                cis=line.cis,
                cip13=line.cip13,
                atc=line.atc,
                lpp=line.lpp,
                dosage=line.dosage,
                duration_days=line.duration_days,
                quantity=line.quantity,
                renewals=line.renewals,
                non_substitutable=line.non_substitutable,
                ald=line.ald,
            )
            for position, line in enumerate(lines, start=1)
        )
        self._session.flush()

    def _load(self, rows: list[PrescriptionRow]) -> list[Prescription]:
        if not rows:
            return []
        ids = [row.id for row in rows]
        lines: dict[int, list[PrescriptionLine]] = {i: [] for i in ids}
        for line in self._session.scalars(
            select(PrescriptionLineRow)
            .where(PrescriptionLineRow.prescription_id.in_(ids))
            .order_by(PrescriptionLineRow.prescription_id, PrescriptionLineRow.position)
        ):
            lines[line.prescription_id].append(
                PrescriptionLine(
                    label=line.label,
                    item_key=line.item_key,
                    category=line.category,
                    cis=line.cis,
                    cip13=line.cip13,
                    atc=line.atc,
                    lpp=line.lpp,
                    dosage=line.dosage,
                    duration_days=line.duration_days,
                    quantity=line.quantity,
                    renewals=line.renewals,
                    non_substitutable=line.non_substitutable,
                    ald=line.ald,
                )
            )
        return [
            Prescription(
                id=row.id,
                patient_id=row.patient_id,
                kind=row.kind,
                author_login=row.author_login,
                author=row.author,
                profession=row.profession,
                created_at=_aware(row.created_at) or row.created_at,
                lines=tuple(lines[row.id]),
                status=PrescriptionStatus(row.status),
                mentions=row.mentions,
                validated_at=_aware(row.validated_at),
                document_row_id=row.document_row_id,
                renews_id=row.renews_id,
                row_version=row.row_version,
            )
            for row in rows
        ]
