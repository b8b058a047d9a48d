"""Filling a store with the demo practice and fictitious patients."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from app.demo import DemoPatientGenerator, DemoPlaceSource, install_demo_practice
from domain.identity import IdentityStatus, StatusChange
from domain.patient import Patient
from domain.ports import UnitOfWorkFactory
from domain.search import parse_query

log = logging.getLogger("lgc.demo")

BATCH = 2000


class DemoDataService:
    """Installs the demo practice and adds generated patients in batches."""

    def __init__(self, uow: UnitOfWorkFactory, places: Callable[[], DemoPlaceSource]) -> None:
        self._uow = uow
        self._places = places

    def install_practice(self) -> bool:
        """The demo cabinet, centre de santé and users (once)."""
        return install_demo_practice(self._uow)

    def add_patients(self, count: int, seed: int = 1943) -> int:
        """Generate and store ``count`` patients with their first status-history entry; return how many."""
        if count <= 0:
            return 0
        generator = DemoPatientGenerator(self._places(), seed=seed)
        now = dt.datetime.now(dt.UTC)
        done = 0
        while done < count:
            batch = generator.patients(min(BATCH, count - done))
            with self._uow() as uow:
                ids = uow.patients.add_many(batch)
                uow.patients.add_status_changes(
                    [
                        (
                            patient_id,
                            StatusChange(
                                before=None,
                                after=patient.identity.status,
                                at=now,
                                actor="Données de démonstration",
                                reason="Création (données de démonstration)",
                            ),
                        )
                        for patient_id, patient in zip(ids, batch, strict=True)
                    ]
                )
                uow.commit()
            done += len(batch)
        log.info("%d demo patients added", done)
        return done

    def patients_with_ins(self) -> list[Patient]:
        """The demo patients whose INS came from the INSi (identity récupérée or qualifiée): what the INSi
        stand-in must know in demo mode, for their periodic verification to succeed."""
        wanted = (IdentityStatus.RETRIEVED, IdentityStatus.QUALIFIED)
        with self._uow() as uow:
            rows = uow.patients.search(parse_query(""), 1_000_000)
            return [uow.patients.get(r.id) for r in rows if r.status in wanted]

    def patient_count(self) -> int:
        """How many patients the store holds."""
        with self._uow() as uow:
            return uow.patients.count()

    def status_counts(self) -> dict[IdentityStatus, int]:
        """How many patients per identity status (checks on the demo data)."""
        with self._uow() as uow:
            return uow.patients.count_by_status()
