"""SQL repositories and unit of work: domain objects in, domain objects out, never live ORM rows."""

from __future__ import annotations

import datetime as dt
import json
import logging
from types import TracebackType
from typing import Any, Self

from sqlalchemy import and_, delete, exists, func, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql import Select

from adapters.db.agenda_repository import SqlAgendaRepository
from adapters.db.documents_repository import SqlDocumentRepository
from adapters.db.ins_repository import SqlInsRepository
from adapters.db.letters_repository import SqlLetterRepository
from adapters.db.models import (
    AuditRow,
    CareTeamRow,
    IdentityDocumentTypeRow,
    PatientRowModel,
    PatientSearchTermRow,
    StatusChangeRow,
    StructureRow,
    UserRow,
)
from adapters.db.prescription_repository import SqlPrescriptionRepository
from adapters.db.psc_repository import SqlPscLinkRepository
from adapters.db.record_repository import SqlRecordRepository
from adapters.db.security_repository import SqlAccountRepository
from domain.audit import GENESIS_HASH, AuditAction, AuditEvent, ChainAnchor, chain_hash
from domain.errors import ConflictError, NotFound, StorageError
from domain.identity import (
    Identity,
    IdentitySource,
    IdentityStatus,
    IdentityTraits,
    Ins,
    QualificationMode,
    Sex,
    StatusChange,
)
from domain.patient import CareRole, CareTeamMember, Contact, Patient
from domain.ports import AuditAnchorStore, PatientRow
from domain.practice import (
    IdentityDocumentType,
    Profession,
    Structure,
    StructureKind,
    UserAccount,
    UserRole,
)
from domain.search import SearchQuery
from domain.text import search_key

log = logging.getLogger("lgc.db")

# Above this many index entries for the most selective prefix, walking patients in name order and
# checking each one is cheaper than collecting every match and sorting it.
DRIVE_BY_TERM_MAX = 3000


def prefix_upper_bound(prefix: str) -> str:
    """Smallest string greater than every string starting with ``prefix`` (keys are ASCII)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def sort_key_of(traits: IdentityTraits) -> str:
    """Name order of the list: used name (or birth name), then first name, then birth name."""
    display = traits.used_name or traits.birth_name
    first = traits.used_given_name or traits.first_birth_given_name
    return f"{search_key(display)} {search_key(first)} {search_key(traits.birth_name)}"[:120]


class SqlPatientRepository:
    """Patients in the SQL store."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, patient: Patient) -> int:
        """Store a new patient with its search keys and care team; return its id."""
        now = dt.datetime.now(dt.UTC)
        row = PatientRowModel(created_at=now)
        self._fill(row, patient, now)
        self._s.add(row)
        self._s.flush()
        self._write_children(row.id, patient)
        return row.id

    def add_many(self, patients: list[Patient]) -> list[int]:
        """Store many new patients at once (demo data, imports): one executemany per table."""
        now = dt.datetime.now(dt.UTC)
        rows: list[dict[str, Any]] = []
        for patient in patients:
            row = PatientRowModel(created_at=now)
            self._fill(row, patient, now)
            values = {c.key: getattr(row, c.key) for c in PatientRowModel.__table__.columns if c.key != "id"}
            values["version"] = 1
            rows.append(values)
        result = self._s.execute(
            insert(PatientRowModel).returning(PatientRowModel.id, sort_by_parameter_order=True), rows
        )
        ids = [int(i) for i in result.scalars()]
        terms = [{"patient_id": pid, "term": t} for pid, p in zip(ids, patients, strict=True) for t in p.search_terms()]
        if terms:
            self._s.execute(insert(PatientSearchTermRow), terms)
        team = [
            {
                "patient_id": pid,
                "position": i,
                "role": m.role.value,
                "display_name": m.display_name,
                "profession": m.profession,
                "rpps": m.rpps,
                "mssante_address": m.mssante_address,
            }
            for pid, p in zip(ids, patients, strict=True)
            for i, m in enumerate(p.care_team)
        ]
        if team:
            self._s.execute(insert(CareTeamRow), team)
        return ids

    def get(self, patient_id: int) -> Patient:
        """Load a patient."""
        row = self._s.get(PatientRowModel, patient_id)
        if row is None:
            raise NotFound(f"Le dossier patient n° {patient_id} n'existe pas (ou plus).")
        team = self._s.scalars(
            select(CareTeamRow).where(CareTeamRow.patient_id == patient_id).order_by(CareTeamRow.position)
        ).all()
        return _patient_from_row(row, team)

    def update(self, patient: Patient) -> Patient:
        """Save a changed patient; optimistic locking on ``version``."""
        assert patient.id is not None
        row = self._s.get(PatientRowModel, patient.id)
        if row is None:
            raise NotFound(f"Le dossier patient n° {patient.id} n'existe pas (ou plus).")
        if row.version != patient.version:
            raise ConflictError("Ce dossier a été modifié sur un autre poste depuis son ouverture : rouvrez-le.")
        self._fill(row, patient, dt.datetime.now(dt.UTC))
        try:
            self._s.flush()
        except StaleDataError as exc:
            raise ConflictError(
                "Ce dossier a été modifié sur un autre poste pendant l'enregistrement : rouvrez-le."
            ) from exc
        self._s.execute(delete(PatientSearchTermRow).where(PatientSearchTermRow.patient_id == patient.id))
        self._s.execute(delete(CareTeamRow).where(CareTeamRow.patient_id == patient.id))
        self._write_children(patient.id, patient)
        return self.get(patient.id)

    def count(self) -> int:
        """Number of patients."""
        return int(self._s.scalar(select(func.count()).select_from(PatientRowModel)) or 0)

    def add_status_change(self, patient_id: int, change: StatusChange) -> None:
        """Append to the status history."""
        self._s.add(
            StatusChangeRow(
                patient_id=patient_id,
                before=change.before.value if change.before else None,
                after=change.after.value,
                at=change.at,
                actor=change.actor,
                reason=change.reason,
                qualification=change.qualification.value if change.qualification else None,
            )
        )
        self._s.flush()

    def add_status_changes(self, changes: list[tuple[int, StatusChange]]) -> None:
        """Append many history entries at once (demo data, imports)."""
        if changes:
            self._s.execute(
                insert(StatusChangeRow),
                [
                    {
                        "patient_id": pid,
                        "before": c.before.value if c.before else None,
                        "after": c.after.value,
                        "at": c.at,
                        "actor": c.actor,
                        "reason": c.reason,
                        "qualification": c.qualification.value if c.qualification else None,
                    }
                    for pid, c in changes
                ],
            )

    def count_by_status(self) -> dict[IdentityStatus, int]:
        """Number of patients per identity status (INS qualification indicators)."""
        counts = dict.fromkeys(IdentityStatus, 0)
        for status, n in self._s.execute(select(PatientRowModel.status, func.count()).group_by(PatientRowModel.status)):
            counts[IdentityStatus(status)] = int(n)
        return counts

    def status_history(self, patient_id: int) -> list[StatusChange]:
        """Status history, oldest first."""
        rows = self._s.scalars(
            select(StatusChangeRow).where(StatusChangeRow.patient_id == patient_id).order_by(StatusChangeRow.id)
        ).all()
        return [
            StatusChange(
                before=IdentityStatus(r.before) if r.before else None,
                after=IdentityStatus(r.after),
                at=_aware(r.at),
                actor=r.actor,
                reason=r.reason,
                qualification=QualificationMode(r.qualification) if r.qualification else None,
            )
            for r in rows
        ]

    def search(self, query: SearchQuery, limit: int) -> list[PatientRow]:
        """Anteriority search; see ``build_search``."""
        stmt = build_search(self._s, query, limit)
        return [_list_row(r) for r in self._s.execute(stmt).all()]

    # -- internals --------------------------------------------------------------------------------
    def _fill(self, row: PatientRowModel, patient: Patient, now: dt.datetime) -> None:
        identity = patient.identity
        traits = identity.traits
        assert traits.birth_date is not None and traits.sex is not None
        row.birth_name = traits.birth_name
        row.birth_given_names = " ".join(traits.birth_given_names)
        row.first_given_name = traits.first_birth_given_name
        row.used_name = traits.used_name
        row.used_given_name = traits.used_given_name
        row.sex = traits.sex.value
        row.birth_date = traits.birth_date
        row.birth_place_code = traits.birth_place_code
        row.ins_matricule = identity.ins.matricule if identity.ins else None
        row.ins_oid = identity.ins.oid if identity.ins else None
        row.from_insi = identity.from_insi
        row.high_trust_document = identity.high_trust_document
        row.doubtful = identity.doubtful
        row.fictitious = identity.fictitious
        row.homonym = identity.homonym
        row.ins_source = identity.source.value if identity.source else None
        row.transitional_qualification = identity.transitional_qualification
        row.status = identity.status.value
        row.sort_key = sort_key_of(traits)
        row.address = "\n".join(patient.contact.address_lines)
        row.postal_code = patient.contact.postal_code
        row.city = patient.contact.city
        row.phones = json.dumps(list(patient.contact.phones), ensure_ascii=False)
        row.email = patient.contact.email
        row.updated_at = now

    def _write_children(self, patient_id: int, patient: Patient) -> None:
        self._s.add_all(PatientSearchTermRow(patient_id=patient_id, term=t) for t in patient.search_terms())
        self._s.add_all(
            CareTeamRow(
                patient_id=patient_id,
                position=i,
                role=m.role.value,
                display_name=m.display_name,
                profession=m.profession,
                rpps=m.rpps,
                mssante_address=m.mssante_address,
            )
            for i, m in enumerate(patient.care_team)
        )
        self._s.flush()


LIST_COLUMNS = (
    PatientRowModel.id,
    PatientRowModel.birth_name,
    PatientRowModel.used_name,
    PatientRowModel.first_given_name,
    PatientRowModel.used_given_name,
    PatientRowModel.birth_date,
    PatientRowModel.sex,
    PatientRowModel.status,
    PatientRowModel.doubtful,
    PatientRowModel.fictitious,
    PatientRowModel.homonym,
    PatientRowModel.ins_matricule,
)


def build_search(session: Session, query: SearchQuery, limit: int) -> Select[Any]:
    """Build the anteriority-search statement.

    Every name prefix must start one of the patient's search keys. The plan is chosen by selectivity:
    a rare prefix drives from the key index and sorts the few matches; a common one walks patients in
    name order and stops at ``limit``. Both plans give the same rows.
    """
    terms = PatientSearchTermRow
    p = PatientRowModel
    stmt = select(*LIST_COLUMNS)
    if query.matricule:
        stmt = stmt.where(p.ins_matricule == query.matricule)
    if query.birth_date:
        stmt = stmt.where(p.birth_date == query.birth_date)
    if query.birth_year:
        stmt = stmt.where(
            p.birth_date >= dt.date(query.birth_year, 1, 1), p.birth_date <= dt.date(query.birth_year, 12, 31)
        )
    prefixes = sorted(set(query.name_prefixes), key=len, reverse=True)
    if prefixes and not query.matricule and not query.birth_date:
        driver = prefixes[0]
        in_range = and_(terms.term >= driver, terms.term < prefix_upper_bound(driver))
        hits = session.scalar(
            select(func.count()).select_from(
                select(terms.patient_id).where(in_range).limit(DRIVE_BY_TERM_MAX).subquery()
            )
        )
        if (hits or 0) < DRIVE_BY_TERM_MAX:
            matched = select(terms.patient_id).where(in_range).distinct().subquery()
            stmt = stmt.join(matched, matched.c.patient_id == p.id)
            prefixes = prefixes[1:]
    for prefix in prefixes:
        stmt = stmt.where(
            exists().where(terms.patient_id == p.id, terms.term >= prefix, terms.term < prefix_upper_bound(prefix))
        )
    return stmt.order_by(p.sort_key, p.id).limit(limit)


def _list_row(r: Any) -> PatientRow:
    return PatientRow(
        id=r.id,
        birth_name=r.birth_name,
        used_name=r.used_name,
        first_given_name=r.first_given_name,
        used_given_name=r.used_given_name,
        birth_date=r.birth_date,
        sex=Sex(r.sex),
        status=IdentityStatus(r.status),
        doubtful=bool(r.doubtful),
        fictitious=bool(r.fictitious),
        homonym=bool(r.homonym),
        matricule=r.ins_matricule or "",
    )


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes for timezone-aware columns; the store only ever writes UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _patient_from_row(row: PatientRowModel, team: Any) -> Patient:
    ins = Ins(row.ins_matricule, row.ins_oid) if row.ins_matricule and row.ins_oid else None
    traits = IdentityTraits(
        birth_name=row.birth_name,
        birth_given_names=tuple(row.birth_given_names.split()),
        birth_date=row.birth_date,
        sex=Sex(row.sex),
        birth_place_code=row.birth_place_code,
        used_name=row.used_name,
        used_given_name=row.used_given_name,
    )
    identity = Identity(
        traits=traits,
        ins=ins,
        from_insi=row.from_insi,
        high_trust_document=row.high_trust_document,
        doubtful=row.doubtful,
        fictitious=row.fictitious,
        homonym=row.homonym,
        source=IdentitySource(row.ins_source) if row.ins_source else None,
        transitional_qualification=bool(row.transitional_qualification),
    )
    contact = Contact(
        address_lines=tuple(line for line in row.address.split("\n") if line),
        postal_code=row.postal_code,
        city=row.city,
        phones=tuple(json.loads(row.phones or "[]")),
        email=row.email,
    )
    members = tuple(
        CareTeamMember(
            role=CareRole(m.role),
            display_name=m.display_name,
            profession=m.profession,
            rpps=m.rpps,
            mssante_address=m.mssante_address,
        )
        for m in team
    )
    return Patient(id=row.id, identity=identity, contact=contact, care_team=members, version=row.version)


class SqlAuditRepository:
    """Hash-chained traces."""

    def __init__(self, session: Session) -> None:
        self._s = session
        self.appended: ChainAnchor | None = None
        """The newest trace this unit of work appended (the anchor moves to it after commit)."""

    def append(self, event: AuditEvent) -> None:
        """Append a trace chained to the last one."""
        if self._s.get_bind().dialect.name == "postgresql":
            # Several workstations append at once: serialise appends so that the chain never forks.
            self._s.execute(text("SELECT pg_advisory_xact_lock(734101)"))
        last = self._s.execute(select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)).scalar()
        previous = last or GENESIS_HASH
        row = AuditRow(
            at=event.at,
            actor=event.actor,
            action=event.action.value,
            outcome=event.outcome,
            patient_id=event.patient_id,
            detail=json.dumps(event.detail, ensure_ascii=False, sort_keys=True, default=str),
            previous_hash=previous,
            hash=chain_hash(previous, event),
        )
        self._s.add(row)
        self._s.flush()
        self.appended = ChainAnchor(row.id, row.hash)

    def list(self, *, patient_id: int | None = None, limit: int = 1000) -> list[AuditEvent]:
        """Most recent traces first."""
        stmt = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if patient_id is not None:
            stmt = stmt.where(AuditRow.patient_id == patient_id)
        return [_event(r) for r in self._s.scalars(stmt)]

    def verify_chain(self) -> int | None:
        """Id of the first trace whose hash does not match, or None."""
        previous = GENESIS_HASH
        for row in self._s.scalars(select(AuditRow).order_by(AuditRow.id)).yield_per(1000):
            if row.previous_hash != previous or chain_hash(previous, _event(row)) != row.hash:
                return row.id
            previous = row.hash
        return None

    def last(self) -> ChainAnchor | None:
        """Id and hash of the newest trace."""
        row = self._s.execute(select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)).first()
        return ChainAnchor(int(row.id), row.hash) if row else None

    def hash_at(self, trace_id: int) -> str | None:
        """The stored hash of one trace."""
        value: str | None = self._s.execute(select(AuditRow.hash).where(AuditRow.id == trace_id)).scalar()
        return value


def _event(row: AuditRow) -> AuditEvent:
    return AuditEvent(
        at=_aware(row.at),
        actor=row.actor,
        action=AuditAction(row.action),
        outcome=row.outcome,
        patient_id=row.patient_id,
        detail=json.loads(row.detail),
    )


class SqlPracticeRepository:
    """Structures, users and configurable lists."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def structures(self) -> list[Structure]:
        """Every structure."""
        return [
            Structure(id=r.id, name=r.name, kind=StructureKind(r.kind), finess=r.finess, address=r.address)
            for r in self._s.scalars(select(StructureRow).order_by(StructureRow.id))
        ]

    def add_structure(self, structure: Structure) -> int:
        """Store a structure."""
        row = StructureRow(
            name=structure.name, kind=structure.kind.value, finess=structure.finess, address=structure.address
        )
        self._s.add(row)
        self._s.flush()
        return row.id

    def users(self) -> list[UserAccount]:
        """Every user account."""
        return [_user(r) for r in self._s.scalars(select(UserRow).order_by(UserRow.id))]

    def add_user(self, user: UserAccount) -> int:
        """Store a user account."""
        row = UserRow(
            login=user.login,
            display_name=user.display_name,
            role=user.role.value,
            structure_id=user.structure_id,
            profession=user.profession.value if user.profession else None,
            rpps=user.rpps,
            is_admin=user.is_admin,
            titulaire_id=user.titulaire_id,
        )
        self._s.add(row)
        self._s.flush()
        return row.id

    def user_by_login(self, login: str) -> UserAccount | None:
        """The account with this login."""
        row = self._s.scalar(select(UserRow).where(UserRow.login == login))
        return _user(row) if row else None

    def identity_document_types(self) -> list[IdentityDocumentType]:
        """Configured identity document types."""
        return [
            IdentityDocumentType(code=r.code, label=r.label, high_trust=r.high_trust, active=r.active)
            for r in self._s.scalars(select(IdentityDocumentTypeRow).order_by(IdentityDocumentTypeRow.label))
        ]

    def save_identity_document_type(self, doc_type: IdentityDocumentType) -> None:
        """Add or update a document type."""
        row = self._s.get(IdentityDocumentTypeRow, doc_type.code)
        if row is None:
            row = IdentityDocumentTypeRow(code=doc_type.code)
            self._s.add(row)
        row.label = doc_type.label
        row.high_trust = doc_type.high_trust
        row.active = doc_type.active
        self._s.flush()


def _user(row: UserRow) -> UserAccount:
    return UserAccount(
        id=row.id,
        login=row.login,
        display_name=row.display_name,
        role=UserRole(row.role),
        structure_id=row.structure_id,
        profession=Profession(row.profession) if row.profession else None,
        rpps=row.rpps,
        is_admin=row.is_admin,
        titulaire_id=row.titulaire_id,
    )


class SqlUnitOfWork:
    """One session and transaction; rolled back unless ``commit()`` is called."""

    patients: SqlPatientRepository
    audit: SqlAuditRepository
    practice: SqlPracticeRepository
    ins: SqlInsRepository
    accounts: SqlAccountRepository
    psc_links: SqlPscLinkRepository
    agenda: SqlAgendaRepository
    record: SqlRecordRepository
    documents: SqlDocumentRepository
    letters: SqlLetterRepository
    prescriptions: SqlPrescriptionRepository

    def __init__(self, factory: sessionmaker[Session], anchor: AuditAnchorStore | None = None) -> None:
        self._factory = factory
        self._anchor = anchor

    def __enter__(self) -> Self:
        self._session = self._factory()
        self.patients = SqlPatientRepository(self._session)
        self.audit = SqlAuditRepository(self._session)
        self.practice = SqlPracticeRepository(self._session)
        self.ins = SqlInsRepository(self._session)
        self.accounts = SqlAccountRepository(self._session)
        self.psc_links = SqlPscLinkRepository(self._session)
        self.agenda = SqlAgendaRepository(self._session)
        self.record = SqlRecordRepository(self._session)
        self.documents = SqlDocumentRepository(self._session)
        self.letters = SqlLetterRepository(self._session)
        self.prescriptions = SqlPrescriptionRepository(self._session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._session.rollback()
        finally:
            self._session.close()
        if isinstance(exc, IntegrityError):
            raise StorageError(f"Enregistrement refusé par la base (contrainte) : {exc.orig}") from exc
        if isinstance(exc, OperationalError):
            message = str(exc.orig).lower()
            if "locked" in message or "busy" in message:
                raise StorageError(
                    "La base est occupée par un autre poste ou programme : réessayez dans un instant.",
                    retryable=True,
                ) from exc
            if "readonly" in message:
                raise StorageError("La base est en lecture seule : rien n'a été enregistré.") from exc
            raise StorageError(f"Erreur d'accès à la base : {exc.orig}", retryable=True) from exc
        if isinstance(exc, SQLAlchemyError):
            raise StorageError(f"Erreur d'accès à la base : {exc}") from exc

    def commit(self) -> None:
        """Commit the transaction; then move the traces' anchor to the newest trace appended."""
        self._session.commit()
        appended, self.audit.appended = self.audit.appended, None
        if appended is not None and self._anchor is not None:
            try:
                known = self._anchor.last_known()
                if known is not None and self.audit.hash_at(known.last_id) != known.last_hash:
                    # traces were removed or changed since: keep the anchor where it is, for "lgc audit verify"
                    log.error("Trace %s no longer matches the anchor: anchor not advanced", known.last_id)
                    return
                self._anchor.advance(appended)
            except (OSError, StorageError, SQLAlchemyError):
                log.warning("The traces' anchor could not be advanced", exc_info=True)
            finally:
                self._session.rollback()  # end the read transaction opened by the check


class SqlUnitOfWorkFactory:
    """Creates units of work over one engine."""

    def __init__(self, engine: Engine, anchor: AuditAnchorStore | None = None) -> None:
        self.engine = engine
        self.anchor = anchor
        self._factory = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)

    def __call__(self) -> SqlUnitOfWork:
        """A new unit of work."""
        return SqlUnitOfWork(self._factory, self.anchor)
