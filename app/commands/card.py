"""``lgc carte …``: the card readers from the command line (read a carte Vitale or a CPS; drive the virtual cards).

``insert``, ``remove`` and ``list`` talk to a running sandbox (``lgc sandbox`` or the demo mode of ``lgc run``)
through its loopback control socket, whose port the sandbox writes to ``<data dir>/sandbox-cartes.json``;
they do not open the store. ``vitale`` and ``cps`` read the card in the reader.
"""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path
from typing import Any

from domain.errors import DeviceUnavailable, InvalidInput
from domain.insi import VitaleBeneficiary

COMMANDS = ("carte",)

CONTROL_FILE = "sandbox-cartes.json"
_CONTROL_ONLY = ("insert", "remove", "list")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Declare ``lgc carte`` and its sub-commands."""
    parser = sub.add_parser("carte", parents=[common], help="lecteurs de cartes : carte Vitale, CPS, cartes de test")
    csub = parser.add_subparsers(dest="card_command", required=True)
    insert = csub.add_parser(
        "insert", parents=[common], help="insère une carte de test dans un lecteur virtuel du bac à sable"
    )
    insert.add_argument("card", metavar="CARTE", help="ex. vitale:famille, cps:sage-femme, vitale:adrun,retrait=3")
    insert.add_argument("--lecteur", type=int, default=0, choices=(0, 1), help="lecteur virtuel 0 ou 1")
    remove = csub.add_parser("remove", parents=[common], help="retire la carte d'un lecteur virtuel")
    remove.add_argument("--lecteur", type=int, default=0, choices=(0, 1), help="lecteur virtuel 0 ou 1")
    listing = csub.add_parser("list", parents=[common], help="cartes de test disponibles et cartes insérées")
    listing.add_argument("--json", action="store_true", help="résultat en JSON")
    vitale = csub.add_parser("vitale", parents=[common], help="lit les bénéficiaires de la carte Vitale")
    vitale.add_argument("--lecteur", default=None, help="nom du lecteur (défaut : celui qui contient la carte)")
    vitale.add_argument("--json", action="store_true", help="résultat en JSON")
    cps = csub.add_parser("cps", parents=[common], help="lit l'identité du porteur de la carte CPS")
    cps.add_argument("--lecteur", default=None, help="nom du lecteur (défaut : celui qui contient la carte)")
    cps.add_argument("--json", action="store_true", help="résultat en JSON")


def needs_services(args: argparse.Namespace) -> bool:
    """False for the commands that only talk to the sandbox's control socket."""
    return args.card_command not in _CONTROL_ONLY


def run(args: argparse.Namespace, services: Any) -> int:
    """Execute ``lgc carte <sub-command>``."""
    command = args.card_command
    if command in _CONTROL_ONLY:
        return _control(args)
    if command == "vitale":
        beneficiaries = services.cards.read_vitale(args.lecteur)
        if args.json:
            print(
                json.dumps(
                    {"beneficiaires": [beneficiary_json(b) for b in beneficiaries]}, ensure_ascii=False, indent=2
                )
            )
        else:
            for number, person in enumerate(beneficiaries, 1):
                print(f"{number}. {beneficiary_line(person)}")
        return 0
    holder = services.cards.read_practitioner(args.lecteur)
    data = {
        "type_carte": holder.card_type,
        "type_identifiant": holder.id_type,
        "identifiant_national": holder.national_id,
        "rpps": holder.rpps,
        "civilite": holder.civility,
        "nom": holder.last_name,
        "prenom": holder.first_name,
        "profession_code": holder.profession_code,
        "profession": holder.profession_label,
    }
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(f"{holder.card_type} de {holder.display_name} — {holder.profession_label} (RPPS {holder.rpps or '—'})")
    return 0


def beneficiary_json(person: VitaleBeneficiary) -> dict[str, object]:
    """A beneficiary as ``lgc carte vitale --json`` and ``lgc ins vitale --json`` print it."""
    return {
        "nir": person.nir,
        "cle": person.nir_key,
        "nom_naissance": person.birth_name,
        "nom_usage": person.used_name,
        "prenom": person.given_name,
        "date_naissance": person.birth_date,
        "rang_naissance": person.birth_rank,
        "nir_ouvrant_droit": person.holder_nir,
        "cle_ouvrant_droit": person.holder_nir_key,
    }


def beneficiary_line(person: VitaleBeneficiary) -> str:
    """One line per beneficiary for people: name, first name, birth date (JJ/MM/AAAA, 00 kept), rank."""
    year, month, day = person.birth_date.split("-")
    return (
        f"{person.birth_name} {person.given_name}, né(e) le {day}/{month}/{year} (rang {person.birth_rank}), "
        f"NIR {person.nir} {person.nir_key}"
    )


def _control(args: argparse.Namespace) -> int:
    from app.settings import load_settings

    settings = load_settings(args.data_dir, args.database_url)
    request: dict[str, object] = {"action": args.card_command}
    if args.card_command == "insert":
        request.update(card=args.card, slot=args.lecteur)
    elif args.card_command == "remove":
        request.update(slot=args.lecteur)
    answer = send_control(settings.data_dir, request)
    if not answer.get("ok"):
        raise InvalidInput(str(answer.get("error", "Réponse invalide du bac à sable.")))
    if args.card_command == "insert":
        print(f"Carte {answer['card']} insérée dans le lecteur virtuel {answer['slot']} : {answer.get('label', '')}")
    elif args.card_command == "remove":
        print(
            f"Carte retirée du lecteur virtuel {answer['slot']}."
            if answer.get("removed")
            else f"Le lecteur virtuel {answer['slot']} était vide."
        )
    elif getattr(args, "json", False):
        print(json.dumps(answer, ensure_ascii=False, indent=2))
    else:
        slots = answer.get("slots", {})
        assert isinstance(slots, dict)
        for slot in ("0", "1"):
            print(f"Lecteur virtuel {slot} : {slots.get(slot, 'vide')}")
        print("Cartes de test :")
        cards = answer.get("cards", {})
        assert isinstance(cards, dict)
        for name, label in cards.items():
            print(f"  {name:<20} {label}")
    return 0


def send_control(data_dir: Path, request: dict[str, object], timeout_s: float = 20.0) -> dict[str, object]:
    """Send one request to the running sandbox's card control socket and return its answer.

    Raises:
        DeviceUnavailable: no sandbox with virtual readers runs for this data directory.
    """
    not_running = DeviceUnavailable(
        "Aucun bac à sable avec lecteurs de cartes virtuels ne tourne pour ce dossier de données : lancez "
        "« lgc sandbox » (ou « lgc run » en mode démonstration) avec le même --data-dir."
    )
    try:
        info = json.loads((data_dir / CONTROL_FILE).read_text(encoding="utf-8"))
        port = int(info["port"])
    except (OSError, ValueError, KeyError, TypeError):
        raise not_running from None
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.sendall(json.dumps(request).encode("utf-8") + b"\n")
            data = b""
            while not data.endswith(b"\n") and len(data) < 1_000_000:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        raise not_running from None
    try:
        answer = json.loads(data)
    except ValueError:
        raise DeviceUnavailable("Réponse illisible du bac à sable (lecteurs de cartes virtuels).") from None
    if not isinstance(answer, dict):
        raise DeviceUnavailable("Réponse illisible du bac à sable (lecteurs de cartes virtuels).")
    return answer
