"""Ports: the interfaces the domain and the services need from the outside world."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from domain.audit import AuditEvent, ChainAnchor
from domain.identity import IdentityStatus, Sex, StatusChange
from domain.patient import Patient
from domain.practice import IdentityDocumentType, Structure, UserAccount
from domain.search import SearchQuery

if TYPE_CHECKING:  # the areas' repositories are only types here: importing them all costs start-up time
    from domain.agenda_ports import AgendaRepository
    from domain.document_ports import DocumentRepository
    from domain.ins_qualification import InsRepository
    from domain.letters import LetterRepository
    from domain.prescriptions import PrescriptionRepository
    from domain.psc import PscLinkRepository
    from domain.record import RecordRepository
    from domain.security import AccountRepository


class Clock(Protocol):
    """Current time (tests freeze it)."""

    def now(self) -> dt.datetime:
        """Timezone-aware current time."""
        ...

    def today(self) -> dt.date:
        """Current local date."""
        ...


@dataclass(frozen=True, slots=True)
class PatientRow:
    """One line of the patient list: what the list and the identity banner need, nothing more."""

    id: int
    birth_name: str
    used_name: str
    first_given_name: str
    used_given_name: str
    birth_date: dt.date
    sex: Sex
    status: IdentityStatus
    doubtful: bool
    fictitious: bool
    homonym: bool
    matricule: str


class PatientRepository(Protocol):
    """Storage of patient records."""

    def add(self, patient: Patient) -> int:
        """Store a new patient; return its id."""
        ...

    def get(self, patient_id: int) -> Patient:
        """Load a patient. Raises NotFound."""
        ...

    def update(self, patient: Patient) -> Patient:
        """Save a changed patient whose ``version`` is the one read; return it with the new version.

        Raises ConflictError when another workstation saved it in between.
        """
        ...

    def search(self, query: SearchQuery, limit: int) -> list[PatientRow]:
        """Patients matching the criteria, sorted by name."""
        ...

    def count(self) -> int:
        """Number of patients."""
        ...

    def add_status_change(self, patient_id: int, change: StatusChange) -> None:
        """Append to the identity status history."""
        ...

    def status_history(self, patient_id: int) -> list[StatusChange]:
        """The identity status history, oldest first."""
        ...

    def add_many(self, patients: list[Patient]) -> list[int]:
        """Store many new patients at once; return their ids in order."""
        ...

    def add_status_changes(self, changes: list[tuple[int, StatusChange]]) -> None:
        """Append many status-history entries at once."""
        ...

    def count_by_status(self) -> dict[IdentityStatus, int]:
        """Number of patients per identity status."""
        ...


class AuditRepository(Protocol):
    """The traces, append-only and hash-chained."""

    def append(self, event: AuditEvent) -> None:
        """Append a trace."""
        ...

    def list(self, *, patient_id: int | None = None, limit: int = 1000) -> list[AuditEvent]:
        """Most recent traces first."""
        ...

    def verify_chain(self) -> int | None:
        """Return None when the chain is intact, else the id of the first broken trace."""
        ...

    def last(self) -> ChainAnchor | None:
        """Id and hash of the newest trace (None when there is none)."""
        ...

    def hash_at(self, trace_id: int) -> str | None:
        """The stored hash of trace ``trace_id`` (None when it does not exist)."""
        ...


class PracticeRepository(Protocol):
    """The practice, its users and its configurable lists."""

    def structures(self) -> list[Structure]:
        """Every structure (cabinet, centre de santé)."""
        ...

    def add_structure(self, structure: Structure) -> int:
        """Store a structure; return its id."""
        ...

    def users(self) -> list[UserAccount]:
        """Every user account."""
        ...

    def add_user(self, user: UserAccount) -> int:
        """Store a user account; return its id."""
        ...

    def user_by_login(self, login: str) -> UserAccount | None:
        """The account with this login, if any."""
        ...

    def identity_document_types(self) -> list[IdentityDocumentType]:
        """The identity document types the practice configured."""
        ...

    def save_identity_document_type(self, doc_type: IdentityDocumentType) -> None:
        """Add or update a document type."""
        ...


class UnitOfWork(Protocol):
    """One transaction: rolled back unless ``commit()`` is called."""

    @property
    def patients(self) -> PatientRepository:
        """Patient records."""
        ...

    @property
    def audit(self) -> AuditRepository:
        """Traces."""
        ...

    @property
    def practice(self) -> PracticeRepository:
        """The practice."""
        ...

    @property
    def ins(self) -> InsRepository:
        """INS history, verification dates and queue, INS indicators."""
        ...

    @property
    def accounts(self) -> AccountRepository:
        """Security state of the local accounts (issue 7)."""
        ...

    @property
    def agenda(self) -> AgendaRepository:
        """Appointments, care series, working hours, absences, waiting list (issue 5)."""
        ...

    @property
    def psc_links(self) -> PscLinkRepository:
        """Links between Pro Santé Connect identities and local accounts (issue 7)."""
        ...

    @property
    def record(self) -> RecordRepository:
        """The clinical record: observations, structured lists, drafts, macros, templates (issue 6)."""
        ...

    @property
    def documents(self) -> DocumentRepository:
        """Health documents: CDA, PDF/A, versions (issue 4)."""
        ...

    @property
    def letters(self) -> LetterRepository:
        """Letters, letter templates and the correspondents book (issue 6)."""
        ...

    @property
    def prescriptions(self) -> PrescriptionRepository:
        """Prescriptions and their structured lines (issue 6)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None:
        """Make the changes durable."""
        ...


class UnitOfWorkFactory(Protocol):
    """Opens units of work."""

    def __call__(self) -> UnitOfWork: ...


class DatabaseMaintenance(Protocol):
    """Backup and restore of the whole store."""

    def backup(self, destination: Path) -> Path:
        """Write a consistent, checked backup; return its path."""
        ...

    def restore(self, source: Path) -> Path:
        """Replace the store with a backup; return where the previous store was kept."""
        ...


class SecretStore(Protocol):
    """The operating system's credential store (tokens, certificate passwords, database password)."""

    def get(self, name: str) -> str | None:
        """The secret, or None when none is stored. Raises SecretStoreUnavailable."""
        ...

    def set(self, name: str, value: str) -> None:
        """Store a secret. Raises SecretStoreUnavailable."""
        ...

    def delete(self, name: str) -> None:
        """Forget a secret (no error when absent). Raises SecretStoreUnavailable."""
        ...


class AuditAnchorStore(Protocol):
    """Where the chain anchor is kept, outside the database (a file next to it, sealed with a key from the OS
    credential store when one exists)."""

    def read(self) -> ChainAnchor | None:
        """The recorded anchor (None: none yet). Raises StorageError when the anchor file was tampered with."""
        ...

    def last_known(self) -> ChainAnchor | None:
        """The anchor as last read or written by this process (read from the file the first time)."""
        ...

    def advance(self, anchor: ChainAnchor) -> None:
        """Record a newer last trace (ignored when older than the recorded one: the anchor only moves forward).

        The caller first checks that the chain still holds the anchored trace (``last_known``): an anchor never
        moves past a removal.
        """
        ...

    def reset(self, anchor: ChainAnchor | None) -> None:
        """Replace the anchor (after a restore, which legitimately shortens the chain; traced)."""
        ...
