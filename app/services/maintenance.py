"""Backups, restores and the self-test."""

from __future__ import annotations

import logging
from pathlib import Path

from domain.audit import AuditAction, AuditEvent
from domain.ports import Clock, DatabaseMaintenance, UnitOfWorkFactory

log = logging.getLogger("lgc.maintenance")


class MaintenanceService:
    """Backup and restore the store; traced."""

    def __init__(self, uow: UnitOfWorkFactory, maintenance: DatabaseMaintenance, clock: Clock, actor: str) -> None:
        self._uow = uow
        self._maintenance = maintenance
        self._clock = clock
        self._actor = actor

    def backup(self, destination: Path) -> Path:
        """Write a checked backup of the whole store."""
        path = self._maintenance.backup(destination)
        with self._uow() as uow:
            uow.audit.append(
                AuditEvent(
                    at=self._clock.now(),
                    actor=self._actor,
                    action=AuditAction.DATABASE_BACKUP,
                    detail={"fichier": str(path)},
                )
            )
            uow.commit()
        log.info("Backup written to %s", path)
        return path

    def restore(self, source: Path) -> Path:
        """Replace the store with a backup; the previous store is kept aside (its path is returned)."""
        kept = self._maintenance.restore(source)
        with self._uow() as uow:
            uow.audit.append(
                AuditEvent(
                    at=self._clock.now(),
                    actor=self._actor,
                    action=AuditAction.DATABASE_RESTORE,
                    detail={"fichier": str(source), "base_precedente": str(kept)},
                )
            )
            uow.commit()
        log.info("Restored from %s", source)
        return kept
