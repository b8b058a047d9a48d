"""SQLAlchemy 2 typed models of the local store (SQLite by default, PostgreSQL for several workstations)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Search keys are ASCII [a-z0-9]; byte order ("C" collation) makes range scans on PostgreSQL use the index
# exactly as SQLite's default BINARY collation does.
SearchKey = String(120).with_variant(String(120, collation="C"), "postgresql")


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (needed by alembic batch mode on SQLite)."""

    metadata = MetaData(naming_convention=NAMING)


class StructureRow(Base):
    """A cabinet or a centre de santé infirmier."""

    __tablename__ = "structure"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    finess: Mapped[str] = mapped_column(String(20), default="")
    address: Mapped[str] = mapped_column(String(400), default="")


class UserRow(Base):
    """A user account."""

    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    structure_id: Mapped[int | None] = mapped_column(ForeignKey("structure.id"), nullable=True)
    profession: Mapped[str | None] = mapped_column(String(20), nullable=True)
    rpps: Mapped[str] = mapped_column(String(11), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # issue 7 (migration 0005): the practitioner a remplaçant works for
    titulaire_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)


class IdentityDocumentTypeRow(Base):
    """An identity document type the practice accepts (INS rule 19)."""

    __tablename__ = "identity_document_type"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    high_trust: Mapped[bool] = mapped_column(Boolean)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PatientRowModel(Base):
    """A patient: RNIV identity, INS, attributes and contact details."""

    __tablename__ = "patient"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    birth_name: Mapped[str] = mapped_column(String(100))
    birth_given_names: Mapped[str] = mapped_column(String(100))
    first_given_name: Mapped[str] = mapped_column(String(100))
    used_name: Mapped[str] = mapped_column(String(100), default="")
    used_given_name: Mapped[str] = mapped_column(String(100), default="")
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[dt.date] = mapped_column(Date, index=True)
    birth_place_code: Mapped[str] = mapped_column(String(5))
    ins_matricule: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    ins_oid: Mapped[str | None] = mapped_column(String(40), nullable=True)
    from_insi: Mapped[bool] = mapped_column(Boolean, default=False)
    high_trust_document: Mapped[str | None] = mapped_column(ForeignKey("identity_document_type.code"), nullable=True)
    doubtful: Mapped[bool] = mapped_column(Boolean, default=False)
    fictitious: Mapped[bool] = mapped_column(Boolean, default=False)
    homonym: Mapped[bool] = mapped_column(Boolean, default=False)
    # INS qualification (issue 3, migration 0002): where the INS came from, the transitional procedure,
    # when it was retrieved and last verified with INSi, and the result.
    ins_source: Mapped[str | None] = mapped_column(String(30), nullable=True)
    transitional_qualification: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    ins_retrieved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ins_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ins_verification_result: Mapped[str | None] = mapped_column(String(10), nullable=True)
    # Derived from the columns above at every write; stored so that the list needs no computation.
    status: Mapped[str] = mapped_column(String(5))
    sort_key: Mapped[str] = mapped_column(SearchKey, index=True)
    address: Mapped[str] = mapped_column(Text, default="")
    postal_code: Mapped[str] = mapped_column(String(5), default="")
    city: Mapped[str] = mapped_column(String(200), default="")
    phones: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative attribute


class PatientSearchTermRow(Base):
    """One search key of a patient (rule 17): every name and first name, whole and in parts."""

    __tablename__ = "patient_search_term"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), primary_key=True)
    term: Mapped[str] = mapped_column(SearchKey, primary_key=True)

    __table_args__ = (Index("ix_patient_search_term_term", "term", "patient_id"),)


class CareTeamRow(Base):
    """A professional taking care of the patient."""

    __tablename__ = "care_team_member"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(30))
    display_name: Mapped[str] = mapped_column(String(200))
    profession: Mapped[str] = mapped_column(String(100), default="")
    rpps: Mapped[str] = mapped_column(String(11), default="")
    mssante_address: Mapped[str] = mapped_column(String(320), default="")


class StatusChangeRow(Base):
    """One entry of the identity status history."""

    __tablename__ = "identity_status_change"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    before: Mapped[str | None] = mapped_column(String(5), nullable=True)
    after: Mapped[str] = mapped_column(String(5))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(String(500))
    qualification: Mapped[str | None] = mapped_column(String(20), nullable=True)  # migration 0002


class AuditRow(Base):
    """A trace, hash-chained to the previous one."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(60))
    outcome: Mapped[str] = mapped_column(String(60))
    patient_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    detail: Mapped[str] = mapped_column(Text)
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


from adapters.db import models_agenda  # noqa: E402,F401,I001
from adapters.db import models_ins  # noqa: E402,F401
from adapters.db import models_security  # noqa: E402,F401
from adapters.db import models_psc  # noqa: E402,F401
from adapters.db import models_record  # noqa: E402,F401
from adapters.db import models_documents  # noqa: E402,F401
from adapters.db import models_prescription  # noqa: E402,F401
from adapters.db import models_letters  # noqa: E402,F401
