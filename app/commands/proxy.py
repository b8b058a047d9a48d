"""``lgc proxy``: the Proxy e-santé (Espace de confiance) as a headless service on 127.0.0.1."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

COMMANDS = ("proxy",)

log = logging.getLogger("lgc.proxy")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Declare ``lgc proxy``."""
    parser = sub.add_parser(
        "proxy",
        parents=[common],
        help="lance le proxy e-santé (Espace de confiance : PSC, échange de jetons, TLS mutuel) au premier plan",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="port d'écoute sur 127.0.0.1 (défaut : configuré ou libre)"
    )


def needs_services(_args: argparse.Namespace) -> bool:
    """The proxy does not open the practice's store."""
    return False


def run(args: argparse.Namespace, services: Any, *, stop: threading.Event | None = None) -> int:
    """Run the proxy until Ctrl-C / SIGTERM (or ``stop``); demo mode starts the stand-ins it talks to."""
    from app.bootstrap import build_esante_proxy, start_demo_sandbox
    from app.settings import load_settings
    from domain.errors import InvalidInput

    if args.port is not None and not 0 <= args.port <= 65535:
        raise InvalidInput("--port : entre 0 et 65535.")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.data_dir, args.database_url)
    stop_sandbox: Callable[[], None] | None = None
    endpoints = None
    if settings.is_demo:
        stop_sandbox, endpoints = start_demo_sandbox(settings)
    event = stop if stop is not None else threading.Event()
    previous = _on_sigterm(event)
    try:
        proxy = build_esante_proxy(settings, endpoints, port=args.port)
        proxy.start()
        print(f"Proxy e-santé : {proxy.url}", flush=True)
        print(
            "API : POST /connect (CIBA ou jeton délégué), DELETE /disconnect, /send/<service>/<chemin> "
            "(en-tête proxy_session_id), GET /traces?start=…&end=…",
            flush=True,
        )
        if settings.is_demo:
            print("Mode démonstration : Pro Santé Connect et l'Espace de confiance sont simulés.", flush=True)
        print("Ctrl-C pour arrêter.", flush=True)
        try:
            while not event.wait(0.25):
                pass
        except KeyboardInterrupt:
            pass
        proxy.stop()
        print("Proxy arrêté.", file=sys.stderr, flush=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if stop_sandbox is not None:
            stop_sandbox()
    return 0


def _on_sigterm(event: threading.Event) -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: FrameType | None) -> None:
        event.set()

    return signal.signal(signal.SIGTERM, handler)
