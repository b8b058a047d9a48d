"""Traces (audit trail): export for the practice, an auditor or a log collector (CSV, syslog RFC 5424), and a
tamper check of the hash chain and of its anchor kept outside the database."""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from domain.audit import AuditAction, AuditEvent, ChainAnchor, anchor_problem
from domain.errors import InvalidInput, StorageError
from domain.ports import AuditAnchorStore, Clock, UnitOfWorkFactory
from domain.security import printable

log = logging.getLogger("lgc.traces")

CSV_COLUMNS = ("horodatage", "acteur", "action", "resultat", "patient", "detail")
EXPORT_FORMATS = ("csv", "syslog")

SYSLOG_APP = "lgc"
SYSLOG_SD_ID = "lgc@32473"
"""Structured-data id: ``name@PEN``; 32473 is the private enterprise number RFC 5612 reserves for examples —
replace it if the practice's log collector expects a registered one."""
FACILITY_AUTHPRIV = 10
FACILITY_LOG_AUDIT = 13
SEVERITY_WARNING = 4
SEVERITY_INFO = 6
_AUTH_PREFIXES = ("authentification.", "session.", "compte.")


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of ``TraceService.check``.

    Attributes:
        broken_id: the first trace that was edited or follows a removed one (None: the chain is intact).
        anchor_problem: French description of a mismatch with the anchor kept outside the database.
        last: the newest trace.
        anchor: the anchor that was checked (None: none recorded yet).
    """

    broken_id: int | None
    anchor_problem: str | None
    last: ChainAnchor | None
    anchor: ChainAnchor | None

    @property
    def intact(self) -> bool:
        """True when nothing was altered or removed."""
        return self.broken_id is None and self.anchor_problem is None


class TraceService:
    """Reads, exports and checks the hash-chained traces."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        anchor: AuditAnchorStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._uow = uow
        self._anchor = anchor
        self._clock = clock

    def export_csv(self, destination: Path, *, patient_id: int | None = None, limit: int = 1_000_000) -> int:
        """Write the traces (most recent first) as CSV (UTF-8, ``;`` separated, as French spreadsheets expect).

        Returns:
            The number of traces written.
        """
        return self.export(destination, "csv", patient_id=patient_id, limit=limit)

    def export(
        self,
        destination: Path | None,
        fmt: str,
        *,
        patient_id: int | None = None,
        limit: int = 1_000_000,
        actor: str = "",
    ) -> int:
        """Write the traces as CSV (most recent first) or syslog RFC 5424 lines (oldest first).

        Args:
            destination: the file (written atomically); None writes to the standard output.
            fmt: ``"csv"`` or ``"syslog"``.
            patient_id: only the traces of one patient.
            limit: at most this many traces.
            actor: who exports (the export itself is traced when given).

        Returns:
            The number of traces written.

        Raises:
            InvalidInput: unknown format or a destination that cannot be written.
        """
        if fmt not in EXPORT_FORMATS:
            raise InvalidInput(f"Format d'export inconnu « {printable(fmt)} » : csv ou syslog.")
        with self._uow() as uow:
            events = uow.audit.list(patient_id=patient_id, limit=limit)
        if destination is None:
            self._write(sys.stdout, events, fmt)
        else:
            tmp = destination.with_suffix(destination.suffix + ".partial")
            try:
                with tmp.open("w", encoding="utf-8", newline="") as handle:
                    self._write(handle, events, fmt)
                tmp.replace(destination)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise InvalidInput(f"Impossible d'écrire {destination} : {exc.strerror or exc}.") from exc
        if actor and self._clock is not None:
            with self._uow() as uow:
                uow.audit.append(
                    AuditEvent(
                        at=self._clock.now(),
                        actor=actor,
                        action=AuditAction.TRACES_EXPORT,
                        detail={"format": fmt, "nombre": len(events), "fichier": str(destination or "-")},
                    )
                )
                uow.commit()
        return len(events)

    def verify(self) -> int | None:
        """None when no trace was altered or removed inside the chain; else the id of the first broken one."""
        with self._uow() as uow:
            return uow.audit.verify_chain()

    def check(self) -> ChainReport:
        """Check the chain and its anchor (removal of the newest traces, which leaves an intact chain)."""
        anchor: ChainAnchor | None = None
        problem: str | None = None
        if self._anchor is not None:
            try:
                anchor = self._anchor.read()
            except StorageError as exc:
                problem = exc.message_fr
        with self._uow() as uow:
            broken = uow.audit.verify_chain()
            last = uow.audit.last()
            if problem is None and anchor is not None:
                problem = anchor_problem(anchor, uow.audit.hash_at(anchor.last_id))
        if problem is None and self._anchor is not None and anchor is None and last is not None:
            # first check after an upgrade: start anchoring from here
            self._anchor.advance(last)
        return ChainReport(broken_id=broken, anchor_problem=problem, last=last, anchor=anchor)

    def reanchor(self) -> ChainAnchor | None:
        """Move the anchor to the newest trace, whatever it was (after a restore, which shortens the chain)."""
        with self._uow() as uow:
            last = uow.audit.last()
        if self._anchor is not None:
            self._anchor.reset(last)
        return last

    # -- formats ----------------------------------------------------------------------------------
    def _write(self, handle: TextIO, events: list[AuditEvent], fmt: str) -> None:
        if fmt == "csv":
            write_csv(handle, events)
        else:
            hostname = _hostname()
            for event in reversed(events):
                handle.write(syslog_line(event, hostname) + "\n")


def write_csv(handle: TextIO, events: Iterable[AuditEvent]) -> None:
    """CSV with a header row, ``;`` separated."""
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


def syslog_line(event: AuditEvent, hostname: str = "-") -> str:
    """One trace as an RFC 5424 syslog message (authpriv for sign-ins and accounts, log audit otherwise;
    warning severity for failures and refusals).

    The actor, outcome and patient go in structured data; the message is UTF-8 text starting with a BOM.
    """
    action = event.action.value
    facility = FACILITY_AUTHPRIV if action.startswith(_AUTH_PREFIXES) else FACILITY_LOG_AUDIT
    severity = SEVERITY_INFO if event.outcome.startswith("ok") else SEVERITY_WARNING
    at = event.at.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    params = [("acteur", event.actor), ("resultat", event.outcome)]
    if event.patient_id is not None:
        params.append(("patient", str(event.patient_id)))
    typed = event.detail.get("identifiant_saisi")
    if isinstance(typed, str):
        params.append(("identifiant", typed))
    structured = "[" + SYSLOG_SD_ID + "".join(f' {name}="{_sd_escape(value)}"' for name, value in params) + "]"
    detail = json.dumps(event.detail, ensure_ascii=False, sort_keys=True, default=str)
    message = printable(f"{action} {event.outcome} par {event.actor} {detail}", limit=4000)
    msgid = _ascii_token(action, 32)
    header = f"<{facility * 8 + severity}>1 {at} {_ascii_token(hostname, 255)} {SYSLOG_APP} - {msgid}"
    return f"{header} {structured} \ufeff{message}"


def _sd_escape(value: str) -> str:
    """PARAM-VALUE escaping (RFC 5424 §6.3.3): ``"``, ``\\`` and ``]``; control characters made visible."""
    safe = printable(value, limit=400)
    return safe.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _ascii_token(value: str, limit: int) -> str:
    token = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return token or "-"


def _hostname() -> str:
    try:
        return socket.gethostname() or "-"
    except OSError:
        return "-"
