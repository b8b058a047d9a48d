"""Foreground runner of the sandbox (``lgc sandbox``): start the stand-ins, print their URLs, wait."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from sandbox.ca import TestPki
from sandbox.harness import CONTROL_PREFIX, Fault, SandboxHarness, SandboxService
from sandbox.services.status import StatusService

if TYPE_CHECKING:
    from sandbox.pcscd import DemoCardStack

_log = logging.getLogger("lgc.sandbox")

PKI_DIRNAME = "sandbox-pki"
"""Sub-directory of the data directory holding the test CA and certificates."""


def default_services(data_dir: Path | None = None) -> list[SandboxService]:
    """The stand-ins that exist today, in the order they are printed.

    ``insi`` (CPx/PSC mode) is plain TLS; ``insi-mtls`` (organisation certificate mode) needs mutual TLS: it
    sets ``requires_client_cert`` and :func:`build_harness` turns mutual TLS on for it.
    ``psc`` (Pro Santé Connect) is plain TLS (a client certificate, when presented, binds its tokens).
    ``edc`` (Espace de confiance backends behind the Proxy e-santé) needs mutual TLS (``requires_client_cert``).

    With ``data_dir``, the INSi stand-ins also know the demo practice's qualified patients
    (:func:`sandbox.test_identities.demo_registry_path`), so that verifying their INS succeeds in demo mode.

    Returns:
        New service instances (state is per harness run).
    """
    from sandbox.services.edc import TrustSpaceService
    from sandbox.services.insi import InsiService
    from sandbox.services.psc import PscService
    from sandbox.test_identities import demo_registry_path

    psc = PscService()
    registry = demo_registry_path(data_dir) if data_dir is not None else None
    return [
        StatusService(),
        InsiService("insi", extra_registry=registry),
        InsiService("insi-mtls", mutual_tls=True, extra_registry=registry),
        psc,
        TrustSpaceService(psc),
    ]


def build_harness(
    data_dir: Path,
    ports: Mapping[str, int] | None = None,
    faults: Mapping[str, Fault | str] | None = None,
    *,
    services: list[SandboxService] | None = None,
    require_client_cert: bool | Collection[str] = False,
    latencies: Mapping[str, float] | None = None,
) -> SandboxHarness:
    """Create (not start) a harness over the test PKI of ``data_dir``.

    Args:
        data_dir: LGC data directory; the PKI lives in ``<data_dir>/sandbox-pki``.
        ports: Fixed port per service name; others are ephemeral.
        faults: Initial fault per service name, as :class:`Fault` or CLI spec (``"delay:2"``…).
        services: The services to run; :func:`default_services` when None.
        require_client_cert: Mutual TLS for all services (True) or for the named ones; False: the services
            whose ``requires_client_cert`` attribute is true.
        latencies: Initial latency in seconds per service name.

    Returns:
        The configured harness.

    Raises:
        ValueError: A fault spec cannot be parsed, or a mapping names an unknown service.
    """
    pki = TestPki.ensure(data_dir / PKI_DIRNAME)
    parsed = {name: f if isinstance(f, Fault) else Fault.parse(f) for name, f in (faults or {}).items()}
    chosen = services if services is not None else default_services(data_dir)
    if require_client_cert is False:
        # Services that only make sense behind mutual TLS (insi-mtls) say so themselves.
        require_client_cert = [s.name for s in chosen if getattr(s, "requires_client_cert", False)]
    return SandboxHarness(
        chosen,
        pki,
        ports=ports,
        require_client_cert=require_client_cert,
        faults=parsed,
        latencies=latencies,
    )


def run_foreground(
    data_dir: Path,
    ports: dict[str, int] | None = None,
    faults: Mapping[str, Fault | str] | None = None,
    *,
    require_client_cert: bool | Collection[str] = False,
    latencies: Mapping[str, float] | None = None,
    out: TextIO | None = None,
    stop_event: threading.Event | None = None,
    cards: Sequence[str] | None = None,
) -> None:
    """Run the sandbox until Ctrl-C or SIGTERM (or ``stop_event``), then stop it cleanly.

    Prints one line per service with its URL, then the CA file to trust and how to inject faults
    into the running services.

    Args:
        data_dir: LGC data directory; the PKI lives in ``<data_dir>/sandbox-pki``.
        ports: Fixed port per service name; others are ephemeral.
        faults: Initial fault per service name, as :class:`Fault` or CLI spec (``"http_5xx:503"``…).
        require_client_cert: Mutual TLS for all services (True) or for the named ones.
        latencies: Initial latency in seconds per service name.
        out: Where to print; standard output when None.
        stop_event: Set it to stop (for callers running this off the main thread, and tests).
        cards: None: no virtual card reader; else start pcscd + vpcd and insert these cards (``vitale:famille``…)
            in slots 0, 1; ``lgc carte insert|remove`` drives them while the sandbox runs.

    Raises:
        ValueError: A fault spec or a service name is wrong.
        OSError: A port cannot be bound.
    """
    stream = out if out is not None else sys.stdout
    stop = stop_event if stop_event is not None else threading.Event()
    harness = build_harness(data_dir, ports, faults, require_client_cert=require_client_cert, latencies=latencies)

    # Signal handlers can only be installed from the main thread; elsewhere stop_event is the way out.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_term = signal.getsignal(signal.SIGTERM) if in_main_thread else None
    if in_main_thread:

        def _on_sigterm(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _on_sigterm)

    try:
        with harness:
            width = max(len(name) for name in harness.service_names)
            for name in harness.service_names:
                mtls = " (TLS mutuel)" if harness.requires_client_cert(name) else ""
                fault = harness.fault(name)
                note = f" [panne : {fault.spec()}]" if fault.spec() != "none" else ""
                print(f"{name.ljust(width)}  {harness.url(name)}{mtls}{note}", file=stream)
            print(f"Autorité de certification de test : {harness.ca_cert_path}", file=stream)
            print(
                f"Pannes à chaud : PUT <url>{CONTROL_PREFIX}fault avec « delay:2 », « http_5xx:503 », "
                "« soap_fault:SIRAM_100 », « reset », « hang » ou « none » ; "
                f"latence : PUT <url>{CONTROL_PREFIX}latency avec des secondes.",
                file=stream,
            )
            card_stack = _start_cards(data_dir, cards, stream)
            print("Ctrl-C pour arrêter.", file=stream, flush=True)
            try:
                # Short waits: a lock wait is not interruptible by Ctrl-C on Windows.
                while not stop.wait(0.25):
                    pass
            except KeyboardInterrupt:
                pass
            print("Arrêt du bac à sable…", file=stream, flush=True)
            if card_stack is not None:
                card_stack.stop()
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_term if previous_term is not None else signal.SIG_DFL)
    _log.info("Sandbox stopped")


def _start_cards(data_dir: Path, cards: Sequence[str] | None, stream: TextIO) -> DemoCardStack | None:
    """Start the virtual card readers (when ``cards`` is not None) and say how to drive them."""
    if cards is None:
        return None
    from sandbox.pcscd import DemoCardStack

    stack = DemoCardStack(data_dir, list(enumerate(cards))).start()
    if stack.problem:
        print(f"Lecteurs de cartes virtuels indisponibles : {stack.problem}", file=stream)
        return stack
    contents = stack.deck.contents()
    for slot, reader in enumerate(("Virtual PCD 00 00", "Virtual PCD 00 01")):
        print(f"lecteur {slot} ({reader}) : {contents.get(slot, 'vide')}", file=stream)
    print(
        "Cartes : lgc carte insert vitale:famille [--lecteur 1], lgc carte remove, lgc carte list "
        f"(contrôle sur 127.0.0.1:{stack.control_port}).",
        file=stream,
    )
    return stack
