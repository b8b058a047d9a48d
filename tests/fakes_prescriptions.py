"""In-memory PrescriptionRepository (same contract as the SQL one), plugged into FakeUnitOfWork."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from domain.errors import ConflictError, NotFound
from domain.prescriptions import Prescription


class FakePrescriptionRepository:
    """Prescriptions in a dict of the fake store (copied per unit of work with the rest of the store)."""

    def __init__(self, store: Any) -> None:
        if not hasattr(store, "prescriptions"):
            store.prescriptions = {}
        self._rows: dict[int, Prescription] = store.prescriptions

    def add(self, prescription: Prescription) -> int:
        row_id = max(self._rows, default=0) + 1
        self._rows[row_id] = replace(prescription, id=row_id, row_version=1)
        return row_id

    def update(self, prescription: Prescription) -> Prescription:
        if prescription.id is None or prescription.id not in self._rows:
            raise NotFound("Cette prescription n'existe pas (ou plus).")
        if self._rows[prescription.id].row_version != prescription.row_version:
            raise ConflictError(
                "Cette prescription a été modifiée sur un autre poste depuis son ouverture : rouvrez-la."
            )
        saved = replace(prescription, row_version=prescription.row_version + 1)
        self._rows[prescription.id] = saved
        return saved

    def get(self, prescription_id: int) -> Prescription:
        try:
            return self._rows[prescription_id]
        except KeyError:
            raise NotFound(f"La prescription n° {prescription_id} n'existe pas (ou plus).") from None

    def for_patient(self, patient_id: int) -> list[Prescription]:
        found = [p for p in self._rows.values() if p.patient_id == patient_id]
        return sorted(found, key=lambda p: (p.created_at, p.id or 0), reverse=True)
