"""Opens the real main window in-process for the GUI benches (offscreen unless a display is wanted)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@dataclass
class OpenApp:
    """The running application pieces a bench pokes at."""

    app: Any
    services: Any
    window: Any
    controller: Any
    harness: Any

    def close(self) -> None:
        """Close the window, stop workers and stand-ins."""
        self.window.close()
        self.services.close()
        self.harness.stop()


def open_app(data_dir: Path, faults: dict[str, Any] | None = None) -> OpenApp:
    """Build services with the real QtTaskRunner and stand-ins, show the main window, wait until ready."""
    from app.bootstrap import build, prepare_demo
    from app.settings import ServiceEndpoint, load_settings
    from sandbox.runner import build_harness
    from ui.app import create_main_window, ensure_application
    from ui.tasks_qt import QtTaskRunner

    app = ensure_application(["lgc-bench"])
    settings = load_settings(data_dir)
    harness = build_harness(settings.data_dir, faults=faults or {})
    harness.start()
    endpoints = {
        name: ServiceEndpoint(url=harness.url(name), ca_cert=str(harness.ca_cert_path), timeout_s=10.0)
        for name in harness.service_names
    }
    services = build(settings, tasks=QtTaskRunner(), endpoints=endpoints)
    window, controller = create_main_window(services, prepare=lambda: prepare_demo(services))
    ready: list[bool] = []
    controller.ready.connect(lambda: ready.append(True))
    window.show()
    controller.start()
    wait_until(app, lambda: bool(ready), 120)
    return OpenApp(app, services, window, controller, harness)


def wait_until(app: Any, predicate: Callable[[], bool], timeout_s: float) -> None:
    """Process events until ``predicate`` holds (raises TimeoutError after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the application did not get there in time")
        app.processEvents()
        time.sleep(0.001)
