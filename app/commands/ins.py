"""``lgc ins …``: the INS from the command line (support staff, scripts): ``search`` (INSi by traits), and more.

Each sub-command is one ``_register_<name>(isub, common)`` that declares its parser and one
``_run_<name>(args, services) -> int`` that executes it, listed in :data:`SUBCOMMANDS`: adding ``lgc ins vitale``
or ``lgc ins stats`` is two functions and one line there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import Any

from app.services.insi_lookup import InsiLookupResult, InsiLookupService
from app.settings import ServiceEndpoint
from domain.errors import DomainError, InvalidInput
from domain.identity import IdentityTraits, Sex, parse_given_names
from domain.text import normalize_trait

COMMANDS = ("ins",)

RegisterFn = Callable[[Any, argparse.ArgumentParser], None]
RunFn = Callable[[argparse.Namespace, Any], int]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Declare ``lgc ins`` and its sub-commands."""
    parser = sub.add_parser("ins", parents=[common], help="INS : téléservice INSi, carte Vitale, statistiques")
    isub = parser.add_subparsers(dest="ins_command", required=True)
    for register_sub, _ in SUBCOMMANDS.values():
        register_sub(isub, common)


def run(args: argparse.Namespace, services: Any) -> int:
    """Execute ``lgc ins <sub-command>``."""
    _, run_sub = SUBCOMMANDS[args.ins_command]
    return run_sub(args, services)


# -- lgc ins search ----------------------------------------------------------------------------------------


def _register_search(isub: Any, common: argparse.ArgumentParser) -> None:
    search = isub.add_parser(
        "search",
        parents=[common],
        help="interroge INSi par les traits d'identité (sans le lieu de naissance d'abord, puis avec sur 02)",
    )
    search.add_argument("--nom", required=True, help="nom de naissance")
    search.add_argument("--prenoms", required=True, help='prénoms de naissance, séparés par des espaces ("P1 P2")')
    search.add_argument("--sexe", required=True, choices=("F", "M"))
    search.add_argument("--naissance", required=True, help="date de naissance AAAA-MM-JJ")
    search.add_argument("--lieu", default="", help="code COG du lieu de naissance (envoyé seulement sur 02)")
    search.add_argument("--endpoint", default=None, help="adresse du téléservice (défaut : configuration)")
    search.add_argument("--ca-cert", default=None, help="autorité de certification à reconnaître (PEM)")
    search.add_argument("--client-cert", default=None, help="certificat d'organisation (PEM, TLS mutuel)")
    search.add_argument("--client-key", default=None, help="clé privée du certificat d'organisation (PEM)")
    search.add_argument("--timeout", type=float, default=15.0, help="délai d'attente en secondes (défaut 15)")
    search.add_argument("--json", action="store_true", help="résultat en JSON")


def _run_search(args: argparse.Namespace, services: Any) -> int:
    traits = _traits(args)
    lookup, stop = _lookup_service(args, services)
    try:
        result = lookup.search_traits(traits=traits)
    finally:
        stop()
    _print_result(result, as_json=args.json)
    return 0 if result.identity is not None else 1


def _traits(args: argparse.Namespace) -> IdentityTraits:
    errors: dict[str, str] = {}
    birth_name = given = ""
    try:
        birth_name = normalize_trait(args.nom, label="--nom")
    except ValueError as exc:
        errors["nom"] = str(exc)
    try:
        given = normalize_trait(args.prenoms, label="--prenoms")
    except ValueError as exc:
        errors["prenoms"] = str(exc)
    birth_date: dt.date | None = None
    try:
        birth_date = dt.date.fromisoformat(args.naissance.strip())
    except ValueError:
        errors["naissance"] = f"--naissance : date AAAA-MM-JJ attendue (reçu « {args.naissance} »)."
    place = args.lieu.strip().upper()
    if place and (len(place) != 5 or not place.isalnum()):
        errors["lieu"] = f"--lieu : code COG de 5 caractères attendu (reçu « {args.lieu} »)."
    if not birth_name:
        errors.setdefault("nom", "--nom : nom de naissance obligatoire.")
    if not given:
        errors.setdefault("prenoms", "--prenoms : au moins un prénom de naissance.")
    if errors:
        raise InvalidInput(errors)
    return IdentityTraits(
        birth_name=birth_name,
        birth_given_names=parse_given_names(given),
        birth_date=birth_date,
        sex=Sex(args.sexe),
        birth_place_code=place,
    )


def _lookup_service(args: argparse.Namespace, services: Any) -> tuple[InsiLookupService, Callable[[], None]]:
    """The lookup to use: the endpoint given on the command line, the stand-in in demo mode, else the configured one."""
    from app.bootstrap import insi_lookup_with, start_demo_sandbox

    if bool(args.client_cert) != bool(args.client_key):
        raise InvalidInput("--client-cert et --client-key vont ensemble (certificat d'organisation en TLS mutuel).")
    organisation = bool(args.client_cert)
    if args.endpoint:
        endpoint = ServiceEndpoint(
            url=args.endpoint,
            ca_cert=args.ca_cert or "",
            client_cert=args.client_cert or "",
            client_key=args.client_key or "",
            timeout_s=args.timeout,
            auth="organisation" if organisation else "cps",
        )
        return insi_lookup_with(services, endpoint), _nothing
    settings = services.settings
    if settings.is_demo:
        stop, endpoints = start_demo_sandbox(settings)
        use_mtls = organisation or settings.insi_service.auth == "organisation"
        return insi_lookup_with(services, endpoints["insi-mtls" if use_mtls else "insi"]), stop
    lookup: InsiLookupService = services.insi_lookup
    return lookup, _nothing


def _nothing() -> None:
    """Nothing to stop."""


def _print_result(result: InsiLookupResult, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    print(f"Code {result.code.value} : {result.message}")
    identity = result.identity
    if identity is not None:
        print(f"Matricule INS : {identity.matricule}  (OID {identity.oid})")
        print(
            f"Traits INSi : {identity.birth_name} {' '.join(identity.given_names)}, {identity.sex}, "
            f"né(e) le {_date_fr(identity.birth_date)} à {identity.birth_place_code}"
        )
        for entry in identity.history:
            print(f"Historique : {entry.matricule} (OID {entry.oid})")
        if result.import_problem:
            print(result.import_problem, file=sys.stderr)
    else:
        print(result.advice)
        print(f"En savoir plus : {result.help_url}")
    calls = ", ".join(
        f"{c.given_name or c.kind.value}{' + lieu' if c.with_birth_place else ''} → {c.code.value}"
        for c in result.calls
    )
    print(f"Appels : {calls}")


def _date_fr(lunar: str) -> str:
    parts = lunar.split("-")
    return "/".join(reversed(parts)) if len(parts) == 3 else lunar


# -- lgc ins stats / lgc ins verify (qualification, issue 3) ------------------------------------------------


def _register_stats(isub: Any, common: argparse.ArgumentParser) -> None:
    stats = isub.add_parser(
        "stats",
        parents=[common],
        help="identités des patients vus par statut, par mois et par praticien (indicateur TBB.INS.02)",
    )
    stats.add_argument("--du", default=None, metavar="AAAA-MM", help="premier mois (défaut : janvier de l'année)")
    stats.add_argument("--au", default=None, metavar="AAAA-MM", help="dernier mois inclus (défaut : mois courant)")
    stats.add_argument("--praticien", default=None, metavar="IDENTIFIANT", help="un seul praticien (identifiant)")
    stats.add_argument("--json", action="store_true", help="résultat en JSON")


def _run_stats(args: argparse.Namespace, services: Any) -> int:
    from app.services.qualification import month_range_default

    first, last = month_range_default(services.clock.today())
    lines = services.qualification.stats(args.du or first, args.au or last, practitioner=args.praticien)
    if args.json:
        payload = {
            "du": args.du or first,
            "au": args.au or last,
            "definition": "patients dont le dossier a été ouvert ou modifié dans le mois ; statut à la fin du mois",
            "lignes": [line.as_dict() for line in lines],
        }
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    header = ("Mois", "Praticien", "Vus", "Prov.", "Récup.", "Valid.", "Qualif.", "dont PST")
    print(f"{header[0]:<8} {header[1]:<45} " + " ".join(f"{h:>7}" for h in header[2:]))
    for line in lines:
        who = "Tous" if line.practitioner == "*" else line.practitioner
        print(
            f"{line.month:<8} {who[:45]:<45} {line.patients:>7} {line.provisional:>7} {line.retrieved:>7} "
            f"{line.validated:>7} {line.qualified:>7} {line.qualified_transitional:>7}"
        )
    if not lines:
        print("Aucun patient vu sur la période.")
    return 0


def _register_verify(isub: Any, common: argparse.ArgumentParser) -> None:
    verify = isub.add_parser(
        "verify",
        parents=[common],
        help="vérifie auprès d'INSi les INS récupérées/qualifiées depuis 4 ans et celles en file d'attente",
    )
    verify.add_argument("--limit", type=int, default=50, help="nombre maximal de vérifications (défaut 50)")
    verify.add_argument("--endpoint", default=None, help="adresse du téléservice (défaut : configuration)")
    verify.add_argument("--ca-cert", default=None, help="autorité de certification à reconnaître (PEM)")
    verify.add_argument("--client-cert", default=None, help="certificat d'organisation (PEM, TLS mutuel)")
    verify.add_argument("--client-key", default=None, help="clé privée du certificat d'organisation (PEM)")
    verify.add_argument("--timeout", type=float, default=15.0, help="délai d'attente en secondes (défaut 15)")
    verify.add_argument("--json", action="store_true", help="résultat en JSON")


def _run_verify(args: argparse.Namespace, services: Any) -> int:
    if not 1 <= args.limit <= 10_000:
        raise InvalidInput("--limit : entre 1 et 10 000.")
    lookup, stop = _lookup_service(args, services)
    qualification = services.qualification.with_lookup(lookup)
    try:
        queued = qualification.enqueue_due(limit=args.limit)
        reports = []
        for patient_id in qualification.queued(args.limit):
            patient = qualification.patient(patient_id)
            try:
                answer, error = qualification.verification_search(patient), None
            except DomainError as exc:  # recorded as "vérification impossible" and retried later
                answer, error = None, exc
            reports.append(qualification.record_verification(patient, answer, error))
    finally:
        stop()
    if args.json:
        payload = {
            "mises_en_file": queued,
            "operation": "rechercherInsAvecTraitsIdentite (le WSDL INSi 1.5.0 n'a pas d'opération de vérification)",
            "verifications": [
                {
                    "patient_id": r.patient_id,
                    "resultat": r.result.value,
                    "explication": r.explanation,
                    "statut_avant": r.status_before.value,
                    "statut_apres": r.status_after.value,
                    "recuperee_a_nouveau": r.retrieved_again,
                }
                for r in reports
            ],
            "en_attente": qualification.queue_length(),
        }
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        for r in reports:
            print(f"Patient {r.patient_id} : {r.result.label_fr} — {r.explanation}")
        print(f"{len(reports)} vérification(s), {qualification.queue_length()} en attente.")
    return 0


# -- lgc ins vitale (card reader, issue 3) ---------------------------------------------------------------


def _register_vitale(isub: Any, common: argparse.ArgumentParser) -> None:
    vitale = isub.add_parser(
        "vitale",
        parents=[common],
        help="lit la carte Vitale du lecteur et interroge INSi (rechercherInsAvecCarteVitale) pour chaque bénéficiaire",
    )
    vitale.add_argument("--lecteur", default=None, help="nom du lecteur (défaut : celui qui contient la carte Vitale)")
    vitale.add_argument("--sans-insi", action="store_true", help="lit seulement la carte, sans appeler INSi")
    vitale.add_argument("--endpoint", default=None, help="adresse du téléservice (défaut : configuration)")
    vitale.add_argument("--ca-cert", default=None, help="autorité de certification à reconnaître (PEM)")
    vitale.add_argument("--client-cert", default=None, help="certificat d'organisation (PEM, TLS mutuel)")
    vitale.add_argument("--client-key", default=None, help="clé privée du certificat d'organisation (PEM)")
    vitale.add_argument("--timeout", type=float, default=15.0, help="délai d'attente en secondes (défaut 15)")
    vitale.add_argument("--json", action="store_true", help="résultat en JSON")


def _run_vitale(args: argparse.Namespace, services: Any) -> int:
    from app.commands.card import beneficiary_json, beneficiary_line

    beneficiaries = services.cards.read_vitale(args.lecteur)
    results: list[dict[str, object]] = []
    found = 0
    stop = _nothing
    lookup = None
    if not args.sans_insi:
        lookup, stop = _lookup_service(args, services)
    try:
        for number, person in enumerate(beneficiaries, 1):
            entry: dict[str, object] = {"numero": number, **beneficiary_json(person)}
            if lookup is not None:
                try:
                    result = lookup.search_vitale(person)
                except DomainError as exc:  # one beneficiary's failure does not hide the others' answers
                    entry["insi"] = {"erreur": exc.message_fr}
                else:
                    entry["insi"] = result.to_json()
                    found += result.identity is not None
            results.append(entry)
    finally:
        stop()
    if args.json:
        print(json.dumps({"beneficiaires": results}, ensure_ascii=False, indent=2))
    else:
        for person, entry in zip(beneficiaries, results, strict=True):
            print(f"{entry['numero']}. {beneficiary_line(person)}")
            insi = entry.get("insi")
            if isinstance(insi, dict):
                if "erreur" in insi:
                    print(f"   INSi : {insi['erreur']}")
                else:
                    print(f"   INSi : code {insi['code']} — {insi['message']}  {insi.get('matricule_ins') or ''}")
    return 0 if args.sans_insi or found == len(beneficiaries) else 1


SUBCOMMANDS: dict[str, tuple[RegisterFn, RunFn]] = {
    "search": (_register_search, _run_search),
    "vitale": (_register_vitale, _run_vitale),
    "stats": (_register_stats, _run_stats),
    "verify": (_register_verify, _run_verify),
}
"""The ``lgc ins`` sub-commands: name → (declare the parser, run it)."""
