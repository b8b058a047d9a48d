"""Longest event-loop stall while a stand-in answers after 2 s and while searches run over 100,000 patients."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, populated_data_dir
from _gui import open_app

TICK_MS = 5


class StallMeter:
    """A 5 ms repeating timer; a late tick means the event loop was busy for that long."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.max_ms = 0.0
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.max_ms = max(self.max_ms, (now - self._last) * 1000 - TICK_MS)
        self._last = now

    def reset(self) -> None:
        """Start a new measurement window."""
        self.max_ms = 0.0
        self._last = time.perf_counter()


def run_loop_for(app: object, seconds: float, until: object = None) -> None:
    """Run the real event loop (exec) for ``seconds`` or until ``until()`` holds."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    deadline = time.monotonic() + seconds
    poll = QTimer()
    poll.setInterval(10)
    poll.timeout.connect(lambda: loop.quit() if (until and until()) or time.monotonic() > deadline else None)  # type: ignore[operator]
    poll.start()
    loop.exec()
    poll.stop()


def main() -> None:
    """Print {max_stall_ms, idle_max_stall_ms, remote_call_max_stall_ms, search_max_stall_ms, ...}."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000)
    args = parser.parse_args()

    from sandbox.harness import Fault

    data_dir, _ = populated_data_dir(args.patients)
    opened = open_app(data_dir, faults={"status": Fault.delay(2.0)})
    app, controller = opened.app, opened.controller
    meter = StallMeter()
    try:
        # Baseline in the same run: the idle window.
        run_loop_for(app, 1.0)
        meter.reset()
        run_loop_for(app, 1.0)
        idle = meter.max_ms

        # A national service that answers after 2 s (Outils > Tester les services nationaux).
        meter.reset()
        started = time.perf_counter()
        controller.check_services()
        dialog = controller.check_dialog
        run_loop_for(app, 0.1)
        dialog_open = meter.max_ms  # building and showing the dialog itself: UI work, not waiting
        meter.reset()
        run_loop_for(app, 15.0, until=lambda: dialog.finished_count() == len(opened.services.connectivity.names))
        remote_wait_s = time.perf_counter() - started
        remote = meter.max_ms
        dialog.close()

        # Type-ahead searches over the 100,000 patients, keystroke by keystroke.
        box = controller.window.patient_list.search_box
        shown: list[int] = []
        controller.list_controller.results_shown.connect(shown.append)
        meter.reset()
        typed = 0
        for word in ("martin", "dupont ma", "lefe", "12/03/1952", "bernard jean", "sa", ""):
            box.clear()
            for i in range(1, len(word) + 1):
                box.setText(word[:i])
                typed += 1
                run_loop_for(app, 0.05)
            before = len(shown)
            run_loop_for(app, 5.0, until=lambda b=before: len(shown) > b)
        search = meter.max_ms
    finally:
        opened.close()
    emit(
        {
            "bench": "ui_stall",
            "patients": args.patients,
            "max_stall_ms": round(max(remote, search), 1),
            "remote_call_max_stall_ms": round(remote, 1),
            "remote_call_wait_s": round(remote_wait_s, 2),
            "dialog_open_stall_ms": round(dialog_open, 1),
            "search_max_stall_ms": round(search, 1),
            "keystrokes": typed,
            "idle_max_stall_ms": round(idle, 1),
            "tick_ms": TICK_MS,
            "target_ms": 50,
        }
    )


if __name__ == "__main__":
    main()
