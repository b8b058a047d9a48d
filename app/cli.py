"""The ``lgc`` command line: version, selftest, demo data, search, sandbox, backup/restore, benches, GUI."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import runpy
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from app.commands import groups as command_groups
from domain.errors import DomainError, InvalidInput

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"

log = logging.getLogger("lgc.cli")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: an option given before the sub-command is not reset by the sub-command's own copy of it.
    common.add_argument(
        "--data-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="dossier de données (défaut : LGC_DATA_DIR ou dossier utilisateur)",
    )
    common.add_argument(
        "--database-url", default=argparse.SUPPRESS, help="URL de base (défaut : SQLite dans le dossier de données)"
    )

    parser = argparse.ArgumentParser(
        prog="lgc", description="Logiciel de gestion de cabinet — sages-femmes et paramédicaux", parents=[common]
    )
    parser.add_argument("--version", action="store_true", help="affiche la version technique et quitte")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser(
        "run", parents=[common], help="lance l'application (mode démonstration sur une nouvelle installation)"
    )
    sub.add_parser("selftest", parents=[common], help="crée et migre une base dans un dossier temporaire")
    demo = sub.add_parser("demo-data", parents=[common], help="ajoute des patients de démonstration")
    demo.add_argument("--patients", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=1943)
    patients = sub.add_parser("patients", parents=[common], help="patients")
    psub = patients.add_subparsers(dest="patients_command", required=True)
    search = psub.add_parser("search", parents=[common], help="recherche d'antériorité (règle 17)")
    search.add_argument("text")
    search.add_argument("--json", action="store_true")
    search.add_argument("--limit", type=int, default=50)
    sandbox = sub.add_parser("sandbox", parents=[common], help="lance les services nationaux simulés au premier plan")
    sandbox.add_argument("--port", action="append", default=[], metavar="SERVICE=PORT")
    sandbox.add_argument("--fault", action="append", default=[], metavar="SERVICE=SPEC", help="ex. status=delay:2")
    sandbox.add_argument(
        "--carte", action="append", default=[], metavar="CARTE", help="carte insérée au départ (lecteur 0, puis 1)"
    )
    sandbox.add_argument("--sans-lecteurs", action="store_true", help="sans lecteurs de cartes virtuels (pcscd)")
    backup = sub.add_parser("backup", parents=[common], help="sauvegarde la base dans FICHIER")
    backup.add_argument("file", type=Path)
    restore = sub.add_parser("restore", parents=[common], help="restaure la base depuis FICHIER")
    restore.add_argument("file", type=Path)
    secret = sub.add_parser("secret", parents=[common], help="secrets dans le trousseau du système")
    secret.add_argument("action", choices=["set", "delete"])
    secret.add_argument("name", help="ex. base-de-donnees (mot de passe PostgreSQL)")
    for group in command_groups():
        group.register(sub, common)
    bench = sub.add_parser("bench", parents=[common], help="lance bench/NOM.py")
    bench.add_argument("name")
    bench.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lgc``; returns the process exit code."""
    args = _parser().parse_args(list(argv) if argv is not None else None)
    for option in ("data_dir", "database_url"):
        if not hasattr(args, option):
            setattr(args, option, None)
    if args.version:
        from app.version import technical_version

        print(f"lgc {technical_version()}")
        return 0
    command = args.command or "run"
    try:
        if command == "run":
            from app.main import main as gui_main

            extra = []
            if args.data_dir:
                extra += ["--data-dir", str(args.data_dir)]
            if args.database_url:
                extra += ["--database-url", args.database_url]
            return int(gui_main(extra))
        if command == "selftest":
            return _selftest()
        if command == "bench":
            return _bench(args.name, args.args, args)
        if command == "sandbox":
            return _sandbox(args)
        if command == "secret":
            return _secret(args)
        for group in command_groups():
            # A group may run some commands without opening the store (e.g. ``lgc carte insert``).
            if command in group.COMMANDS and not getattr(group, "needs_services", lambda _args: True)(args):
                return int(group.run(args, None))
        return _with_services(command, args)
    except InvalidInput as exc:
        print(f"Erreur : {exc.message_fr}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"Erreur : {exc.message_fr}", file=sys.stderr)
        return 2


def _configure_logging(data_dir: Path | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _with_services(command: str, args: argparse.Namespace) -> int:
    from app.bootstrap import build, prepare_demo, sign_in_configured_user
    from app.settings import load_settings

    _configure_logging()
    settings = load_settings(args.data_dir, args.database_url)
    services = build(settings)
    try:
        if command == "demo-data":
            if args.patients < 0 or args.patients > 1_000_000:
                raise InvalidInput("--patients : entre 0 et 1 000 000.")
            services.demo.install_practice()
            added = services.demo.add_patients(args.patients, seed=args.seed)
            print(json.dumps({"added": added}))
            return 0
        if settings.is_demo:
            prepare_demo(services)
        else:
            sign_in_configured_user(services)
        if command == "patients":
            result = services.patients.search(args.text, limit=args.limit)
            if args.json:
                print(
                    json.dumps(
                        {
                            "truncated": result.truncated,
                            "hint": result.hint,
                            "patients": [_row_json(r) for r in result.rows],
                        },
                        ensure_ascii=False,
                        indent=2,
                    )
                )
            else:
                for r in result.rows:
                    print(
                        f"{r.id:>7}  {r.birth_name:<25} {r.first_given_name:<15} "
                        f"{r.birth_date.strftime('%d/%m/%Y')}  {r.sex.value}  {r.status.label_fr}"
                    )
                if result.hint:
                    print(result.hint, file=sys.stderr)
            return 0
        for group in command_groups():
            if command in group.COMMANDS:
                return int(group.run(args, services))
        if command == "backup":
            path = services.maintenance.backup(args.file.expanduser().resolve())
            print(f"Sauvegarde écrite : {path}")
            return 0
        if command == "restore":
            kept = services.maintenance.restore(args.file.expanduser().resolve())
            services.traces.reanchor()  # a restore legitimately shortens the chain (issue 7)
            print(f"Base restaurée depuis {args.file} ; l'ancienne base est conservée : {kept}")
            return 0
    finally:
        services.close()
    raise InvalidInput(f"Commande inconnue : {command}")


def _row_json(row: object) -> dict[str, object]:
    data = dataclasses.asdict(row)  # type: ignore[call-overload]
    data["birth_date"] = data["birth_date"].isoformat()
    data["sex"] = data["sex"].value
    data["status"] = data["status"].value
    return {k: v for k, v in data.items()}


def _selftest() -> int:
    from app.bootstrap import build, prepare_demo
    from app.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="lgc-selftest-") as tmp:
        settings = load_settings(Path(tmp))
        services = build(settings)
        try:
            prepare_demo(services, patients=20)
            found = services.patients.search("a", limit=5)
            if not found.rows:
                print("selftest : la recherche ne trouve rien", file=sys.stderr)
                return 1
            count = services.practice.overview().patient_count
            print(f"selftest OK : schéma {services.schema_revision}, {count} patients")
        finally:
            services.close()
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from app.settings import load_settings
    from sandbox.runner import run_foreground

    settings = load_settings(args.data_dir, args.database_url)
    ports = dict(_pair(p, "--port") for p in args.port)
    faults = dict(_pair(f, "--fault") for f in args.fault)
    try:
        cards = None if args.sans_lecteurs else list(args.carte)
        run_foreground(settings.data_dir, {k: int(v) for k, v in ports.items()}, faults, cards=cards)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    return 0


def _secret(args: argparse.Namespace) -> int:
    import getpass

    from app.bootstrap import secret_store

    store = secret_store()
    if args.action == "delete":
        store.delete(args.name)
        print(f"Secret « {args.name} » supprimé.")
        return 0
    value = (
        getpass.getpass(f"Valeur de « {args.name} » : ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    )
    if not value:
        raise InvalidInput("Valeur vide : rien n'a été enregistré.")
    store.set(args.name, value)
    print(f"Secret « {args.name} » enregistré dans le trousseau du système.")
    return 0


def _pair(text: str, option: str) -> tuple[str, str]:
    if "=" not in text:
        raise InvalidInput(f"{option} attend SERVICE=VALEUR, reçu « {text} ».")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def _bench(name: str, rest: list[str], args: argparse.Namespace) -> int:
    script = BENCH_DIR / f"{name}.py"
    if not name.replace("_", "").isalnum() or not script.is_file():
        available = ", ".join(sorted(p.stem for p in BENCH_DIR.glob("*.py") if not p.stem.startswith("_")))
        raise InvalidInput(f"Banc d'essai inconnu : {name} (disponibles : {available}).")
    if args.data_dir:
        os.environ["LGC_DATA_DIR"] = str(args.data_dir)
    sys.argv = [str(script), *rest]
    runpy.run_path(str(script), run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
