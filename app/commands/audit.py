"""``lgc audit verify|export`` (alias ``lgc traces``): the tamper check and the export of the traces."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.commands.accounts import operator

COMMANDS = ("audit", "traces")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Declare ``lgc audit …`` and its alias ``lgc traces …``."""
    parser = sub.add_parser(
        "audit", aliases=["traces"], parents=[common], help="traces (journal d'audit) : contrôle et export"
    )
    asub = parser.add_subparsers(dest="audit_command", required=True)
    export = asub.add_parser("export", parents=[common], help="exporte les traces (CSV ou syslog RFC 5424)")
    export.add_argument("file", help="fichier de destination, ou - pour la sortie standard")
    export.add_argument("--format", choices=("csv", "syslog"), default="csv")
    export.add_argument("--patient", type=int, default=None)
    asub.add_parser("verify", parents=[common], help="vérifie qu'aucune trace n'a été modifiée ou supprimée")


def run(args: argparse.Namespace, services: Any) -> int:
    """Execute ``lgc audit …``."""
    traces = services.traces
    if args.audit_command == "export":
        to_stdout = args.file == "-"
        destination = None if to_stdout else Path(args.file).expanduser().resolve()
        count = traces.export(destination, args.format, patient_id=args.patient, actor=operator())
        if not to_stdout:
            print(f"{count} traces exportées dans {args.file} (format {args.format}).")
        return 0
    report = traces.check()
    if report.intact:
        last = (
            f" ({report.last.last_id} traces, dernière empreinte {report.last.last_hash[:12]}…)" if report.last else ""
        )
        print(f"Traces intègres : aucune trace modifiée ni supprimée{last}.")
        return 0
    if report.broken_id is not None:
        print(f"ALERTE : la trace n° {report.broken_id} a été modifiée ou une trace a été supprimée avant elle.")
    if report.anchor_problem is not None:
        print(f"ALERTE : {report.anchor_problem}.")
    return 1
