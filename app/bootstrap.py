"""Composition root: builds the store, the adapters and the services, passing everything by constructor."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.clock import SystemClock
from app.demo import DEFAULT_DEMO_USER
from app.services.connectivity import ConnectivityService
from app.services.demo_data import DemoDataService
from app.services.maintenance import MaintenanceService
from app.services.patients import PatientService
from app.services.places import PlaceService
from app.services.practice import PracticeService
from app.services.traces import TraceService
from app.session import CurrentUser
from app.settings import ServiceEndpoint, Settings
from app.tasks import InlineTaskRunner, TaskRunner
from domain.errors import SecretStoreUnavailable
from domain.ports import Clock, SecretStore, UnitOfWorkFactory
from domain.remote import RemoteStatus, StatusGateway

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
    connectivity: ConnectivityService
    traces: TraceService
    secrets: SecretStore
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
    endpoints: dict[str, ServiceEndpoint] | None = None,
    secrets: SecretStore | None = None,
) -> Services:
    """Open the store (migrating it after a backup copy) and build every service.

    Tests pass fakes for ``tasks``, ``clock`` or ``uow``; nothing else is global. ``endpoints`` replaces the
    configured national-service endpoints (demo mode passes those of the local stand-ins).

    Raises:
        StorageError: the store cannot be used (French message; nothing lost).
    """
    from adapters.cog.referential import CsvCogReferential
    from adapters.db.database import close_engine, open_database
    from adapters.db.maintenance import maintenance_for
    from adapters.db.repositories import SqlUnitOfWorkFactory
    from adapters.secrets.keyring_store import KeyringSecretStore

    tasks = tasks or InlineTaskRunner()
    clock = clock or SystemClock()
    secrets = secrets or KeyringSecretStore()
    url = database_url_with_secret(settings.effective_database_url, secrets)
    engine, outcome = open_database(url, backup_dir=settings.backup_dir, backup_keep=settings.backup_keep)
    uow_factory = uow or SqlUnitOfWorkFactory(engine)
    cog = CsvCogReferential(RESOURCE_DIR / "cog", cache_dir=settings.cache_dir)
    configured = {"status": settings.status_service}
    configured.update(endpoints or {})
    gateways: dict[str, StatusGateway] = {
        name: _LazyStatusGateway(name, endpoint) for name, endpoint in configured.items() if endpoint.url
    }
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
        connectivity=ConnectivityService(gateways),
        traces=TraceService(uow_factory),
        secrets=secrets,
        backup_before_migration=outcome.backup_path,
        migrated_from=outcome.from_revision,
        schema_revision=outcome.to_revision,
    )
    services._closers.append(lambda: close_engine(engine))
    return services


DATABASE_PASSWORD_SECRET = "base-de-donnees"  # noqa: S105 - the name of the secret, not a secret


def database_url_with_secret(url: str, secrets: SecretStore) -> str:
    """Add the PostgreSQL password from the credential store when the URL has none.

    The password never sits in lgc.toml: ``lgc secret set base-de-donnees`` stores it in the OS store.
    """
    if not url.startswith("postgresql"):
        return url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.password:
        return url
    try:
        password = secrets.get(DATABASE_PASSWORD_SECRET)
    except SecretStoreUnavailable:
        # The server may need no password (trust or peer authentication); if it does, its refusal says so.
        log.warning("No credential store: connecting to PostgreSQL without a stored password")
        return url
    if not password:
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


class _LazyStatusGateway:
    """Builds the HTTPS adapter on first use (off the UI thread): start-up does not pay for httpx and TLS."""

    def __init__(self, name: str, endpoint: ServiceEndpoint) -> None:
        self._name = name
        self._endpoint = endpoint
        self._gateway: StatusGateway | None = None
        self._lock = threading.Lock()

    def fetch_status(self) -> RemoteStatus:
        """Delegate to the real gateway, creating it the first time."""
        with self._lock:
            if self._gateway is None:
                from adapters.status_probe import HttpsStatusGateway

                endpoint = self._endpoint
                self._gateway = HttpsStatusGateway(
                    endpoint.url,
                    Path(endpoint.ca_cert) if endpoint.ca_cert else None,
                    timeout_s=endpoint.timeout_s,
                    label=self._name,
                )
            gateway = self._gateway
        return gateway.fetch_status()


def prepare_demo(services: Services, patients: int | None = None) -> None:
    """On a new demo installation: the demo practice and its patients; sign in the demo user."""
    created = services.demo.install_practice()
    if created or services.demo.patient_count() == 0:
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


def start_demo_sandbox(settings: Settings) -> tuple[Callable[[], None], dict[str, ServiceEndpoint]]:
    """Start the local stand-ins of the national services (demo mode) on 127.0.0.1.

    Returns:
        A function that stops them, and the endpoints to hand to ``build``.
    """
    from sandbox.runner import build_harness

    harness = build_harness(settings.data_dir)
    harness.start()
    ca = str(harness.ca_cert_path)
    endpoints = {
        name: ServiceEndpoint(url=harness.url(name), ca_cert=ca, timeout_s=10.0) for name in harness.service_names
    }
    return harness.stop, endpoints


def secret_store() -> SecretStore:
    """The credential-store adapter (for the command line)."""
    from adapters.secrets.keyring_store import KeyringSecretStore

    return KeyringSecretStore()
