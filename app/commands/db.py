"""``lgc db status|encrypt``: encryption at rest of the embedded store (SQLCipher, key in the OS store)."""

from __future__ import annotations

import argparse
from typing import Any

COMMANDS = ("db",)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Declare ``lgc db …``."""
    parser = sub.add_parser("db", parents=[common], help="base de données : état du chiffrement, chiffrement")
    dsub = parser.add_subparsers(dest="db_command", required=True)
    dsub.add_parser("status", parents=[common], help="indique si la base est chiffrée")
    dsub.add_parser(
        "encrypt",
        parents=[common],
        help="chiffre la base intégrée (sauvegarde vérifiée d'abord ; clé dans le trousseau du système)",
    )


def run(args: argparse.Namespace, services: Any) -> int:
    """Execute ``lgc db …``."""
    if args.db_command == "status":
        print(f"Base : {services.encryption}.")
        return 0
    from app.bootstrap import encrypt_store

    backup = encrypt_store(services)
    print("Base chiffrée (SQLCipher, AES-256) ; la clé est dans le trousseau du système.")
    print(
        f"Une copie NON chiffrée a été faite avant l'opération : {backup}. Vérifiez que LGC s'ouvre normalement, "
        "puis supprimez cette copie ou rangez-la hors ligne."
    )
    return 0
