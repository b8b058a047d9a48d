"""Hand-written fakes of the ports, for service tests without a database."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import replace
from types import TracebackType
from typing import Self

from domain.audit import GENESIS_HASH, AuditEvent, chain_hash
from domain.cog import Place, PlaceKind
from domain.errors import ConflictError, NotFound
from domain.identity import IdentityStatus, StatusChange
from domain.patient import Patient
from domain.ports import PatientRow
from domain.practice import IdentityDocumentType, Structure, UserAccount
from domain.search import SearchQuery
from domain.text import search_key


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
