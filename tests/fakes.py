"""Hand-written fakes of the ports, for service tests without a database."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from types import TracebackType
from typing import Self

from domain.audit import GENESIS_HASH, AuditAction, AuditEvent, ChainAnchor, chain_hash
from domain.cog import Place, PlaceKind
from domain.documents import HealthDocument, StoredContent
from domain.errors import ConflictError, NotFound
from domain.identity import IdentityStatus, StatusChange
from domain.ins_qualification import (
    QueuedVerification,
    SeenPatient,
    VerificationReason,
    VerificationResult,
    VerificationState,
    insi_given_names,
)
from domain.insi import (
    InsHistoryEntry,
    InsiAnswer,
    InsiCallContext,
    InsiCode,
    InsiIdentity,
    InsiQueryKind,
    InsiTraitsQuery,
    VitaleBeneficiary,
)
from domain.patient import Patient
from domain.ports import PatientRow
from domain.practice import IdentityDocumentType, Structure, UserAccount
from domain.psc import PscLink
from domain.search import SearchQuery
from domain.security import Credentials
from domain.text import search_key
from tests.fakes_agenda import FakeAgendaRepository
from tests.fakes_documents import FakeDocumentRepository
from tests.fakes_letters import FakeLetterRepository
from tests.fakes_prescriptions import FakePrescriptionRepository
from tests.fakes_record import FakeRecordRepository


class FakeStore:
    """The data a FakeUnitOfWork commits into."""

    def __init__(self) -> None:
        self.patients: dict[int, Patient] = {}
        self.history: dict[int, list[StatusChange]] = {}
        self.audit: list[tuple[AuditEvent, str]] = []
        self.structures: list[Structure] = []
        self.users: list[UserAccount] = []
        self.doc_types: dict[str, IdentityDocumentType] = {}
        self.next_id = 1
        self.credentials: dict[int, Credentials] = {}
        self.password_history: dict[int, list[str]] = {}
        self.ins_history: dict[int, list[InsHistoryEntry]] = {}
        self.ins_state: dict[int, VerificationState] = {}
        self.ins_queue: dict[int, QueuedVerification] = {}
        self.psc_links: dict[str, PscLink] = {}
        self.health_documents: dict[int, tuple[HealthDocument, StoredContent]] = {}


class FakePatientRepository:
    """In-memory PatientRepository with the same search semantics as the SQL one."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def add(self, patient: Patient) -> int:
        pid = self.store.next_id
        self.store.next_id += 1
        self.store.patients[pid] = replace(patient, id=pid, version=1)
        return pid

    def add_many(self, patients: list[Patient]) -> list[int]:
        return [self.add(p) for p in patients]

    def get(self, patient_id: int) -> Patient:
        try:
            return self.store.patients[patient_id]
        except KeyError:
            raise NotFound(f"Le dossier patient n° {patient_id} n'existe pas (ou plus).") from None

    def update(self, patient: Patient) -> Patient:
        assert patient.id is not None
        current = self.get(patient.id)
        if current.version != patient.version:
            raise ConflictError("Ce dossier a été modifié sur un autre poste depuis son ouverture : rouvrez-le.")
        stored = replace(patient, version=patient.version + 1)
        self.store.patients[patient.id] = stored
        return stored

    def count(self) -> int:
        return len(self.store.patients)

    def add_status_change(self, patient_id: int, change: StatusChange) -> None:
        self.store.history.setdefault(patient_id, []).append(change)

    def add_status_changes(self, changes: list[tuple[int, StatusChange]]) -> None:
        for pid, change in changes:
            self.add_status_change(pid, change)

    def status_history(self, patient_id: int) -> list[StatusChange]:
        return list(self.store.history.get(patient_id, []))

    def count_by_status(self) -> dict[IdentityStatus, int]:
        counts = dict.fromkeys(IdentityStatus, 0)
        for p in self.store.patients.values():
            counts[p.identity.status] += 1
        return counts

    def search(self, query: SearchQuery, limit: int) -> list[PatientRow]:
        rows = []
        for pid, p in self.store.patients.items():
            t = p.identity.traits
            assert t.birth_date is not None and t.sex is not None
            terms = p.search_terms()
            if query.matricule and (p.identity.ins is None or p.identity.ins.matricule != query.matricule):
                continue
            if query.birth_date and t.birth_date != query.birth_date:
                continue
            if query.birth_year and t.birth_date.year != query.birth_year:
                continue
            if not all(any(term.startswith(prefix) for term in terms) for prefix in query.name_prefixes):
                continue
            display = t.used_name or t.birth_name
            first = t.used_given_name or t.first_birth_given_name
            key = (f"{search_key(display)} {search_key(first)} {search_key(t.birth_name)}", pid)
            rows.append(
                (
                    key,
                    PatientRow(
                        id=pid,
                        birth_name=t.birth_name,
                        used_name=t.used_name,
                        first_given_name=t.first_birth_given_name,
                        used_given_name=t.used_given_name,
                        birth_date=t.birth_date,
                        sex=t.sex,
                        status=p.identity.status,
                        doubtful=p.identity.doubtful,
                        fictitious=p.identity.fictitious,
                        homonym=p.identity.homonym,
                        matricule=p.identity.ins.matricule if p.identity.ins else "",
                    ),
                )
            )
        rows.sort(key=lambda item: item[0])
        return [row for _, row in rows[:limit]]


class FakeAuditRepository:
    """In-memory hash-chained traces."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def append(self, event: AuditEvent) -> None:
        previous = self.store.audit[-1][1] if self.store.audit else GENESIS_HASH
        self.store.audit.append((event, chain_hash(previous, event)))

    def list(self, *, patient_id: int | None = None, limit: int = 1000) -> list[AuditEvent]:
        events = [e for e, _ in reversed(self.store.audit) if patient_id is None or e.patient_id == patient_id]
        return events[:limit]

    def verify_chain(self) -> int | None:
        previous = GENESIS_HASH
        for index, (event, digest) in enumerate(self.store.audit, start=1):
            if chain_hash(previous, event) != digest:
                return index
            previous = digest
        return None

    def last(self) -> ChainAnchor | None:
        if not self.store.audit:
            return None
        return ChainAnchor(len(self.store.audit), self.store.audit[-1][1])

    def hash_at(self, trace_id: int) -> str | None:
        return self.store.audit[trace_id - 1][1] if 1 <= trace_id <= len(self.store.audit) else None


class FakeAccountRepository:
    """In-memory credentials and password history."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def credentials(self, user_id: int) -> Credentials:
        return self.store.credentials.get(user_id, Credentials())

    def save_credentials(self, user_id: int, credentials: Credentials) -> None:
        self.store.credentials[user_id] = credentials

    def password_history(self, user_id: int, limit: int | None) -> list[str]:
        hashes = list(reversed(self.store.password_history.get(user_id, [])))
        return hashes if limit is None else hashes[:limit]

    def add_password_history(self, user_id: int, password_hash: str, at: dt.datetime) -> None:
        self.store.password_history.setdefault(user_id, []).append(password_hash)

    def update_user(self, user: UserAccount) -> None:
        index = next(i for i, u in enumerate(self.store.users) if u.id == user.id)
        self.store.users[index] = user

    def user_by_id(self, user_id: int) -> UserAccount | None:
        return next((u for u in self.store.users if u.id == user_id), None)


class FakePracticeRepository:
    """In-memory practice."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def structures(self) -> list[Structure]:
        return list(self.store.structures)

    def add_structure(self, structure: Structure) -> int:
        self.store.structures.append(replace(structure, id=len(self.store.structures) + 1))
        return len(self.store.structures)

    def users(self) -> list[UserAccount]:
        return list(self.store.users)

    def add_user(self, user: UserAccount) -> int:
        self.store.users.append(replace(user, id=len(self.store.users) + 1))
        return len(self.store.users)

    def user_by_login(self, login: str) -> UserAccount | None:
        return next((u for u in self.store.users if u.login == login), None)

    def identity_document_types(self) -> list[IdentityDocumentType]:
        return sorted(self.store.doc_types.values(), key=lambda d: d.label)

    def save_identity_document_type(self, doc_type: IdentityDocumentType) -> None:
        self.store.doc_types[doc_type.code] = doc_type


class FakeInsRepository:
    """In-memory InsRepository."""

    SEEN_ACTIONS = (
        AuditAction.IDENTITY_READ,
        AuditAction.IDENTITY_CREATE,
        AuditAction.IDENTITY_UPDATE,
        AuditAction.INS_RETRIEVAL,
    )

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def history(self, patient_id: int) -> list[InsHistoryEntry]:
        return list(self.store.ins_history.get(patient_id, []))

    def replace_history(self, patient_id: int, entries: Sequence[InsHistoryEntry], at: dt.datetime) -> None:
        self.store.ins_history[patient_id] = list(entries)

    def clear_history(self, patient_id: int) -> None:
        self.store.ins_history.pop(patient_id, None)

    def verification_state(self, patient_id: int) -> VerificationState:
        return self.store.ins_state.get(patient_id, VerificationState())

    def set_retrieved(self, patient_id: int, at: dt.datetime) -> None:
        self.store.ins_state[patient_id] = VerificationState(retrieved_at=at)

    def set_verified(self, patient_id: int, at: dt.datetime, result: VerificationResult) -> None:
        state = self.verification_state(patient_id)
        self.store.ins_state[patient_id] = replace(state, verified_at=at, result=result)

    def due_for_verification(self, before: dt.datetime, limit: int) -> list[int]:
        due = []
        for pid, patient in sorted(self.store.patients.items()):
            if patient.identity.ins is None or not patient.identity.status.protects_strict_traits:
                continue
            if pid in self.store.ins_queue:
                continue
            state = self.verification_state(pid)
            last = state.verified_at or state.retrieved_at
            if last is None or last < before:
                due.append(pid)
        return due[:limit]

    def enqueue(self, patient_id: int, reason: VerificationReason, at: dt.datetime) -> bool:
        if patient_id in self.store.ins_queue:
            return False
        self.store.ins_queue[patient_id] = QueuedVerification(patient_id, reason, at, next_attempt_at=at)
        return True

    def queued(self, now: dt.datetime, limit: int) -> list[QueuedVerification]:
        items = [q for q in self.store.ins_queue.values() if q.next_attempt_at is None or q.next_attempt_at <= now]
        return sorted(items, key=lambda q: (q.queued_at, q.patient_id))[:limit]

    def dequeue(self, patient_id: int) -> None:
        self.store.ins_queue.pop(patient_id, None)

    def postpone(self, patient_id: int, error: str, next_attempt_at: dt.datetime) -> None:
        item = self.store.ins_queue.get(patient_id)
        if item is not None:
            self.store.ins_queue[patient_id] = replace(
                item, attempts=item.attempts + 1, last_error=error, next_attempt_at=next_attempt_at
            )

    def queue_length(self) -> int:
        return len(self.store.ins_queue)

    def patients_by_matricule(self, matricule: str) -> list[tuple[int, str]]:
        return [
            (pid, p.identity.ins.oid)
            for pid, p in sorted(self.store.patients.items())
            if p.identity.ins is not None and p.identity.ins.matricule == matricule
        ]

    def patients_by_former_ins(self, matricule: str, oid: str) -> list[int]:
        return sorted(
            pid
            for pid, entries in self.store.ins_history.items()
            if any(e.matricule == matricule and e.oid == oid for e in entries)
        )

    def seen_patients(self, start: dt.datetime, end: dt.datetime) -> list[SeenPatient]:
        first: dict[tuple[int, str], dt.datetime] = {}
        for event, _ in self.store.audit:
            if event.patient_id is None or event.action not in self.SEEN_ACTIONS or not start <= event.at < end:
                continue
            key = (event.patient_id, event.actor)
            first[key] = min(first.get(key, event.at), event.at)
        return [SeenPatient(pid, actor, at) for (pid, actor), at in first.items()]

    def status_histories(self, patient_ids: Sequence[int]) -> dict[int, list[StatusChange]]:
        return {pid: list(self.store.history.get(pid, [])) for pid in patient_ids}


class FakePscLinkRepository:
    """In-memory PSC ↔ account links."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def by_national_id(self, national_id: str) -> PscLink | None:
        return self.store.psc_links.get(national_id)

    def by_user(self, user_id: int) -> PscLink | None:
        return next((link for link in self.store.psc_links.values() if link.user_id == user_id), None)

    def save(self, link: PscLink) -> None:
        self.store.psc_links[link.national_id] = link


class FakeUnitOfWork:
    """Works on a copy of the store; ``commit`` publishes it, leaving without commit discards it."""

    def __init__(self, store: FakeStore) -> None:
        self._store = store
        self.committed = False

    def __enter__(self) -> Self:
        self._work = copy.deepcopy(self._store)
        self.patients = FakePatientRepository(self._work)
        self.audit = FakeAuditRepository(self._work)
        self.practice = FakePracticeRepository(self._work)
        self.ins = FakeInsRepository(self._work)
        self.accounts = FakeAccountRepository(self._work)
        self.psc_links = FakePscLinkRepository(self._work)
        self.agenda = FakeAgendaRepository(self._work)
        self.record = FakeRecordRepository(self._work)
        self.documents = FakeDocumentRepository(self._work)
        self.letters = FakeLetterRepository(self._work)
        self.prescriptions = FakePrescriptionRepository(self._work)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def commit(self) -> None:
        self._store.__dict__.update(copy.deepcopy(self._work.__dict__))
        self.committed = True


class FakeUnitOfWorkFactory:
    """Creates FakeUnitOfWork over one FakeStore."""

    def __init__(self) -> None:
        self.store = FakeStore()

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)


class FakeCog:
    """A tiny COG: Reims since 1943, Arbignieu until its 2016 merger, Ajaccio 20004 → 2A004, Maroc."""

    PLACES = (
        Place("51454", "Reims", PlaceKind.COMMUNE, None, None, "51"),
        Place("01015", "Arbignieu", PlaceKind.COMMUNE, None, dt.date(2016, 1, 1), "01"),
        Place("20004", "Ajaccio", PlaceKind.COMMUNE, None, dt.date(1976, 1, 1), "20"),
        Place("2A004", "Ajaccio", PlaceKind.COMMUNE, dt.date(1976, 1, 1), None, "2A"),
        Place("99350", "Maroc", PlaceKind.COUNTRY, dt.date(1956, 3, 2), None),
        Place("51215", "Châlons-en-Champagne", PlaceKind.COMMUNE, None, None, "51"),
    )

    def search(self, text: str, at: dt.date | None, limit: int = 20) -> list[Place]:
        key = search_key(text)
        return [
            p
            for p in self.PLACES
            if (search_key(p.label).startswith(key) or p.code.startswith(text.upper()))
            and (at is None or p.valid_at(at))
        ][:limit]

    def get(self, code: str, at: dt.date | None) -> Place | None:
        periods = self.periods(code)
        if at is None:
            return periods[-1] if periods else None
        return next((p for p in periods if p.valid_at(at)), None)

    def periods(self, code: str) -> list[Place]:
        return [p for p in self.PLACES if p.code == code]


class MutableClock:
    """A clock tests can move."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at

    def today(self) -> dt.date:
        return self.at.date()


class FakeInsiGateway:
    """A hand-written InsiGateway: answers from a registry of InsiIdentity keyed by (birth name, first name, date).

    ``several`` holds the keys that answer 02 without the birth place (and 00 with it); ``fail`` makes every call
    raise that error; ``calls`` records every query in order.
    """

    def __init__(self, identities: Sequence[InsiIdentity] = ()) -> None:
        self.identities = list(identities)
        self.vitale: dict[str, InsiIdentity] = {}
        self.several: set[tuple[str, str, str]] = set()
        self.fail: BaseException | None = None
        self.calls: list[object] = []

    def search_by_traits(self, query: InsiTraitsQuery, context: InsiCallContext) -> InsiAnswer:
        self.calls.append(query)
        if self.fail is not None:
            raise self.fail
        key = (query.birth_name, query.given_name, query.birth_date.isoformat())
        if key in self.several and query.birth_place_code is None:
            return InsiAnswer(InsiCode.SEVERAL, "Plusieurs", None, f"uuid:{len(self.calls)}", InsiQueryKind.TRAITS)
        for identity in self.identities:
            given = insi_given_names(identity)
            if (
                identity.birth_name == query.birth_name
                and query.given_name in given
                and identity.birth_date == query.birth_date.isoformat()
                and identity.sex == query.sex.value
                and (query.birth_place_code is None or query.birth_place_code == identity.birth_place_code)
            ):
                return InsiAnswer(InsiCode.FOUND, "OK", identity, f"uuid:{len(self.calls)}", InsiQueryKind.TRAITS)
        return InsiAnswer(InsiCode.NOT_FOUND, "Aucune", None, f"uuid:{len(self.calls)}", InsiQueryKind.TRAITS)

    def search_by_vitale(self, beneficiary: VitaleBeneficiary, context: InsiCallContext) -> InsiAnswer:
        self.calls.append(beneficiary)
        if self.fail is not None:
            raise self.fail
        identity = self.vitale.get(beneficiary.nir + beneficiary.nir_key)
        if identity is None:
            return InsiAnswer(InsiCode.NOT_FOUND, InsiCode.NOT_FOUND.label_fr, None, "uuid:v", InsiQueryKind.VITALE)
        return InsiAnswer(InsiCode.FOUND, "OK", identity, "uuid:v", InsiQueryKind.VITALE)
