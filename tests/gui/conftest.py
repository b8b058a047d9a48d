"""GUI test fixtures: offscreen Qt, real services on a temporary SQLite store with demo patients."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator  # after the platform choice: Qt must not load before it
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from app.bootstrap import Services, build, prepare_demo
from app.settings import load_settings
from app.tasks import TaskRunner

DEMO_PATIENTS = 300

ServicesFactory = Callable[[TaskRunner], Services]


@pytest.fixture
def make_services(qapp: QApplication, tmp_path: Path) -> Iterator[ServicesFactory]:
    """Build real services (SQLite in ``tmp_path``, demo practice, 300 patients, user "ide") with a runner."""
    built: list[Services] = []

    def factory(tasks: TaskRunner) -> Services:
        services = build(load_settings(tmp_path / "data"), tasks=tasks)
        built.append(services)
        prepare_demo(services, DEMO_PATIENTS)
        return services

    yield factory
    for services in built:
        services.close()
