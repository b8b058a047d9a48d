"""Traces (audit trail): who did what to which record, with what result, chained to be tamper-evident."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum


class AuditAction(StrEnum):
    """Kinds of traced actions."""

    IDENTITY_READ = "identite.lecture"
    IDENTITY_CREATE = "identite.creation"
    IDENTITY_UPDATE = "identite.modification"
    IDENTITY_STATUS = "identite.statut"
    IDENTITY_SEARCH = "identite.recherche"
    DATABASE_BACKUP = "base.sauvegarde"
    DATABASE_RESTORE = "base.restauration"
    SETTINGS_CHANGE = "parametres.modification"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One trace."""

    at: dt.datetime
    actor: str
    action: AuditAction
    outcome: str = "ok"
    patient_id: int | None = None
    detail: dict[str, object] = field(default_factory=dict)

    def canonical(self) -> str:
        """Stable text form used in the hash chain."""
        return json.dumps(
            {
                "at": self.at.isoformat(),
                "actor": self.actor,
                "action": self.action.value,
                "outcome": self.outcome,
                "patient_id": self.patient_id,
                "detail": self.detail,
            },
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )


GENESIS_HASH = "0" * 64


def chain_hash(previous_hash: str, event: AuditEvent) -> str:
    """Hash of an event chained to the previous one: editing or deleting a trace breaks the chain."""
    return hashlib.sha256((previous_hash + event.canonical()).encode("utf-8")).hexdigest()
