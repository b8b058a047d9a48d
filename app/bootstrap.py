"""Composition root: builds the store, the adapters and the services, passing everything by constructor."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from domain.ports import Clock, UnitOfWorkFactory

from app.clock import SystemClock
from app.demo import DEFAULT_DEMO_USER
from app.services.demo_data import DemoDataService
from app.services.maintenance import MaintenanceService
from app.services.patients import PatientService
from app.services.places import PlaceService
from app.services.practice import PracticeService
from app.session import CurrentUser
from app.settings import Settings
from app.tasks import InlineTaskRunner, TaskRunner

log = logging.getLogger("lgc.bootstrap")

RESOURCE_DIR = Path(__file__).resolve().parents[1] / "resources"


@dataclass
class Services:
    """Everything the UI and the command line use; built once by ``build``."""

    settings: Settings
    tasks: TaskRunner
    clock: Clock
    current_user: CurrentUser
    patients: PatientService
    practice: PracticeService
    places: PlaceService
    maintenance: MaintenanceService
    demo: DemoDataService
    backup_before_migration: Path | None
    migrated_from: str | None
    schema_revision: str
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Stop workers and release the store."""
        self.tasks.shutdown()
        for closer in reversed(self._closers):
            closer()


def build(
    settings: Settings,
    *,
    tasks: TaskRunner | None = None,
    clock: Clock | None = None,
    uow: UnitOfWorkFactory | None = None,
) -> Services:
    """Open the store (migrating it after a backup copy) and build every service.

    Tests pass fakes for ``tasks``, ``clock`` or ``uow``; nothing else is global.

    Raises:
        StorageError: the store cannot be used (French message; nothing lost).
    """
    from adapters.cog.referential import CsvCogReferential
    from adapters.db.database import open_database
    from adapters.db.maintenance import maintenance_for
    from adapters.db.repositories import SqlUnitOfWorkFactory

    tasks = tasks or InlineTaskRunner()
    clock = clock or SystemClock()
    url = settings.effective_database_url
    engine, outcome = open_database(url, backup_dir=settings.backup_dir, backup_keep=settings.backup_keep)
    uow_factory = uow or SqlUnitOfWorkFactory(engine)
    cog = CsvCogReferential(RESOURCE_DIR / "cog", cache_dir=settings.cache_dir)
    current_user = CurrentUser()
    practice = PracticeService(uow_factory, clock, current_user, demo=settings.is_demo)
    practice.ensure_reference_lists()
    services = Services(
        settings=settings,
        tasks=tasks,
        clock=clock,
        current_user=current_user,
        patients=PatientService(uow_factory, cog, clock, current_user, search_limit=settings.search_limit),
        practice=practice,
        places=PlaceService(cog),
        maintenance=MaintenanceService(uow_factory, maintenance_for(engine, url), clock, actor="Maintenance (lgc)"),
        demo=DemoDataService(uow_factory, cog.demo_places),
        backup_before_migration=outcome.backup_path,
        migrated_from=outcome.from_revision,
        schema_revision=outcome.to_revision,
    )
    services._closers.append(engine.dispose)
    return services


def prepare_demo(services: Services, patients: int | None = None) -> None:
    """On a new demo installation: the demo practice and its patients; sign in the demo user."""
    if services.demo.install_practice():
        count = services.settings.demo_patients if patients is None else patients
        services.demo.add_patients(count)
    login = services.settings.current_user or DEFAULT_DEMO_USER
    services.practice.sign_in(login)


def sign_in_configured_user(services: Services) -> None:
    """Sign in the user named in the settings (until Pro Santé Connect and local accounts exist)."""
    login = services.settings.current_user
    if login:
        services.practice.sign_in(login)
    else:
        users = services.practice.users()
        if users:
            services.practice.sign_in(users[0].login)
