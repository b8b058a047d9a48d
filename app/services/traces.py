"""Traces (audit trail): export for the practice or an auditor, and a tamper check."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from domain.ports import UnitOfWorkFactory

CSV_COLUMNS = ("horodatage", "acteur", "action", "resultat", "patient", "detail")


class TraceService:
    """Reads the hash-chained traces."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def export_csv(self, destination: Path, *, patient_id: int | None = None, limit: int = 1_000_000) -> int:
        """Write the traces (most recent first) as CSV (UTF-8, ``;`` separated, as French spreadsheets expect).

        Returns:
            The number of traces written.
        """
        with self._uow() as uow:
            events = uow.audit.list(patient_id=patient_id, limit=limit)
        tmp = destination.with_suffix(destination.suffix + ".partial")
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=";")
            writer.writerow(CSV_COLUMNS)
            for event in events:
                writer.writerow(
                    (
                        event.at.isoformat(),
                        event.actor,
                        event.action.value,
                        event.outcome,
                        "" if event.patient_id is None else event.patient_id,
                        json.dumps(event.detail, ensure_ascii=False, sort_keys=True, default=str),
                    )
                )
        tmp.replace(destination)
        return len(events)

    def verify(self) -> int | None:
        """None when no trace was altered or removed; else the id of the first broken one."""
        with self._uow() as uow:
            return uow.audit.verify_chain()
