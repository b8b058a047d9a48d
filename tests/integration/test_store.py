"""The SQL store on SQLite and PostgreSQL: migrations, repositories, search plans, traces."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.db.database import current_revision, head_revision, open_database
from adapters.db.repositories import SqlUnitOfWorkFactory
from domain.audit import AuditAction, AuditEvent
from domain.errors import ConflictError, NotFound
from domain.identity import OID_INS_NIR_TEST, Identity, IdentityStatus, IdentityTraits, Ins, Sex, StatusChange
from domain.patient import CareRole, CareTeamMember, Contact, Patient
from domain.search import SearchQuery, parse_query
from tests.fakes import FakeUnitOfWorkFactory


def make_patient(name: str, given: tuple[str, ...], born: dt.date, **identity: object) -> Patient:
    traits = IdentityTraits(
        birth_name=name,
        birth_given_names=given,
        birth_date=born,
        sex=Sex.FEMALE,
        birth_place_code="51454",
        used_name=str(identity.pop("used_name", "")),
    )
    return Patient(
        id=None,
        identity=Identity(traits=traits, **identity),  # type: ignore[arg-type]
        contact=Contact(
            address_lines=("1 rue du Moulin", "Bât. B"), postal_code="51100", city="Reims", phones=("06 01 02 03 04",)
        ),
        care_team=(
            CareTeamMember(CareRole.ATTENDING_DOCTOR, "Dr Claire FONTAINE", "Médecin généraliste", "10003456789"),
        ),
    )


@pytest.fixture(params=["fake", "sqlite", "postgresql"])
def uow_factory(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    """The repository contract runs on the fake and on the SQL store (SQLite and PostgreSQL)."""
    if request.param == "fake":
        return FakeUnitOfWorkFactory()
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lgc.sqlite3'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    engine, _ = open_database(url)
    request.addfinalizer(engine.dispose)
    return SqlUnitOfWorkFactory(engine)


def test_repository_round_trip_and_optimistic_locking(uow_factory: object) -> None:
    with uow_factory() as uow:  # type: ignore[operator]
        pid = uow.patients.add(
            make_patient(
                "DUPONT",
                ("MARIE", "CLAIRE"),
                dt.date(1980, 3, 12),
                ins=Ins("279035121518989", OID_INS_NIR_TEST),
                from_insi=True,
            )
        )
        uow.commit()
    with uow_factory() as uow:  # type: ignore[operator]
        loaded = uow.patients.get(pid)
    assert loaded.identity.traits.birth_given_names == ("MARIE", "CLAIRE")
    assert loaded.identity.status is IdentityStatus.RETRIEVED
    assert loaded.contact.address_lines == ("1 rue du Moulin", "Bât. B")
    assert loaded.attending_doctor is not None and loaded.attending_doctor.rpps == "10003456789"
    with uow_factory() as uow:  # type: ignore[operator]
        saved = uow.patients.update(replace(loaded, identity=replace(loaded.identity, homonym=True)))
        uow.commit()
    assert saved.version == loaded.version + 1
    with uow_factory() as uow, pytest.raises(ConflictError):  # type: ignore[operator]
        uow.patients.update(loaded)
    with uow_factory() as uow, pytest.raises(NotFound):  # type: ignore[operator]
        uow.patients.get(999_999)


def test_leaving_without_commit_rolls_back(uow_factory: object) -> None:
    with uow_factory() as uow:  # type: ignore[operator]
        uow.patients.add(make_patient("ROLLBACK", ("ANNE",), dt.date(1990, 1, 1)))
    with uow_factory() as uow:  # type: ignore[operator]
        assert uow.patients.count() == 0


def test_search_contract(uow_factory: object) -> None:
    patients = [
        make_patient("D'ARTAGNAN", ("JEAN-PIERRE", "HELENE"), dt.date(1950, 1, 1)),
        make_patient("DARTOIS", ("MARC",), dt.date(1960, 5, 5), used_name="LEBRUN"),
        make_patient("MARTIN", ("ANNE-SOPHIE",), dt.date(1960, 5, 5)),
    ] + [make_patient("MARTIN", (f"ZOE{chr(65 + i)}",), dt.date(1970, 1, 1 + i)) for i in range(20)]
    with uow_factory() as uow:  # type: ignore[operator]
        ids = uow.patients.add_many(patients)
        uow.commit()
    artagnan, dartois, anne = ids[:3]

    def found(text: str, limit: int = 100) -> list[int]:
        with uow_factory() as uow:  # type: ignore[operator]
            return [r.id for r in uow.patients.search(parse_query(text), limit)]

    assert found("dart") == [artagnan, dartois]
    assert found("lebrun") == [dartois]
    assert found("pierre") == [artagnan]
    assert found("anne sophie") == [anne]
    assert found("05/05/1960") == [dartois, anne]  # sorted by used name: LEBRUN < MARTIN
    assert found("mart 05/05/1960") == [anne]
    assert len(found("martin", limit=5)) == 5
    assert found("zoe") == ids[3:]
    assert found("nobody") == []
    with uow_factory() as uow:  # type: ignore[operator]
        everyone = uow.patients.search(SearchQuery(), 1000)
    assert len(everyone) == 23


def test_status_history_and_traces(uow_factory: object) -> None:
    at = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
    with uow_factory() as uow:  # type: ignore[operator]
        pid = uow.patients.add(make_patient("HISTO", ("LUC",), dt.date(2001, 2, 3)))
        uow.patients.add_status_change(pid, StatusChange(None, IdentityStatus.PROVISIONAL, at, "ide", "Création"))
        uow.patients.add_status_change(
            pid,
            StatusChange(
                IdentityStatus.PROVISIONAL, IdentityStatus.VALIDATED, at + dt.timedelta(minutes=5), "ide", "CNI"
            ),
        )
        for i in range(3):
            uow.audit.append(
                AuditEvent(at=at, actor="ide", action=AuditAction.IDENTITY_READ, patient_id=pid, detail={"n": i})
            )
        uow.commit()
    with uow_factory() as uow:  # type: ignore[operator]
        history = uow.patients.status_history(pid)
        assert [(h.before, h.after) for h in history] == [
            (None, IdentityStatus.PROVISIONAL),
            (IdentityStatus.PROVISIONAL, IdentityStatus.VALIDATED),
        ]
        assert history[1].at == at + dt.timedelta(minutes=5)
        assert [e.detail["n"] for e in uow.audit.list(patient_id=pid)] == [2, 1, 0]
        assert uow.audit.verify_chain() is None


def test_tampering_with_a_trace_breaks_the_chain(database_url: str) -> None:
    engine, _ = open_database(database_url)
    try:
        uow_factory = SqlUnitOfWorkFactory(engine)
        at = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
        with uow_factory() as uow:
            for actor in ("ide", "sf", "mk"):
                uow.audit.append(AuditEvent(at=at, actor=actor, action=AuditAction.IDENTITY_READ, patient_id=1))
            uow.commit()
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit_event SET actor = 'quelqu''un' WHERE actor = 'sf'"))
        with uow_factory() as uow:
            assert uow.audit.verify_chain() == 2
    finally:
        engine.dispose()


def test_schema_head_constant_matches_the_migration_scripts() -> None:
    from adapters.db.database import SCHEMA_HEAD, scripted_head_revision

    assert scripted_head_revision() == SCHEMA_HEAD, "update SCHEMA_HEAD in adapters/db/database.py"


def test_migrations_create_the_schema_and_match_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from adapters.db.models import Base

    engine, outcome = open_database(database_url)
    try:
        assert outcome.from_revision is None and outcome.to_revision == head_revision()
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == [], f"models and migrations drift: {diff}"
    finally:
        engine.dispose()
    # opening again migrates nothing
    engine, again = open_database(database_url)
    engine.dispose()
    assert again.from_revision == head_revision() and again.backup_path is None


def test_search_plans_use_the_indexes_on_sqlite(tmp_path: Path) -> None:
    """Both search plans must walk an index, never scan the patient table."""
    from sqlalchemy.orm import Session

    from adapters.db.repositories import DRIVE_BY_TERM_MAX, build_search

    engine, _ = open_database(f"sqlite:///{tmp_path / 'plan.sqlite3'}")
    try:
        factory = SqlUnitOfWorkFactory(engine)
        with factory() as uow:
            uow.patients.add_many(
                [
                    make_patient("MARTIN", ("ANNE",), dt.date(1950, 1, 1) + dt.timedelta(days=i))
                    for i in range(DRIVE_BY_TERM_MAX + 10)
                ]
                + [make_patient("ZYGOMAR", ("PAUL",), dt.date(1960, 1, 1))]
            )
            uow.commit()
        plans: dict[str, str] = {}
        with Session(engine) as session:
            for query in ("martin", "zygo", "anne mart"):
                stmt = build_search(session, parse_query(query), 50)
                compiled = stmt.compile(engine, compile_kwargs={"literal_binds": True})
                steps = [str(r[-1]) for r in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
                scans = [s for s in steps if s.startswith("SCAN patient") and "INDEX" not in s]
                assert scans == [], (query, steps)
                plans[query] = " | ".join(steps)
        # a common prefix walks patients in name order; a rare one drives from the search-key index
        assert plans["martin"].startswith("SCAN patient USING INDEX ix_patient_sort_key")
        assert "SEARCH patient_search_term USING COVERING INDEX ix_patient_search_term_term" in plans["zygo"]
    finally:
        engine.dispose()
