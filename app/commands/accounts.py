"""``lgc accounts list|create|update|lock|unlock|reset``: local accounts administered from the workstation."""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
from typing import Any

from domain.errors import InvalidInput
from domain.practice import Profession, UserRole

COMMANDS = ("accounts",)

_ROLES = {role.value: role for role in UserRole}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Declare ``lgc accounts …``."""
    parser = sub.add_parser("accounts", parents=[common], help="comptes utilisateurs locaux")
    acc = parser.add_subparsers(dest="accounts_command", required=True)
    listing = acc.add_parser("list", parents=[common], help="liste les comptes et leur état")
    listing.add_argument("--json", action="store_true")
    create = acc.add_parser(
        "create", parents=[common], help="crée un compte (mot de passe demandé sans écho, ou lu sur l'entrée)"
    )
    create.add_argument("login")
    create.add_argument("--nom", required=True, help="nom affiché, ex. « Camille DURAND (IDE) »")
    create.add_argument("--role", required=True, choices=sorted(_ROLES), help="profil du compte")
    create.add_argument("--admin", action="store_true", help="ajoute les droits d'administration")
    create.add_argument("--profession", choices=[p.value for p in Profession], default=None)
    create.add_argument("--rpps", default="")
    create.add_argument("--titulaire", default="", help="pour un remplaçant : identifiant du praticien remplacé")
    create.add_argument("--sans-mot-de-passe", action="store_true", help="compte sans mot de passe local (PSC)")
    create.add_argument("--definitif", action="store_true", help="l'utilisateur n'aura pas à changer ce mot de passe")
    update = acc.add_parser("update", parents=[common], help="modifie le nom, le profil ou le titulaire")
    update.add_argument("login")
    update.add_argument("--nom", default=None)
    update.add_argument("--role", choices=sorted(_ROLES), default=None)
    update.add_argument("--admin", choices=("oui", "non"), default=None)
    update.add_argument("--titulaire", default=None)
    lock = acc.add_parser("lock", parents=[common], help="bloque un compte (départ, perte, vol)")
    lock.add_argument("login")
    lock.add_argument("--motif", default="")
    unlock = acc.add_parser("unlock", parents=[common], help="débloque un compte")
    unlock.add_argument("login")
    reset = acc.add_parser("reset", parents=[common], help="définit un nouveau mot de passe (à changer ensuite)")
    reset.add_argument("login")
    reset.add_argument("--definitif", action="store_true")


def operator() -> str:
    """How the person at the command line is named in traces (OS account and machine)."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "inconnu"
    return f"ligne de commande ({who}@{socket.gethostname()})"


def read_new_password(prompt: str = "Nouveau mot de passe") -> str:
    """A new password typed twice without echo, or one line from the standard input (scripts)."""
    if sys.stdin.isatty():
        first = getpass.getpass(f"{prompt} : ")
        second = getpass.getpass("Confirmation : ")
        if first != second:
            raise InvalidInput("Les deux saisies du mot de passe diffèrent : rien n'a été modifié.")
        value = first
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise InvalidInput("Mot de passe vide : rien n'a été modifié.")
    return value


def run(args: argparse.Namespace, services: Any) -> int:
    """Execute ``lgc accounts …``."""
    accounts = services.accounts
    by = operator()
    command = args.accounts_command
    if command == "list":
        return _list(accounts, as_json=args.json)
    if command == "create":
        password = None if args.sans_mot_de_passe else read_new_password("Mot de passe initial")
        user = accounts.create_account(
            args.login,
            args.nom,
            _ROLES[args.role],
            password,
            by=by,
            is_admin=args.admin,
            profession=Profession(args.profession) if args.profession else None,
            rpps=args.rpps,
            titulaire=args.titulaire,
            must_change=not args.definitif,
        )
        print(f"Compte « {user.login} » créé ({user.role.label_fr}).")
        return 0
    if command == "update":
        user = accounts.update_account(
            args.login,
            by=by,
            display_name=args.nom,
            role=_ROLES[args.role] if args.role else None,
            is_admin=None if args.admin is None else args.admin == "oui",
            titulaire=args.titulaire,
        )
        print(f"Compte « {user.login} » : {user.display_name}, {user.role.label_fr}.")
        return 0
    if command == "lock":
        accounts.lock_account(args.login, by=by, reason=args.motif)
        print(f"Compte « {args.login} » bloqué.")
        return 0
    if command == "unlock":
        accounts.unlock_account(args.login, by=by)
        print(f"Compte « {args.login} » débloqué.")
        return 0
    if command == "reset":
        password = read_new_password()
        accounts.reset_password(args.login, password, by=by, must_change=not args.definitif)
        suffix = "" if args.definitif else " ; l'utilisateur devra le changer à sa prochaine connexion"
        print(f"Mot de passe de « {args.login} » réinitialisé{suffix}.")
        return 0
    raise InvalidInput(f"Commande inconnue : accounts {command}")


def _list(accounts: Any, *, as_json: bool) -> int:
    rows = accounts.accounts()
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "login": r.user.login,
                        "nom": r.user.display_name,
                        "role": r.user.role.value,
                        "administrateur": r.user.is_admin,
                        "mot_de_passe": r.has_password,
                        "bloque": r.locked,
                        "expiration": r.password_expires_at.isoformat() if r.password_expires_at else None,
                        "derniere_connexion": r.last_sign_in_at.isoformat() if r.last_sign_in_at else None,
                    }
                    for r in rows
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    for r in rows:
        state = "BLOQUÉ" if r.locked else ("sans mot de passe" if not r.has_password else "actif")
        expires = f", expire le {r.password_expires_at:%d/%m/%Y}" if r.password_expires_at else ""
        print(f"{r.user.login:<18} {r.user.role.label_fr:<15} {state:<18} {r.user.display_name}{expires}")
    return 0
