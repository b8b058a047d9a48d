"""SQL repository of the INS area: INS history, verification dates and queue, data of the INS indicators."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from adapters.db.models import AuditRow, PatientRowModel, StatusChangeRow
from adapters.db.models_ins import InsHistoryRow, InsVerificationQueueRow
from domain.audit import AuditAction
from domain.identity import IdentityStatus, QualificationMode, StatusChange
from domain.ins_qualification import (
    QueuedVerification,
    SeenPatient,
    VerificationReason,
    VerificationResult,
    VerificationState,
)
from domain.insi import InsHistoryEntry

SEEN_ACTIONS = (
    AuditAction.IDENTITY_READ.value,
    AuditAction.IDENTITY_CREATE.value,
    AuditAction.IDENTITY_UPDATE.value,
    AuditAction.INS_RETRIEVAL.value,
)
"""Traces that mean a user had the patient's file in front of them (the "patients vus" of TBB.INS.02)."""


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite returns naive datetimes for timezone-aware columns; the store only ever writes UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class SqlInsRepository:
    """INS history, verification state and queue in the SQL store."""

    def __init__(self, session: Session) -> None:
        self._s = session

    # -- history --------------------------------------------------------------------------------------
    def history(self, patient_id: int) -> list[InsHistoryEntry]:
        """The INS history, active INS first."""
        rows = self._s.scalars(
            select(InsHistoryRow).where(InsHistoryRow.patient_id == patient_id).order_by(InsHistoryRow.position)
        )
        return [InsHistoryEntry(r.matricule, r.oid, r.valid_from, r.valid_to) for r in rows]

    def replace_history(self, patient_id: int, entries: Sequence[InsHistoryEntry], at: dt.datetime) -> None:
        """Store the history INSi returned."""
        self.clear_history(patient_id)
        self._s.add_all(
            InsHistoryRow(
                patient_id=patient_id,
                position=i,
                matricule=e.matricule,
                oid=e.oid,
                valid_from=e.valid_from,
                valid_to=e.valid_to,
                recorded_at=at,
            )
            for i, e in enumerate(entries)
        )
        self._s.flush()

    def clear_history(self, patient_id: int) -> None:
        """Forget the history (INS invalidated)."""
        self._s.execute(delete(InsHistoryRow).where(InsHistoryRow.patient_id == patient_id))

    # -- verification state ---------------------------------------------------------------------------
    def verification_state(self, patient_id: int) -> VerificationState:
        """Retrieval and verification dates."""
        row = self._s.execute(
            select(
                PatientRowModel.ins_retrieved_at,
                PatientRowModel.ins_verified_at,
                PatientRowModel.ins_verification_result,
            ).where(PatientRowModel.id == patient_id)
        ).first()
        if row is None:
            return VerificationState()
        return VerificationState(
            retrieved_at=_aware(row.ins_retrieved_at),
            verified_at=_aware(row.ins_verified_at),
            result=VerificationResult(row.ins_verification_result) if row.ins_verification_result else None,
        )

    def set_retrieved(self, patient_id: int, at: dt.datetime) -> None:
        """The INS was retrieved now."""
        # Not a change of the record itself: no new version, other workstations keep editing.
        self._s.execute(
            update(PatientRowModel)
            .where(PatientRowModel.id == patient_id)
            .values(ins_retrieved_at=at, ins_verified_at=None, ins_verification_result=None)
        )

    def set_verified(self, patient_id: int, at: dt.datetime, result: VerificationResult) -> None:
        """A verification ended."""
        self._s.execute(
            update(PatientRowModel)
            .where(PatientRowModel.id == patient_id)
            .values(ins_verified_at=at, ins_verification_result=result.value)
        )

    def due_for_verification(self, before: dt.datetime, limit: int) -> list[int]:
        """Récupérée/qualifiée patients last retrieved/verified before ``before``, not queued yet."""
        p = PatientRowModel
        last = func.coalesce(p.ins_verified_at, p.ins_retrieved_at, p.created_at)
        queued = select(InsVerificationQueueRow.patient_id)
        stmt = (
            select(p.id)
            .where(
                p.status.in_((IdentityStatus.RETRIEVED.value, IdentityStatus.QUALIFIED.value)),
                p.ins_matricule.is_not(None),
                last < before,
                p.id.not_in(queued),
            )
            .order_by(last, p.id)
            .limit(limit)
        )
        return [int(i) for i in self._s.scalars(stmt)]

    # -- queue ----------------------------------------------------------------------------------------
    def enqueue(self, patient_id: int, reason: VerificationReason, at: dt.datetime) -> bool:
        """Queue a verification once per patient."""
        if self._s.get(InsVerificationQueueRow, patient_id) is not None:
            return False
        self._s.add(
            InsVerificationQueueRow(
                patient_id=patient_id, reason=reason.value, queued_at=at, attempts=0, last_error="", next_attempt_at=at
            )
        )
        self._s.flush()
        return True

    def queued(self, now: dt.datetime, limit: int) -> list[QueuedVerification]:
        """Due queued verifications, oldest first."""
        q = InsVerificationQueueRow
        rows = self._s.scalars(
            select(q)
            .where(or_(q.next_attempt_at.is_(None), q.next_attempt_at <= now))
            .order_by(q.queued_at, q.patient_id)
            .limit(limit)
        )
        return [
            QueuedVerification(
                patient_id=r.patient_id,
                reason=VerificationReason(r.reason),
                queued_at=_aware(r.queued_at) or now,
                attempts=r.attempts,
                last_error=r.last_error,
                next_attempt_at=_aware(r.next_attempt_at),
            )
            for r in rows
        ]

    def dequeue(self, patient_id: int) -> None:
        """Remove from the queue."""
        self._s.execute(delete(InsVerificationQueueRow).where(InsVerificationQueueRow.patient_id == patient_id))

    def postpone(self, patient_id: int, error: str, next_attempt_at: dt.datetime) -> None:
        """A failed attempt."""
        row = self._s.get(InsVerificationQueueRow, patient_id)
        if row is not None:
            row.attempts += 1
            row.last_error = error[:2000]
            row.next_attempt_at = next_attempt_at
            self._s.flush()

    def queue_length(self) -> int:
        """Pending verifications."""
        return int(self._s.scalar(select(func.count()).select_from(InsVerificationQueueRow)) or 0)

    # -- lookups --------------------------------------------------------------------------------------
    def patients_by_matricule(self, matricule: str) -> list[tuple[int, str]]:
        """(id, OID) of the patients whose active INS has this matricule."""
        rows = self._s.execute(
            select(PatientRowModel.id, PatientRowModel.ins_oid)
            .where(PatientRowModel.ins_matricule == matricule)
            .order_by(PatientRowModel.id)
        )
        return [(int(r.id), r.ins_oid or "") for r in rows]

    def patients_by_former_ins(self, matricule: str, oid: str) -> list[int]:
        """Patients whose INS history holds this matricule with this OID."""
        rows = self._s.scalars(
            select(InsHistoryRow.patient_id)
            .where(InsHistoryRow.matricule == matricule, InsHistoryRow.oid == oid)
            .distinct()
        )
        return sorted(int(i) for i in rows)

    # -- indicators -----------------------------------------------------------------------------------
    def seen_patients(self, start: dt.datetime, end: dt.datetime) -> list[SeenPatient]:
        """First read/change of each patient by each user in the period."""
        a = AuditRow
        rows = self._s.execute(
            select(a.patient_id, a.actor, func.min(a.at).label("first"))
            .where(a.at >= start, a.at < end, a.patient_id.is_not(None), a.action.in_(SEEN_ACTIONS))
            .group_by(a.patient_id, a.actor)
        )
        return [SeenPatient(int(r.patient_id), r.actor, _aware(r.first) or start) for r in rows]

    def status_histories(self, patient_ids: Sequence[int]) -> dict[int, list[StatusChange]]:
        """Status histories of these patients, oldest first."""
        result: dict[int, list[StatusChange]] = {pid: [] for pid in patient_ids}
        ids = list(patient_ids)
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            rows = self._s.scalars(
                select(StatusChangeRow)
                .where(StatusChangeRow.patient_id.in_(chunk))
                .order_by(StatusChangeRow.patient_id, StatusChangeRow.at, StatusChangeRow.id)
            )
            for r in rows:
                result[r.patient_id].append(
                    StatusChange(
                        before=IdentityStatus(r.before) if r.before else None,
                        after=IdentityStatus(r.after),
                        at=_aware(r.at) or r.at,
                        actor=r.actor,
                        reason=r.reason,
                        qualification=QualificationMode(r.qualification) if r.qualification else None,
                    )
                )
        return result
