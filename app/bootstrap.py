"""Composition root: builds the store, the adapters and the services, passing everything by constructor."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.clock import SystemClock
from app.demo import DEFAULT_DEMO_USER
from app.services.accounts import DEMO_PASSWORD, AccountService, SecurityOptions
from app.services.agenda import AgendaService
from app.services.cards import CardService
from app.services.connectivity import ConnectivityService
from app.services.demo_data import DemoDataService
from app.services.documents import DocumentService
from app.services.ins_label import InsLabelService
from app.services.insi_lookup import InsiLookupService
from app.services.letters import LetterService
from app.services.maintenance import MaintenanceService
from app.services.patients import PatientService
from app.services.places import PlaceService
from app.services.practice import PracticeService
from app.services.prescriptions import PrescriptionCatalog, PrescriptionService
from app.services.qualification import QualificationService, VerificationJob
from app.services.record import RecordService
from app.services.signin_psc import PscSignInService
from app.services.traces import TraceService
from app.session import CurrentUser
from app.settings import ServiceEndpoint, Settings
from app.tasks import InlineTaskRunner, TaskRunner
from domain.agenda_ports import CalendarCodec, RoundSheetRenderer
from domain.document_ports import DocumentReader, DocumentRenderer, ReceivedCda
from domain.documents import HealthDocument
from domain.errors import RemoteServiceError, SecretStoreUnavailable
from domain.insi import InsiAnswer, InsiCallContext, InsiGateway, InsiTraitsQuery, VitaleBeneficiary
from domain.ports import AuditAnchorStore, Clock, SecretStore, UnitOfWorkFactory
from domain.psc import EsanteProxy, ProSanteConnect, RedirectReceiver
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
    insi_lookup: InsiLookupService
    accounts: AccountService
    qualification: QualificationService
    ins_verification: VerificationJob
    psc: PscSignInService
    agenda: AgendaService
    cards: CardService
    ins_label: InsLabelService
    record: RecordService
    documents: DocumentService
    letters: LetterService
    prescriptions: PrescriptionService
    secrets: SecretStore
    backup_before_migration: Path | None
    migrated_from: str | None
    schema_revision: str
    encryption: str = ""
    """Encryption at rest of the embedded store, in French (issue 7): shown in "À propos" and ``lgc db status``."""
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
    key, encryption = _store_key(settings, url, secrets)
    engine, outcome = open_database(
        url, backup_dir=settings.backup_dir, backup_keep=settings.backup_keep, key=key
    )
    anchor = _audit_anchor(settings, url, secrets)
    uow_factory = uow or SqlUnitOfWorkFactory(engine, anchor)
    cog = CsvCogReferential(RESOURCE_DIR / "cog", cache_dir=settings.cache_dir)
    configured = {"status": settings.status_service}
    configured.update(endpoints or {})
    gateways: dict[str, StatusGateway] = {
        name: _LazyStatusGateway(name, endpoint) for name, endpoint in configured.items() if endpoint.url
    }
    current_user = CurrentUser()
    practice = PracticeService(uow_factory, clock, current_user, demo=settings.is_demo)
    practice.ensure_reference_lists()
    patients = PatientService(uow_factory, cog, clock, current_user, search_limit=settings.search_limit)
    insi_lookup = InsiLookupService(_insi_gateway(settings, endpoints), uow_factory, clock, current_user, tasks)
    qualification = QualificationService(
        uow_factory, insi_lookup, clock, current_user, cog, open_file=patients.open_patient
    )
    documents = _document_service(uow_factory, clock, current_user)
    services = Services(
        settings=settings,
        tasks=tasks,
        clock=clock,
        current_user=current_user,
        patients=patients,
        practice=practice,
        places=PlaceService(cog),
        maintenance=MaintenanceService(
            uow_factory, maintenance_for(engine, url, key), clock, actor="Maintenance (lgc)"
        ),
        demo=DemoDataService(uow_factory, cog.demo_places),
        connectivity=ConnectivityService(gateways),
        traces=TraceService(uow_factory, anchor, clock),
        insi_lookup=insi_lookup,
        accounts=_account_service(uow_factory, clock, current_user, settings),
        qualification=qualification,
        ins_verification=VerificationJob(qualification, tasks),
        psc=build_psc_service(settings, endpoints, uow_factory, clock, current_user, secrets),
        agenda=_agenda_service(uow_factory, clock, current_user, settings),
        cards=card_service(settings),
        ins_label=_ins_label_service(uow_factory, clock, current_user),
        record=_record_service(uow_factory, clock, current_user, settings),
        documents=documents,
        letters=LetterService(uow_factory, documents, clock, current_user, RESOURCE_DIR / "letters"),
        prescriptions=_prescription_service(uow_factory, documents, clock, current_user, settings),
        secrets=secrets,
        backup_before_migration=outcome.backup_path,
        migrated_from=outcome.from_revision,
        schema_revision=outcome.to_revision,
    )
    services.encryption = encryption
    services._closers.append(lambda: close_engine(engine))
    services._closers.append(services.cards.stop_monitor)
    return services


def _prescription_service(
    uow: UnitOfWorkFactory, documents: DocumentService, clock: Clock, current_user: CurrentUser, settings: Settings
) -> PrescriptionService:
    """Prescriptions (issue 6): scopes and product list read on first use; the BDPM files when installed."""
    from adapters.bdpm import BdpmMedicineDatabase

    catalog = PrescriptionCatalog(RESOURCE_DIR / "prescription")
    medicines = BdpmMedicineDatabase(settings.medicines_dir)
    return PrescriptionService(uow, documents, clock, current_user, catalog, medicines)


def _ins_label_service(uow: UnitOfWorkFactory, clock: Clock, current_user: CurrentUser) -> InsLabelService:
    """The "INS à scanner" datamatrix (zxing-cpp) and label (reportlab), imported on first use."""
    from adapters.ins_label import ReportlabInsLabelWriter, ZxingDatamatrixRenderer

    renderer = ZxingDatamatrixRenderer()
    return InsLabelService(uow, renderer, ReportlabInsLabelWriter(renderer), clock, current_user)


def card_service(settings: Settings) -> CardService:
    """The card readers: PC/SC APDUs, or the GIE SESAM-Vitale library (card_reader = \"sesam-vitale\").

    Cheap: pyscard and the library are loaded on first use, off the UI thread.
    """
    from adapters.pcsc.monitor import PcscCardMonitor
    from adapters.pcsc.reader import PcscCardReader

    monitor = PcscCardMonitor()
    if settings.card_reader == "sesam-vitale":
        from adapters.sesam_vitale import SesamVitaleCardReader

        library = SesamVitaleCardReader(settings.sesam_vitale_library)
        return CardService(monitor, library, library)
    reader = PcscCardReader()
    return CardService(monitor, reader, reader)


def _record_service(
    uow: UnitOfWorkFactory, clock: Clock, current_user: CurrentUser, settings: Settings
) -> RecordService:
    """The clinical record (issue 6); templates and rule data are read on first use, not here."""
    from adapters.record_files import FileAttachmentStore

    return RecordService(
        uow, clock, current_user, RESOURCE_DIR, FileAttachmentStore(settings.data_dir / "pieces-jointes")
    )


def _document_service(uow: UnitOfWorkFactory, clock: Clock, current_user: CurrentUser) -> DocumentService:
    """Health documents (issue 4); lxml, the schematrons, reportlab and pikepdf load on first use."""
    return DocumentService(uow, _LazyDocumentRenderer(), _LazyDocumentReader(), clock, current_user)


class _LazyDocumentRenderer:
    """Builds the CDA/PDF renderer on first use (start-up does not pay for lxml, reportlab, pikepdf)."""

    def __init__(self) -> None:
        self._impl: DocumentRenderer | None = None
        self._lock = threading.Lock()

    def _get(self) -> DocumentRenderer:
        with self._lock:
            if self._impl is None:
                from adapters.cda.documents import CdaDocumentRenderer
                from app.version import technical_version

                self._impl = CdaDocumentRenderer(application_version=technical_version())
            return self._impl

    def pdf(self, document: HealthDocument, *, rgpd_footer: str) -> bytes:
        """Delegate."""
        return self._get().pdf(document, rgpd_footer=rgpd_footer)

    def cda_n1(self, document: HealthDocument, pdf: bytes) -> bytes:
        """Delegate."""
        return self._get().cda_n1(document, pdf)

    def cda_n3(self, document: HealthDocument, pdf: bytes) -> bytes:
        """Delegate."""
        return self._get().cda_n3(document, pdf)

    def xdm(self, items: Sequence[tuple[HealthDocument, bytes, str]], *, sender: str) -> bytes:
        """Delegate."""
        return self._get().xdm(items, sender=sender)

    def html(self, cda: bytes) -> str:
        """Delegate."""
        return self._get().html(cda)


class _LazyDocumentReader:
    """Builds the hardened CDA/XDM/PDF reader (and its XSD/schematrons) on first use."""

    def __init__(self) -> None:
        self._impl: DocumentReader | None = None
        self._lock = threading.Lock()

    def _get(self) -> DocumentReader:
        with self._lock:
            if self._impl is None:
                from adapters.cda.documents import CdaDocumentReader

                self._impl = CdaDocumentReader()
            return self._impl

    def read_cda(self, data: bytes) -> ReceivedCda:
        """Delegate."""
        return self._get().read_cda(data)

    def read_xdm(self, data: bytes) -> list[tuple[str, bytes]]:
        """Delegate."""
        return self._get().read_xdm(data)

    def check_pdf(self, data: bytes) -> None:
        """Delegate."""
        self._get().check_pdf(data)

    def validate(self, data: bytes) -> list[tuple[str, str, str, str]]:
        """Delegate."""
        return self._get().validate(data)


KEY_PROBE_SECRET = "base-de-donnees-sonde"  # noqa: S105 - a name looked up to probe the store
ENCRYPTED_TEXT = "base chiffrée (SQLCipher, AES-256 ; clé dans le trousseau du système)"
PLAIN_TEXT = "base non chiffrée (« lgc db encrypt » pour la chiffrer)"
NO_STORE_TEXT = "base non chiffrée : aucun trousseau sécurisé sur ce poste pour en garder la clé"
SERVER_TEXT = "base PostgreSQL : chiffrement assuré par le serveur (disque ou tablespace chiffré)"


def _store_key(settings: Settings, url: str, secrets: SecretStore) -> tuple[bytes | None, str]:
    """The SQLCipher key of the embedded store and a French status (issue 7).

    A new embedded store in production mode is encrypted from the start when a secure credential store
    exists; otherwise it stays plain, with a warning. PostgreSQL is not affected.

    Raises:
        StorageError: the store is encrypted but its key is not available (French message).
    """
    from adapters.db.database import sqlite_path
    from adapters.db.encryption import load_key, new_key

    path = sqlite_path(url)
    if path is None:
        return None, SERVER_TEXT if url.startswith("postgresql") else PLAIN_TEXT
    key = load_key(path, secrets)
    if key is not None:
        return key, ENCRYPTED_TEXT
    is_new = not path.exists() or path.stat().st_size == 0
    if is_new and not settings.is_demo:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return new_key(path, secrets), ENCRYPTED_TEXT
        except SecretStoreUnavailable:
            log.warning("No secure credential store: the new embedded store stays unencrypted")
            return None, NO_STORE_TEXT
    return None, PLAIN_TEXT


def encrypt_store(services: Services) -> Path:
    """``lgc db encrypt``: close the store, back it up (checked), encrypt it in place, check it, trace it.

    Returns:
        The plain backup made first (to delete or keep offline once everything works).

    Raises:
        InvalidInput: not an embedded store, or already encrypted.
        SecretStoreUnavailable: no credential store for the key (the store stays plain).
        StorageError: the encrypted copy did not check out (the plain store is untouched).
    """
    import datetime as dt

    from adapters.db.database import backup_sqlite, sqlite_path
    from adapters.db.encryption import encrypt_file, is_plain_sqlite, load_key
    from domain.audit import AuditAction, AuditEvent
    from domain.errors import InvalidInput

    settings = services.settings
    path = sqlite_path(settings.effective_database_url)
    if path is None:
        raise InvalidInput(
            "Le chiffrement par LGC concerne la base intégrée (SQLite). Pour PostgreSQL, chiffrez le disque "
            "ou le stockage du serveur."
        )
    if not path.exists() or not is_plain_sqlite(path) or load_key(path, services.secrets) is not None:
        raise InvalidInput("La base de ce poste est déjà chiffrée : rien à faire.")
    try:
        services.secrets.get(KEY_PROBE_SECRET)  # fails early, before anything changes, without a store
    except SecretStoreUnavailable as exc:
        from adapters.db.encryption import NO_STORE_FOR_KEY

        raise SecretStoreUnavailable(NO_STORE_FOR_KEY) from exc
    services.close()
    services._closers.clear()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    backup = backup_sqlite(path, settings.backup_dir / f"avant-chiffrement-{stamp}.sqlite3")
    encrypt_file(path, services.secrets)
    key = load_key(path, services.secrets)
    from adapters.db.database import close_engine, open_database
    from adapters.db.repositories import SqlUnitOfWorkFactory

    engine, _ = open_database(settings.effective_database_url, key=key)
    try:
        uow = SqlUnitOfWorkFactory(engine, _audit_anchor(settings, settings.effective_database_url, services.secrets))
        with uow() as work:
            work.audit.append(
                AuditEvent(
                    at=services.clock.now(),
                    actor="Maintenance (lgc)",
                    action=AuditAction.DATABASE_ENCRYPTION,
                    detail={"algorithme": "SQLCipher 4 AES-256", "sauvegarde_non_chiffree": str(backup)},
                )
            )
            work.commit()
    finally:
        close_engine(engine)
    return backup


def _audit_anchor(settings: Settings, url: str, secrets: SecretStore) -> AuditAnchorStore:
    """The traces' anchor file (next to the SQLite file, or in the data directory for PostgreSQL)."""
    from adapters.db.audit_anchor import FileAuditAnchor, anchor_path_for

    return FileAuditAnchor(anchor_path_for(url, settings.data_dir), secrets)


def _account_service(
    uow: UnitOfWorkFactory, clock: Clock, current_user: CurrentUser, settings: Settings
) -> AccountService:
    """Local accounts with argon2id hashes (argon2 is imported on first use, not at start-up)."""
    from adapters.security.argon2_hasher import Argon2PasswordHasher

    options = SecurityOptions(
        inactivity_minutes=settings.inactivity_lock_minutes, standard_max_age_days=settings.password_max_age_days
    )
    return AccountService(uow, Argon2PasswordHasher(), clock, current_user, options)


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
                    client_cert=(
                        (Path(endpoint.client_cert), Path(endpoint.client_key))
                        if endpoint.client_cert and endpoint.client_key
                        else None
                    ),
                )
            gateway = self._gateway
        return gateway.fetch_status()


def _insi_gateway(settings: Settings, endpoints: dict[str, ServiceEndpoint] | None) -> InsiGateway:
    """The INSi endpoint: the stand-in's in demo mode (``insi``, or ``insi-mtls`` in organisation mode)."""
    endpoint = settings.insi_service
    organisation = endpoint.auth == "organisation"
    stand_in = (endpoints or {}).get("insi-mtls" if organisation else "insi")
    if stand_in is not None:
        endpoint = stand_in
    return _LazyInsiGateway(endpoint)


def insi_lookup_with(services: Services, endpoint: ServiceEndpoint) -> InsiLookupService:
    """An INSi lookup on another endpoint than the configured one (``lgc ins search --endpoint``, demo stand-in)."""
    return InsiLookupService(
        _LazyInsiGateway(endpoint), services.insi_lookup.uow, services.clock, services.current_user, services.tasks
    )


class _LazyInsiGateway:
    """Builds ``SoapInsiGateway`` on first use (off the UI thread): start-up pays neither lxml, httpx nor TLS."""

    def __init__(self, endpoint: ServiceEndpoint) -> None:
        self._endpoint = endpoint
        self._gateway: InsiGateway | None = None
        self._lock = threading.Lock()

    def _get(self) -> InsiGateway:
        with self._lock:
            if self._gateway is None:
                endpoint = self._endpoint
                if not endpoint.url:
                    raise RemoteServiceError(
                        "Le téléservice INSi n'est pas configuré sur ce poste : renseignez la section "
                        "[services.insi] de lgc.toml (adresse, certificats).",
                        retryable=False,
                    )
                from adapters.insi import InsiAuth, InsiSoftware, SoapInsiGateway
                from app.version import technical_version

                auth = (
                    InsiAuth.organisation(Path(endpoint.client_cert), Path(endpoint.client_key))
                    if endpoint.auth == "organisation"
                    else InsiAuth.cps()
                )
                self._gateway = SoapInsiGateway(
                    endpoint.url,
                    ca_cert=Path(endpoint.ca_cert) if endpoint.ca_cert else None,
                    timeout_s=endpoint.timeout_s,
                    auth=auth,
                    software=InsiSoftware(version=technical_version()),
                )
            return self._gateway

    def search_by_traits(self, query: InsiTraitsQuery, context: InsiCallContext) -> InsiAnswer:
        """Delegate to the SOAP gateway, creating it the first time."""
        return self._get().search_by_traits(query, context)

    def search_by_vitale(self, beneficiary: VitaleBeneficiary, context: InsiCallContext) -> InsiAnswer:
        """Delegate to the SOAP gateway, creating it the first time."""
        return self._get().search_by_vitale(beneficiary, context)


def _agenda_service(
    uow: UnitOfWorkFactory, clock: Clock, current_user: CurrentUser, settings: Settings
) -> AgendaService:
    """The agenda with its iCalendar codec and round-sheet renderer, imported on first use (start-up stays quick).

    No reminder sender is configured yet: reminders are listed in the application.
    """

    def codec() -> CalendarCodec:
        from adapters.ical import IcsCalendarCodec

        return IcsCalendarCodec()

    def round_sheets() -> RoundSheetRenderer:
        from adapters.round_sheet_pdf import PdfRoundSheetRenderer

        return PdfRoundSheetRenderer()

    return AgendaService(
        uow,
        clock,
        current_user,
        codec=codec,
        round_sheets=round_sheets,
        reminders=None,
        output_dir=settings.data_dir / "tournees",
    )


def prepare_demo(services: Services, patients: int | None = None, *, documents: bool = True) -> None:
    """On a new demo installation: the demo practice and its patients; sign in the demo user.

    ``documents=False`` skips the demo health documents (tests that do not need them save ~1 s).
    """
    created = services.demo.install_practice()
    if created or services.demo.patient_count() == 0:
        count = services.settings.demo_patients if patients is None else patients
        services.demo.add_patients(count)
    _register_demo_identities(services)  # the INSi stand-in knows the demo patients with an INS (once)
    services.agenda.install_demo_week()  # a busy demo week, once, on an empty agenda (issue 5)
    services.accounts.ensure_demo_passwords(DEMO_PASSWORD)
    login = services.settings.current_user or DEFAULT_DEMO_USER
    services.practice.sign_in(login)
    if documents:
        from app.services.demo_documents import install_demo_documents

        install_demo_documents(services.documents, services.patients)  # once, on a store without documents
        from app.services.demo_letters import install_demo_letters

        install_demo_letters(services.letters, services.patients)  # once, on an empty correspondents book
        from app.services.demo_prescriptions import install_demo_prescriptions

        install_demo_prescriptions(services.prescriptions, services.patients)  # once (issue 6)


def _register_demo_identities(services: Services) -> None:
    """Write, once per demo data directory, the registry of the INSi stand-in: the demo patients whose INS came
    from the INSi (récupérée, qualifiée), with their traits and INS. Without it, verifying their INS in demo mode
    (on opening, and the periodic background verification) would answer "no identity found" and demote them."""
    from sandbox.test_identities import TestIdentity, demo_registry_path, write_demo_registry

    if demo_registry_path(services.settings.data_dir).exists():
        return
    people = []
    for patient in services.demo.patients_with_ins():
        traits, ins = patient.identity.traits, patient.identity.ins
        if ins is None or traits.birth_date is None or traits.sex is None:
            continue
        people.append(
            TestIdentity(
                key=f"demo-{patient.id}",
                purpose="Patient des données de démonstration (INS récupérée ou qualifiée)",
                birth_name=traits.birth_name,
                given_names=traits.birth_given_names,
                sex=traits.sex.value,
                birth_date=traits.birth_date.isoformat(),
                birth_place_code=traits.birth_place_code,
                nir=ins.matricule[:13],
                nir_key=ins.matricule[13:],
                oid=ins.oid,
            )
        )
    count = write_demo_registry(services.settings.data_dir, people)
    log.info("Demo INSi registry written: %d demo patients with an INS", count)


def sign_in_configured_user(services: Services) -> None:
    """Sign in the user named in the settings (until Pro Santé Connect and local accounts exist)."""
    login = services.settings.current_user
    if login:
        services.practice.sign_in(login)
    else:
        users = services.practice.users()
        if users:
            services.practice.sign_in(users[0].login)


def start_demo_cards(settings: Settings, then: Callable[[], None] | None = None) -> Callable[[], None]:
    """Start the virtual card readers of the demo mode in the background (pcscd + vpcd, cards inserted by
    ``lgc carte insert``); never blocks start-up and never fails it (a problem is logged).

    Returns:
        A function that stops them, then calls ``then``.
    """
    from sandbox.pcscd import DemoCardStack

    stack = DemoCardStack(settings.data_dir).start(background=True, delay_s=2.0)

    def stop() -> None:
        stack.stop()
        if then is not None:
            then()

    return stop


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
    if "insi" in endpoints:
        endpoints["insi"] = ServiceEndpoint(url=harness.url("insi", "/lps"), ca_cert=ca, timeout_s=10.0, auth="cps")
    if "insi-mtls" in endpoints:
        # The organisation certificate of the demo centre de santé, issued by the sandbox test CA.
        cert, key = harness.pki.issue_client_cert("INSI-AUTO", organization="Centre de santé de démonstration")
        endpoints["insi-mtls"] = ServiceEndpoint(
            url=harness.url("insi-mtls", "/lps"),
            ca_cert=ca,
            client_cert=str(cert),
            client_key=str(key),
            timeout_s=10.0,
            auth="organisation",
        )
    return harness.stop, endpoints


def secret_store() -> SecretStore:
    """The credential-store adapter (for the command line)."""
    from adapters.secrets.keyring_store import KeyringSecretStore

    return KeyringSecretStore()


def build_psc_service(
    settings: Settings,
    endpoints: dict[str, ServiceEndpoint] | None,
    uow: UnitOfWorkFactory,
    clock: Clock,
    current_user: CurrentUser,
    secrets: SecretStore,
) -> PscSignInService:
    """The Pro Santé Connect sign-in service; its OpenID client (httpx, joserfc) is built on first use."""
    from app.psc_settings import PSC_CLIENT_SECRET_NAME, load_psc_settings

    psc = load_psc_settings(settings, endpoints)

    def client() -> ProSanteConnect:
        from adapters.psc.client import OidcProSanteConnect, PscClientConfig

        assert psc is not None
        try:
            secret = secrets.get(PSC_CLIENT_SECRET_NAME) or ""
        except SecretStoreUnavailable:
            secret = ""
        cert = (Path(psc.client_cert), Path(psc.client_key)) if psc.client_cert else None
        return OidcProSanteConnect(
            PscClientConfig(
                issuer=psc.issuer,
                client_id=psc.client_id,
                client_secret=secret,
                discovery_url=psc.discovery_url,
                ca_cert=Path(psc.ca_cert) if psc.ca_cert else None,
                client_cert=cert,
                timeout_s=psc.timeout_s,
                clock_skew_s=psc.clock_skew_s,
            )
        )

    def receiver() -> RedirectReceiver:
        from adapters.psc.loopback import LoopbackRedirectReceiver

        return LoopbackRedirectReceiver()

    return PscSignInService(client if psc is not None else None, receiver, uow, clock, current_user)


def build_esante_proxy(
    settings: Settings, endpoints: dict[str, ServiceEndpoint] | None, *, port: int | None = None
) -> EsanteProxy:
    """The Proxy e-santé: the stand-ins' PSC and Espace de confiance in demo mode, else ``[proxy]`` of lgc.toml.

    Raises:
        InvalidInput: Not configured, or malformed configuration (French message).
    """
    from adapters.proxy.engine import BackendConfig, ProxyConfig, ProxyEngine
    from adapters.proxy.server import ProxyServer
    from app.psc_settings import PROXY_CLIENT_SECRET_NAME, load_proxy_settings
    from domain.errors import InvalidInput

    psc, edc = (endpoints or {}).get("psc"), (endpoints or {}).get("edc")
    if psc is not None and edc is not None:
        from sandbox.ca import TestPki
        from sandbox.runner import PKI_DIRNAME
        from sandbox.services.edc import DEFAULT_BACKENDS
        from sandbox.services.psc import PROXY_CLIENT_ID, PROXY_CLIENT_SECRET, REALM_PATH

        cert = TestPki.ensure(settings.data_dir / PKI_DIRNAME).issue_client_cert("LGC Proxy e-sante (TEST)")
        ca = Path(edc.ca_cert) if edc.ca_cert else None
        config = ProxyConfig(
            psc_issuer=psc.url.rstrip("/") + REALM_PATH,
            psc_ca_cert=Path(psc.ca_cert) if psc.ca_cert else None,
            client_id=PROXY_CLIENT_ID,
            client_secret=PROXY_CLIENT_SECRET,
            client_cert=cert,
            backends={
                name: BackendConfig(
                    name, f"{edc.url}/api/{name}", f"{edc.url}/realms/{name}/protocol/openid-connect/token", ca_cert=ca
                )
                for name in DEFAULT_BACKENDS
            },
            ciba_timeout_s=30.0,
        )
        return ProxyServer(ProxyEngine(config), port or 0)
    proxy = load_proxy_settings(settings.data_dir)
    if proxy is None:
        raise InvalidInput("Le proxy e-santé n'est pas configuré : ajoutez une section [proxy] à lgc.toml.")
    try:
        secret = secret_store().get(PROXY_CLIENT_SECRET_NAME) or ""
    except SecretStoreUnavailable:
        secret = ""
    config = ProxyConfig(
        psc_issuer=proxy.psc_issuer,
        psc_ca_cert=Path(proxy.psc_ca_cert) if proxy.psc_ca_cert else None,
        client_id=proxy.client_id,
        client_secret=secret,
        client_cert=(Path(proxy.client_cert), Path(proxy.client_key)),
        backends={
            name: BackendConfig(
                name, b.url, b.token_endpoint, b.audience, Path(b.ca_cert) if b.ca_cert else None
            )
            for name, b in proxy.backends.items()
        },
    )
    return ProxyServer(ProxyEngine(config), proxy.listen_port if port is None else port)
