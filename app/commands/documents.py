"""``lgc documents validate|import|export``: check a CDA against the ANS kit, import files, export documents."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from domain.documents import DocumentFormat, Provenance
from domain.errors import InvalidInput

COMMANDS = ("documents",)

MAX_FILE_BYTES = 250 * 1024 * 1024
"""The command line refuses to even read a file larger than this (the services refuse far smaller ones)."""


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Declare ``lgc documents …``."""
    parser = sub.add_parser("documents", parents=[common], help="documents de santé (CDA, PDF/A, XDM)")
    docs = parser.add_subparsers(dest="documents_command", required=True)
    validate = docs.add_parser(
        "validate", parents=[common], help="vérifie un CDA : XSD, schématrons CI-SIS génériques et du modèle"
    )
    validate.add_argument("file", type=Path)
    validate.add_argument("--json", action="store_true")
    imp = docs.add_parser("import", parents=[common], help="importe un CDA (N1/N3), une archive XDM ou un PDF")
    imp.add_argument("file", type=Path)
    imp.add_argument("--patient", type=int, required=True, help="numéro du dossier patient")
    imp.add_argument(
        "--provenance",
        choices=[p.value for p in Provenance if p is not Provenance.PRODUCED],
        default=Provenance.IMPORTED.value,
    )
    imp.add_argument("--type", default="", help="type de document d'un PDF (code JDV_J07, ex. 11488-4)")
    imp.add_argument(
        "--remplacer",
        action="store_true",
        help="accepte qu'une nouvelle version remplace l'ancienne (l'ancienne reste dans l'historique)",
    )
    export = docs.add_parser("export", parents=[common], help="écrit les documents d'un patient dans un dossier")
    export.add_argument("--patient", type=int, required=True)
    export.add_argument("--type", default=None, help="code du type de document (JDV_J07), ex. PRESC-KINE")
    export.add_argument("--format", required=True, choices=[f.value for f in DocumentFormat])
    export.add_argument("--out", type=Path, required=True)


def _read(path: Path) -> bytes:
    path = path.expanduser()
    if not path.is_file():
        raise InvalidInput(f"Fichier introuvable : {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InvalidInput(f"« {path.name} » est trop volumineux : il n'est pas lu.")
    return path.read_bytes()


def run(args: argparse.Namespace, services: Any) -> int:
    """Execute ``lgc documents …``; the exit code is 1 when a checked CDA has errors."""
    command = args.documents_command
    if command == "validate":
        findings = services.documents.check_file(_read(args.file))
        errors = sum(1 for f in findings if f[0] == "error")
        if args.json:
            keys = ("severity", "source", "location", "message")
            print(json.dumps([dict(zip(keys, f, strict=True)) for f in findings], ensure_ascii=False, indent=2))
        else:
            for severity, source, location, message in findings:
                where = f" {location}" if location else ""
                print(f"{severity.upper():8} [{source}]{where} : {message}")
            verdict = "CONFORME" if errors == 0 else "NON CONFORME"
            print(f"{args.file.name} : {verdict} ({errors} erreur(s), {len(findings) - errors} avertissement(s))")
        return 1 if errors else 0
    if command == "import":
        report = services.documents.import_file(
            args.patient,
            args.file.name,
            _read(args.file),
            provenance=Provenance(args.provenance),
            replace_older=args.remplacer,
            type_code=args.type,
        )
        for outcome in report.outcomes:
            state = "intégré" if outcome.document_id is not None else "non intégré"
            print(f"{outcome.title} : {state} — {outcome.message_fr}")
        return 0
    out: Path = args.out.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    files = services.documents.export(args.patient, DocumentFormat(args.format), args.type)
    for rendered in files:
        (out / rendered.file_name).write_bytes(rendered.data)
        print(out / rendered.file_name)
    if not files:
        print("Aucun document à exporter dans ce format.", file=sys.stderr)
    return 0
