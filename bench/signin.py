"""Pro Santé Connect sign-in against the stand-in, a scripted browser playing the practitioner (``signin_s``),
and the longest event-loop stall meanwhile (``max_stall_ms``), with the real QtTaskRunner."""

from __future__ import annotations

import argparse
import ssl
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, populated_data_dir
from _gui import open_app
from ui_stall import StallMeter, run_loop_for


class ScriptedBrowser:
    """The system browser replaced by httpx following the stand-in's authorize page (e-CPS, one practitioner)."""

    def __init__(self, ca_cert: Path, national_id: str) -> None:
        self._ca_cert = ca_cert
        self._who = national_id
        self.last_url = ""

    def open(self, url: str) -> None:
        """Play the practitioner in a thread, as a browser next to the application would."""
        import httpx

        from sandbox.services.psc import scripted_login

        self.last_url = url

        def run() -> None:
            with httpx.Client(verify=ssl.create_default_context(cafile=str(self._ca_cert))) as client:
                scripted_login(client, url, self._who, "ecps")

        threading.Thread(target=run, daemon=True).start()

    def reopen(self) -> None:
        """Not used by the bench."""


def main() -> None:
    """Print {signin_s, first_signin_s, max_stall_ms, idle_max_stall_ms, ...}."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    data_dir, _ = populated_data_dir(args.patients)
    opened = open_app(data_dir)
    app, controller = opened.app, opened.controller
    psc = controller.psc
    psc.browser = ScriptedBrowser(opened.harness.ca_cert_path, "810101010101")
    meter = StallMeter()
    durations: list[float] = []
    stalls: list[float] = []
    try:
        run_loop_for(app, 0.5)
        meter.reset()
        run_loop_for(app, 1.0)
        idle = meter.max_ms
        results: list[object] = []
        ended: list[bool] = []
        psc.signed_in.connect(results.append)
        psc.failed.connect(results.append)
        psc.signed_out.connect(lambda: ended.append(True))
        for _ in range(args.rounds):
            results.clear()
            ended.clear()
            meter.reset()
            started = time.perf_counter()
            controller.window.psc_sign_in_action.trigger()
            run_loop_for(app, 20.0, until=lambda: bool(results))
            durations.append(time.perf_counter() - started)
            stalls.append(meter.max_ms)
            if not results or results[0].__class__.__name__ != "PscSignInResult":
                raise SystemExit(f"sign-in failed: {results!r}")
            psc.sign_out()
            run_loop_for(app, 10.0, until=lambda: bool(ended))
    finally:
        opened.close()
    emit(
        {
            "bench": "signin",
            "signin_s": round(max(durations), 3),
            "first_signin_s": round(durations[0], 3),
            "median_signin_s": round(statistics.median(durations), 3),
            "rounds": args.rounds,
            "max_stall_ms": round(max(stalls), 1),
            "stall_per_round_ms": [round(v, 1) for v in stalls],
            "idle_max_stall_ms": round(idle, 1),
            "target_signin_s": 1.0,
            "target_stall_ms": 50,
        }
    )


if __name__ == "__main__":
    main()
