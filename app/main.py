"""Desktop entry point: parse options, open the store, start the demo stand-ins, run the window."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ENV_BENCH_STARTUP = "LGC_BENCH_STARTUP"

log = logging.getLogger("lgc.ui")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lgc", description="LGC — logiciel de gestion de cabinet libre.")
    parser.add_argument("--data-dir", type=Path, default=None, help="dossier des données (LGC_DATA_DIR)")
    parser.add_argument("--database-url", default=None, help="base PostgreSQL partagée (LGC_DATABASE_URL)")
    parser.add_argument(
        "--patients", type=int, default=None, metavar="N", help="nombre de patients de démonstration (nouvelle base)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the desktop application.

    Args:
        argv: command-line arguments without the program name (``sys.argv[1:]`` when None).

    Returns:
        0 on a normal exit, 2 when the store or the configuration cannot be used (French message shown).
    """
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)

    # Demo mode: the stand-ins start in a background thread while the interface modules load (their TLS
    # servers and test PKI cost ~0.15 s of the start-up otherwise). A bad settings file is reported below.
    from concurrent.futures import Future, ThreadPoolExecutor

    from app.settings import ServiceEndpoint, Settings, load_settings
    from domain.errors import InvalidInput

    settings_error: InvalidInput | None = None
    early_settings: Settings | None = None
    sandbox_start: Future[tuple[Callable[[], None], dict[str, ServiceEndpoint]]] | None = None
    try:
        early_settings = load_settings(args.data_dir, args.database_url)
    except InvalidInput as exc:
        settings_error = exc
    if early_settings is not None and early_settings.is_demo:
        from app.bootstrap import start_demo_sandbox as _start

        starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lgc-sandbox-start")
        sandbox_start = starter.submit(_start, early_settings)
        starter.shutdown(wait=False)  # the thread ends once the stand-ins are up

    # The QApplication first: every later problem can then be shown in a window.
    from ui.app import ensure_application, run_gui, show_fatal_error

    qt_app = ensure_application([sys.argv[0] if sys.argv else "lgc"])

    from app.bootstrap import (
        build,
        prepare_demo,
        start_demo_cards,
    )
    from app.logging_setup import configure_logging
    from domain.errors import StorageError
    from ui.tasks_qt import QtTaskRunner

    def fatal(title: str, text: str) -> int:
        show_fatal_error(title, text)
        return 2

    if settings_error is not None or early_settings is None:
        message = settings_error.message_fr if settings_error else "Configuration illisible."
        return fatal("Configuration illisible", message)
    settings = early_settings
    configure_logging(settings.log_dir, settings.log_level)
    log.info("Starting LGC (mode %s)", settings.mode)

    stop_sandbox: Callable[[], None] | None = None
    endpoints = None
    if sandbox_start is not None:
        stop_sandbox, endpoints = sandbox_start.result()
        stop_sandbox = start_demo_cards(settings, then=stop_sandbox)
    tasks = QtTaskRunner()
    try:
        services = build(settings, tasks=tasks, endpoints=endpoints)
    except StorageError as exc:
        log.error("Store unusable at start-up: %s", exc.message_fr)
        tasks.shutdown()
        if stop_sandbox is not None:
            stop_sandbox()
        return fatal("Base de données inutilisable", exc.message_fr)

    if settings.is_demo:

        def prepare() -> None:
            prepare_demo(services, args.patients)
    else:

        def prepare() -> None:
            """Production: nobody is signed in before the sign-in dialog (local password or PSC; issue 7)."""

    on_ready = None
    if os.environ.get(ENV_BENCH_STARTUP) == "1":

        def on_ready(_window: object, _controller: object) -> None:
            # Wall-clock time of readiness: the bench subtracts the instant it started this process (same clock).
            print(f"LGC-READY {time.time():.6f}", flush=True)
            qt_app.quit()

    return run_gui(services, stop_sandbox=stop_sandbox, prepare=prepare, on_ready=on_ready)


if __name__ == "__main__":
    raise SystemExit(main())
