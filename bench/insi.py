"""INSi lookups: UI stalls during 200 lookups on the NET lane (stand-in at 300 ms), and the SOAP client's overhead."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, median, percentile

if TYPE_CHECKING:
    from app.settings import ServiceEndpoint
    from domain.identity import IdentityTraits

LATENCY_S = 0.3
TARGET_STALL_MS = 50
TARGET_RATIO = 1.5


def _queries() -> list[IdentityTraits]:
    from domain.identity import IdentityTraits, Sex
    from sandbox.test_identities import TEST_IDENTITIES

    traits: list[IdentityTraits] = []
    for person in TEST_IDENTITIES:
        if person.birth_date_value is None:
            continue
        traits.append(
            IdentityTraits(
                person.birth_name,
                person.given_names,
                person.birth_date_value,
                Sex(person.sex),
                person.birth_place_code,
            )
        )
    return traits


def measure_stalls(lookups: int) -> dict[str, object]:
    """200 lookups through the real QtTaskRunner (NET lane) while a 5 ms timer measures event-loop stalls."""
    from PySide6.QtWidgets import QApplication
    from ui_stall import StallMeter, run_loop_for

    from app.bootstrap import build, start_demo_sandbox
    from app.settings import load_settings
    from ui.tasks_qt import QtTaskRunner

    app = QApplication.instance() or QApplication(["lgc-bench-insi"])
    with tempfile.TemporaryDirectory(prefix="lgc-bench-insi-") as tmp:
        settings = load_settings(Path(tmp))
        stop, endpoints = start_demo_sandbox(settings)
        services = build(settings, tasks=QtTaskRunner(), endpoints=endpoints)
        try:
            services.demo.install_practice()
            services.practice.sign_in("ide")
            traits = _queries()
            lookup = services.insi_lookup
            # Warm-up (imports, TLS handshake, schema compilation) outside the measured window.
            lookup.search_traits(traits=traits[0])
            harness_latency(endpoints, LATENCY_S)  # the stand-in answers after 300 ms from now on
            meter = StallMeter()
            run_loop_for(app, 0.5)
            meter.reset()
            run_loop_for(app, 0.5)
            idle = meter.max_ms
            done: list[float] = []
            errors: list[BaseException] = []
            started = time.perf_counter()
            meter.reset()
            for i in range(lookups):
                submit_one(services.tasks, lookup, traits[i % len(traits)], done, errors)
            run_loop_for(app, 120.0, until=lambda: len(done) + len(errors) >= lookups)
            elapsed = time.perf_counter() - started
            stall = meter.max_ms
            calls = _insi_calls(services)
        finally:
            services.close()
            stop()
    return {
        "lookups": lookups,
        "completed": len(done),
        "errors": len(errors),
        "insi_calls_traced": calls,
        "max_stall_ms": round(stall, 1),
        "idle_max_stall_ms": round(idle, 1),
        "elapsed_s": round(elapsed, 2),
        "lookup_p50_ms": round(median(done) * 1000, 1),
        "lookup_p95_ms": round(percentile(done, 95) * 1000, 1),
    }


def submit_one(tasks: Any, lookup: Any, traits: IdentityTraits, done: list[float], errors: list[BaseException]) -> None:
    """Submit one lookup on the NET lane; its duration is recorded by the callback on the UI thread."""
    from app.tasks import Lane

    submitted = time.perf_counter()

    def finished(_result: object) -> None:
        done.append(time.perf_counter() - submitted)

    tasks.submit(
        lambda: lookup.search_traits(traits=traits), lane=Lane.NET, on_success=finished, on_error=errors.append
    )


def harness_latency(endpoints: dict[str, ServiceEndpoint], seconds: float) -> None:
    """Set the stand-in's latency through its control URL (as ``lgc sandbox`` users do)."""
    import ssl

    import httpx

    endpoint = endpoints["insi"]
    base = endpoint.url.rsplit("/lps", 1)[0]
    context = ssl.create_default_context(cafile=endpoint.ca_cert)
    httpx.put(f"{base}/_sandbox/latency", content=str(seconds), verify=context).raise_for_status()


def _insi_calls(services: object) -> int:
    from domain.audit import AuditAction

    with services.insi_lookup.uow() as uow:  # type: ignore[attr-defined]
        return sum(1 for e in uow.audit.list(limit=100_000) if e.action is AuditAction.INSI_CALL)


def measure_overhead(rounds: int) -> dict[str, object]:
    """Full gateway call vs a raw httpx POST of the same envelope, against a zero-latency stand-in, interleaved."""
    import ssl

    import httpx

    from adapters.insi import SoapInsiGateway
    from adapters.insi.messages import AssertionIssuer, InsiSoftware, build_traits_request, parse_answer
    from domain.identity import Sex
    from domain.insi import InsiCallContext, InsiTraitsQuery
    from sandbox.ca import TestPki
    from sandbox.harness import SandboxHarness
    from sandbox.services.insi import InsiService

    context = InsiCallContext(actor="bench", practitioner_id="810101010101")
    query = InsiTraitsQuery("ADRUN", "ZOE", Sex.FEMALE, dt.date(1975, 12, 31))
    software = InsiSoftware(version="bench", instance="bench")
    with tempfile.TemporaryDirectory(prefix="lgc-bench-insi-pki-") as tmp:
        pki = TestPki.ensure(Path(tmp) / "pki")
        with SandboxHarness([InsiService()], pki) as harness:
            url = harness.url("insi", "/lps")
            gateway = SoapInsiGateway(url, ca_cert=pki.ca_cert_path, timeout_s=10)
            envelope = build_traits_request(query, context, software, AssertionIssuer("cps"))
            headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{envelope.action}"'}
            raw = httpx.Client(verify=ssl.create_default_context(cafile=str(pki.ca_cert_path)), timeout=10)
            try:
                for _ in range(20):  # warm-up: connections, schema, imports
                    gateway.search_by_traits(query, context)
                    raw.post(url, content=envelope.body, headers=headers).raise_for_status()
                client_s: list[float] = []
                raw_s: list[float] = []
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    gateway.search_by_traits(query, context)
                    t1 = time.perf_counter()
                    raw.post(url, content=envelope.body, headers=headers).raise_for_status()
                    t2 = time.perf_counter()
                    client_s.append(t1 - t0)
                    raw_s.append(t2 - t1)
                answer = raw.post(url, content=envelope.body, headers=headers).content
            finally:
                raw.close()
                gateway.close()
    build_s, parse_s = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        build_traits_request(query, context, software, AssertionIssuer("cps"))
        t1 = time.perf_counter()
        parse_answer(answer)
        t2 = time.perf_counter()
        build_s.append(t1 - t0)
        parse_s.append(t2 - t1)
    ratio = median(client_s) / median(raw_s)
    return {
        "overhead_ratio": round(ratio, 3),
        "client_call_p50_ms": round(median(client_s) * 1000, 3),
        "raw_post_p50_ms": round(median(raw_s) * 1000, 3),
        "build_validate_p50_ms": round(median(build_s) * 1000, 3),
        "parse_p50_ms": round(median(parse_s) * 1000, 3),
        "overhead_rounds": rounds,
    }


def main() -> None:
    """Print {max_stall_ms, overhead_ratio, …} as one JSON object."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    overhead = measure_overhead(args.rounds)
    stalls = measure_stalls(args.lookups)
    emit(
        {
            "bench": "insi",
            **stalls,
            **overhead,
            "latency_s": LATENCY_S,
            "target_max_stall_ms": TARGET_STALL_MS,
            "target_overhead_ratio": TARGET_RATIO,
        }
    )


if __name__ == "__main__":
    main()
