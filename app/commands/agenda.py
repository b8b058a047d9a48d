"""``lgc agenda …``: list practitioners, export and import a practitioner's agenda as iCalendar (RFC 5545)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the composition root's type only
    from app.bootstrap import Services

COMMANDS = ("agenda",)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    """Declare ``lgc agenda practitioners|export|import``."""
    agenda = sub.add_parser("agenda", parents=[common], help="agenda : praticiens, export et import iCalendar")
    asub = agenda.add_subparsers(dest="agenda_command", required=True)
    practitioners = asub.add_parser(
        "practitioners", parents=[common], help="liste les praticiens (id, nom, profession)"
    )
    practitioners.add_argument("--json", action="store_true")
    export = asub.add_parser("export", parents=[common], help="exporte l'agenda d'un praticien en iCalendar (.ics)")
    export.add_argument("--practitioner", type=int, required=True, metavar="ID")
    export.add_argument("--ics", type=Path, required=True, metavar="FICHIER")
    imported = asub.add_parser("import", parents=[common], help="importe un fichier iCalendar (.ics)")
    imported.add_argument("file", type=Path, metavar="FICHIER")
    imported.add_argument(
        "--practitioner", type=int, default=None, metavar="ID", help="agenda de destination (défaut : celui du fichier)"
    )


def run(args: argparse.Namespace, services: Services) -> int:
    """Execute an ``lgc agenda`` command."""
    agenda = services.agenda
    if args.agenda_command == "practitioners":
        practitioners = agenda.practitioners()
        if args.json:
            print(
                json.dumps(
                    [
                        {"id": p.id, "name": p.name, "profession": p.profession_label, "login": p.login}
                        for p in practitioners
                    ],
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            for p in practitioners:
                print(f"{p.id:>4}  {p.name:<45} {p.profession_label}")
        return 0
    if args.agenda_command == "export":
        count = agenda.export_ics(args.practitioner, args.ics.expanduser().resolve())
        print(f"{count} rendez-vous exportés dans {args.ics}")
        return 0
    report = agenda.import_ics(args.file.expanduser().resolve(), args.practitioner)
    print(
        f"Import dans l'agenda n° {report.practitioner_id} : {report.created} créé(s), {report.updated} mis à jour, "
        f"{len(report.skipped)} ignoré(s)."
    )
    if report.overlaps:
        print(f"Attention : {report.overlaps} rendez-vous importé(s) chevauchent un rendez-vous existant.")
    for reason in report.skipped[:50]:
        print(f"  ignoré : {reason}")
    return 0
