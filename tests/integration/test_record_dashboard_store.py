"""The dashboard's practice-wide reads in the SQL store (SQLite and PostgreSQL): same rows, index-friendly SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from adapters.db.database import open_database
from adapters.db.repositories import SqlUnitOfWorkFactory
from app.dto import PatientForm
from app.services.patients import PatientService
from app.session import CurrentUser
from domain.practice import Profession, UserAccount, UserRole
from domain.record import EntryKind, Observation, ObservationKind, RecordEntry
from tests.fakes import FakeCog, MutableClock

NURSE = UserAccount(1, "ide", "Camille DURAND", UserRole.PRACTITIONER, None, Profession.NURSE)
NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def store(database_url: str) -> Iterator[tuple[Engine, SqlUnitOfWorkFactory, list[int]]]:
    engine, _ = open_database(database_url)
    uow = SqlUnitOfWorkFactory(engine)
    patients = PatientService(uow, FakeCog(), MutableClock(NOW), CurrentUser(NURSE))
    ids = [
        patients.create_patient(
            PatientForm(birth_name=name, birth_given_names="Jeanne", sex="F", birth_date=born, birth_place_code="51454")
        ).id
        for name, born in (("Martin", "03/03/1950"), ("Petit", "29/02/2000"))
    ]
    yield engine, uow, ids
    engine.dispose()


def form(pid: int, key: str, days_ago: int, values: dict[str, object]) -> Observation:
    return Observation(
        None,
        pid,
        NOW - dt.timedelta(days=days_ago),
        "ide",
        "Camille DURAND (ide)",
        "60",
        ObservationKind.FORM,
        "Formulaire",
        template_key=key,
        template_version=1,
        values=values,
    )


def test_birth_dates_and_vaccinations_read_as_dates_within_the_open_transaction(store: tuple) -> None:
    _engine, uow, (old, young) = store
    with uow() as u:
        u.record.add_entries(
            [
                RecordEntry(
                    None, old, EntryKind.VACCINATION, "Grippe", "grippe", "", dt.date(2026, 10, 15), None, True
                ),
                RecordEntry(None, old, EntryKind.VACCINATION, "dTcaP", "dtp,coqueluche", "", dt.date(2024, 1, 2)),
                RecordEntry(None, young, EntryKind.VACCINATION, "Arrêté", "ror", "", dt.date(2001, 5, 1), None, False),
                RecordEntry(None, young, EntryKind.VACCINATION, "Sans date", "hpv", "", None),
                RecordEntry(None, young, EntryKind.ALLERGY, "Iode", "", "", dt.date(2020, 1, 1)),
            ]
        )
        # Read before the commit: the driver cursor runs on the unit of work's own connection and transaction.
        vaccinations = sorted(u.record.all_vaccinations(), key=lambda v: v[3])
        births = sorted(u.record.birth_dates())
        u.commit()
    assert vaccinations == [
        (old, "dtp,coqueluche", "", dt.date(2024, 1, 2)),
        (old, "grippe", "", dt.date(2026, 10, 15)),
    ]
    assert births == [(old, dt.date(1950, 3, 3), "PROV"), (young, dt.date(2000, 2, 29), "PROV")]


def test_form_facts_by_template_prefix_are_exact_and_served_by_the_index(store: tuple) -> None:
    engine, uow, (old, young) = store
    with uow() as u:
        u.record.add_observations(
            [
                form(old, "ide.plaie", 30, {"plaie": "Talon", "surface": 12.0}),
                form(old, "ide.plaie.cabinet", 20, {"plaie": "Talon", "surface": 10.0}),
                form(old, "ide.braden", 10, {"total": 11.0}),
                form(young, "ide.plaie", 400, {"plaie": "Coude", "surface": 3.0}),  # too old
                form(young, "ide.plaies", 5, {"plaie": "Coude", "surface": 3.0}),  # prefix "ide.plaie" matches it too
                form(young, "IDE.PLAIE", 5, {"plaie": "Coude", "surface": 3.0}),  # keys are case-sensitive
                form(young, "sf.suivixgrossesse", 5, {}),  # "_" is not a wildcard
                form(young, "sf.suivi_grossesse", 4, {}),
            ]
        )
        u.commit()
    statements: list[str] = []

    def grab(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with uow() as u:
            facts = u.record.all_form_facts(("ide.plaie", "ide.braden"), NOW - dt.timedelta(days=180))
            pregnancy = u.record.all_form_facts(("sf.suivi_g",), NOW - dt.timedelta(days=180))
            everything = u.record.all_form_facts((), NOW - dt.timedelta(days=180))
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    assert [(f.patient_id, f.template_key) for f in facts] == [
        (old, "ide.plaie"),
        (old, "ide.plaie.cabinet"),
        (old, "ide.braden"),
        (young, "ide.plaies"),
    ]
    assert facts[0].values == {"plaie": "Talon", "surface": 12.0} and facts[0].at == NOW - dt.timedelta(days=30)
    assert [f.template_key for f in pregnancy] == ["sf.suivi_grossesse"]
    assert len(everything) == 7
    if engine.dialect.name == "sqlite":
        query = next(s for s in statements if "template_key" in s and "record_observation.at >=" in s)
        with engine.connect() as conn:
            since = (NOW - dt.timedelta(days=180)).strftime("%Y-%m-%d %H:%M:%S.%f")
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + query, ("formulaire", since, "ide.plaie*", "ide.braden*")
            ).all()
        details = " ".join(str(row[-1]) for row in plan)
        assert "USING INDEX ix_record_observation_template_at" in details, details
        assert "SCAN record_observation" not in details
