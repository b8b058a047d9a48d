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
    INS_RETRIEVAL = "ins.recuperation"
    INS_VERIFICATION = "ins.verification"
    INS_LABEL_PRINT = "ins.etiquette"  # the printable "INS à scanner" label of a qualified identity
    INSI_CALL = "insi.appel"  # every INSi call and everything it returned (rules 37/39, SC.INS.40)
    INSI_REFUSED = "insi.refus"  # a call refused before sending (douteuse/fictive identity, rule 25)
    DATABASE_BACKUP = "base.sauvegarde"
    DATABASE_RESTORE = "base.restauration"
    SETTINGS_CHANGE = "parametres.modification"
    AGENDA_CHANGE = "agenda.modification"  # appointments, series, waiting list (issue 5)
    # Accounts and sessions (issue 7, SC.SSI/IAM.90/91)
    SIGN_IN = "authentification.connexion"
    SIGN_OUT = "authentification.deconnexion"
    SESSION_LOCK = "session.verrouillage"
    SESSION_UNLOCK = "session.deverrouillage"
    PASSWORD_CHANGE = "compte.mot_de_passe"  # noqa: S105 - an action name
    ACCOUNT_CREATE = "compte.creation"
    ACCOUNT_ATTRIBUTES = "compte.attributs"
    ACCOUNT_PERMISSIONS = "compte.permissions"
    ACCOUNT_LOCK = "compte.blocage"
    ACCOUNT_UNLOCK = "compte.deblocage"
    DATABASE_ENCRYPTION = "base.chiffrement"
    TRACES_EXPORT = "traces.export"
    # Pro Santé Connect (issue 7, SC.PSC.02/15)
    PSC_LINK = "compte.liaison_psc"
    PSC_SESSION = "psc.session"
    # Clinical record (issue 6)
    RECORD_WRITE = "dossier.observation"
    RECORD_LIST = "dossier.liste"
    ALERT_DISMISS = "aide_decision.alerte_ecartee"
    RECORD_SETTINGS = "dossier.parametrage"  # form templates and macros
    # Health documents (issue 4)
    DOCUMENT_WRITE = "document.redaction"  # draft created, edited, validated, new version
    DOCUMENT_READ = "document.consultation"
    DOCUMENT_IMPORT = "document.import"  # integrated, or refused (outcome says why)
    DOCUMENT_EXPORT = "document.export"
    # Prescriptions (issue 6)
    PRESCRIPTION_WRITE = "prescription.redaction"  # draft saved, validated (document produced), renewed


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


@dataclass(frozen=True, slots=True)
class ChainAnchor:
    """The last trace known outside the database (id and hash), kept where truncating the table cannot reach.

    Removing traces at the end of the chain leaves an intact chain; the anchor shows that its last row is gone.
    """

    last_id: int
    last_hash: str


def anchor_problem(anchor: ChainAnchor | None, hash_at_anchor: str | None) -> str | None:
    """French description of what is wrong between an anchor and the stored chain (None: consistent).

    Args:
        anchor: the recorded anchor (None: none was recorded yet).
        hash_at_anchor: the stored hash of the trace whose id is ``anchor.last_id`` (None: no such trace).
    """
    if anchor is None:
        return None
    if hash_at_anchor is None:
        return (
            f"la trace n° {anchor.last_id}, dernière trace connue, a disparu : "
            "des traces ont été supprimées à la fin du journal"
        )
    if hash_at_anchor != anchor.last_hash:
        return f"la trace n° {anchor.last_id} ne correspond plus à l'empreinte conservée à part"
    return None
