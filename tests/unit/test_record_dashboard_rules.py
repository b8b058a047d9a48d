"""The dashboard's fast paths give the answers of the per-patient rules (vaccines by age, dismissals, levels)."""

from __future__ import annotations

import datetime as dt
import gc
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.dto import PatientForm
from app.services.patients import PatientService
from app.services.record import RecordService
from app.session import CurrentUser
from domain.decision import (
    AlertLevel,
    Dose,
    DoseTuple,
    Person,
    parse_schedule,
    vaccine_alerts,
    vaccines_due_bulk,
)
from domain.errors import PermissionDenied
from domain.forms import add_months
from domain.practice import Profession, UserAccount, UserRole
from domain.record import EntryKind, RecordEntry
from tests.fakes import FakeCog, FakeUnitOfWorkFactory, MutableClock

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
SCHEDULE = parse_schedule(
    json.loads((RESOURCES / "record" / "calendrier_vaccinal_2025.json").read_text(encoding="utf-8"))
)
VALENCES = sorted(SCHEDULE.valences)
NURSE = UserAccount(1, "ide", "Camille DURAND", UserRole.PRACTITIONER, 1, Profession.NURSE)
# In and out of the flu campaign, month ends (age in months changes on the birth day), a leap day.
TODAYS = (
    dt.date(2026, 11, 27),
    dt.date(2026, 6, 10),
    dt.date(2026, 1, 31),
    dt.date(2028, 2, 29),
    dt.date(2026, 9, 30),
    dt.date(2027, 3, 1),
)


def reference(birth: dt.date, doses: list[DoseTuple], today: dt.date) -> list[str]:
    """Step ids due, in order, as the per-patient rule (the one the patient file shows) says."""
    given_doses = [Dose(*d) for d in doses]
    return [a.key.split(":")[1] for a in vaccine_alerts(SCHEDULE, birth, given_doses, today)]


def random_doses(rng: random.Random, birth: dt.date, today: dt.date) -> list[DoseTuple]:
    doses: list[DoseTuple] = []
    span = max(1, (today - birth).days)
    for _ in range(rng.choice((0, 1, 1, 2, 3, 5))):
        valences = frozenset(rng.sample(VALENCES, rng.choice((1, 1, 1, 2, 4))))
        day = birth + dt.timedelta(days=rng.randrange(span)) if rng.random() < 0.9 else today
        doses.append((valences, day, rng.choice(("", "Boostrixtetra"))))
    return doses


def random_births(rng: random.Random, today: dt.date, count: int) -> list[dt.date]:
    """Births spread over 105 years, many right at a schedule line's age boundaries (± 1 day), a few 29/02."""
    boundaries = sorted(
        {s.age_min_months for s in SCHEDULE.steps}
        | {s.age_max_months for s in SCHEDULE.steps if s.age_max_months is not None}
        | {s.since_months for s in SCHEDULE.steps if s.since_months is not None}
    )
    births = []
    for i in range(count):
        if i % 3 == 0:
            exact = add_months(today, -rng.choice(boundaries))
            births.append(exact + dt.timedelta(days=rng.choice((-1, 0, 1))))
        elif i % 50 == 1:
            births.append(dt.date(rng.choice((1940, 1952, 1980, 2000, 2024)), 2, 29))
        else:
            births.append(today - dt.timedelta(days=rng.randrange(105 * 366)))
    return births


def test_bulk_rule_equals_the_per_patient_rule_on_thousands_of_random_patients() -> None:
    rng = random.Random(20261127)
    for today in TODAYS:
        births = random_births(rng, today, 2500)
        people = [Person(i, b) for i, b in enumerate(births)]
        doses = {p.patient_id: random_doses(rng, p.birth, today) for p in people if rng.random() < 0.4}
        due = vaccines_due_bulk(SCHEDULE, people, doses, today)
        checked = 0
        for person in people:
            expected = reference(person.birth, doses.get(person.patient_id, []), today)
            assert [s.id for s in due.get(person.patient_id, ())] == expected, (today, person, doses.get(person[0]))
            checked += bool(expected)
        assert checked > 500  # the comparison covered many patients with something due


def test_bulk_rule_takes_plain_pairs_and_dose_values_alike() -> None:
    today = dt.date(2026, 11, 27)
    births = {1: dt.date(1950, 3, 3), 2: dt.date(2026, 9, 20), 3: dt.date(2001, 6, 1)}
    as_doses = {
        1: [Dose(frozenset({"grippe"}), dt.date(2026, 10, 2))],
        3: [Dose(frozenset({"dtp"}), dt.date(2025, 9, 1))],
    }
    as_tuples: dict[int, list[DoseTuple]] = {k: [(d.valences, d.day, d.label) for d in v] for k, v in as_doses.items()}
    first = vaccines_due_bulk(SCHEDULE, births.items(), as_doses, today)
    second = vaccines_due_bulk(SCHEDULE, [Person(k, v) for k, v in births.items()], as_tuples, today)
    assert {k: [s.id for s in v] for k, v in first.items()} == {k: [s.id for s in v] for k, v in second.items()}
    assert "sen_grippe" not in [s.id for s in first[1]] and "sen_zona" in [s.id for s in first[1]]
    assert [s.id for s in first[2]] == ["nrs_2m", "nrs_2m_pneumo", "nrs_rota"]
    assert 3 not in first  # the 25-year booster was given after 24 years


@settings(max_examples=150, deadline=None)
@given(
    today=st.dates(dt.date(2024, 1, 1), dt.date(2030, 12, 31)),
    patients=st.lists(
        st.tuples(
            st.integers(0, 40_000),  # age in days
            st.lists(
                st.tuples(st.sets(st.sampled_from(VALENCES), min_size=1, max_size=3), st.integers(0, 40_000)),
                max_size=4,
            ),
        ),
        min_size=1,
        max_size=25,
    ),
)
def test_bulk_rule_equals_the_per_patient_rule_for_any_practice(
    today: dt.date, patients: list[tuple[int, list[tuple[set[str], int]]]]
) -> None:
    births = {pid: today - dt.timedelta(days=age) for pid, (age, _doses) in enumerate(patients)}
    doses: dict[int, list[DoseTuple]] = {
        pid: [(frozenset(v), births[pid] + dt.timedelta(days=min(days, age)), "") for v, days in given_doses]
        for pid, (age, given_doses) in enumerate(patients)
        if given_doses
    }
    due = vaccines_due_bulk(SCHEDULE, births.items(), doses, today)
    for pid, birth in births.items():
        assert [s.id for s in due.get(pid, ())] == reference(birth, doses.get(pid, []), today)


def test_dashboard_vaccine_section_agrees_with_each_patient_file() -> None:
    """Section total, lines, levels and details match the alerts each patient file shows, dismissals included."""
    uow = FakeUnitOfWorkFactory()
    user = CurrentUser(NURSE)
    clock = MutableClock(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC))
    record = RecordService(uow, clock, user, RESOURCES, None)  # type: ignore[arg-type]
    patients = PatientService(uow, FakeCog(), clock, user)
    rng = random.Random(7)
    today = clock.today()
    ids, entries = [], []
    for i, birth in enumerate(random_births(rng, today, 80)):
        form = PatientForm(
            birth_name=f"Patient{chr(65 + i % 26)}{chr(65 + i // 26)}",
            birth_given_names="Alex",
            sex=rng.choice("FM"),
            birth_date=birth.strftime("%d/%m/%Y"),
            birth_place_code="51454",
        )
        pid = patients.create_patient(form).id
        ids.append(pid)
        for valences, day, _label in random_doses(rng, birth, today) if rng.random() < 0.5 else []:
            code = ",".join(sorted(valences))
            entries.append(RecordEntry(None, pid, EntryKind.VACCINATION, code, code, "", day, None, True, None, "test"))
    with uow() as u:  # one write: the fake store copies itself at every unit of work
        u.record.add_entries(entries)
        u.commit()
    dismissed = 0
    for pid in ids:
        due = [a for a in record.alerts(pid) if a.rule == "Calendrier vaccinal"]
        if due and rng.random() < 0.3:
            for alert in rng.sample(due, rng.randint(1, len(due))):
                record.dismiss(pid, alert, "Fait ailleurs, carnet vu")
                dismissed += 1
    assert dismissed > 5

    section = record.dashboard().section("vaccins")
    expected = {}
    for pid in ids:
        due = [a for a in record.alerts(pid) if a.rule == "Calendrier vaccinal"]  # dismissed ones left out
        if due:
            by_schedule = sorted(due, key=lambda a: [s.id for s in SCHEDULE.steps].index(a.key.split(":")[1]))
            level = min((a.level for a in due), key=lambda lv: lv.rank)
            labels = " ; ".join(a.title.removeprefix("Vaccination à proposer — ") for a in by_schedule)
            expected[pid] = (level, labels)
    assert section.total == len(expected) > 20
    assert {line.patient_id: (line.level, line.detail) for line in section.lines} == expected
    assert [line.level.rank for line in section.lines] == sorted(line.level.rank for line in section.lines)
    assert {line.level for line in section.lines} >= {AlertLevel.ALERT, AlertLevel.WARNING}


class SpyClock(MutableClock):
    """Notes whether the cyclic garbage collector runs each time the service reads the time."""

    def __init__(self, at: dt.datetime) -> None:
        super().__init__(at)
        self.collector: list[bool] = []

    def now(self) -> dt.datetime:
        self.collector.append(gc.isenabled())
        return super().now()


def test_dashboard_pauses_the_garbage_collector_only_while_it_runs() -> None:
    uow = FakeUnitOfWorkFactory()
    user = CurrentUser(NURSE)
    clock = SpyClock(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC))
    record = RecordService(uow, clock, user, RESOURCES, None)  # type: ignore[arg-type]
    assert gc.isenabled()
    record.dashboard()
    assert clock.collector and not any(clock.collector)  # paused while the tables were built
    assert gc.isenabled()  # and back on afterwards
    user.set(UserAccount(9, "admin", "Admin", UserRole.ADMINISTRATOR, 1, None))
    with pytest.raises(PermissionDenied):
        record.dashboard()
    assert gc.isenabled()  # also after a failure
    gc.disable()
    try:
        user.set(NURSE)
        record.dashboard()
        assert not gc.isenabled()  # left off when it was off before
    finally:
        gc.enable()
