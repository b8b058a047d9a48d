"""Agenda rules: holidays, DST, durations, conflicts, care series (recurrence, caps, counts), rounds, waiting list."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import replace

import holidays as holidays_lib
import pytest

from domain.agenda import (
    MAX_SERIES_OCCURRENCES,
    PARIS,
    Absence,
    Appointment,
    AppointmentStatus,
    CareSeries,
    ConflictKind,
    FreedSlot,
    PartOfDay,
    PlaceKind,
    RoundStop,
    SeriesPeriod,
    SeriesPlan,
    SeriesRhythm,
    WaitingEntry,
    WorkingPeriod,
    due_reminders,
    easter_sunday,
    estimated_distance_m,
    find_conflicts,
    french_public_holidays,
    generate_series,
    local_datetime,
    matching_entries,
    parse_address,
    parse_rhythm,
    retime_round,
    route_length_m,
    series_progress,
    suggest_round_order,
    validate_appointment,
    validate_interval,
    within_working_hours,
)
from domain.errors import InvalidInput


def at(day: str, time: str) -> dt.datetime:
    return local_datetime(dt.date.fromisoformat(day), dt.time.fromisoformat(time))


def appt(start: dt.datetime, minutes: int = 30, *, pid: int = 1, id: int | None = None, **kw: object) -> Appointment:
    return Appointment(id, pid, 10, start, start + dt.timedelta(minutes=minutes), "SOIN_CAB", **kw)  # type: ignore[arg-type]


# -- public holidays -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("year", range(2000, 2041))
def test_computed_holidays_match_the_holidays_library(year: int) -> None:
    ours = french_public_holidays(year)
    reference = {d for d in holidays_lib.France(years=year)}
    assert set(ours) == reference


def test_alsace_moselle_and_easter() -> None:
    assert easter_sunday(2026) == dt.date(2026, 4, 5)
    assert easter_sunday(2038) == dt.date(2038, 4, 25)
    local = french_public_holidays(2026, alsace_moselle=True)
    assert local[dt.date(2026, 4, 3)] == "Vendredi saint" and dt.date(2026, 12, 26) in local
    assert french_public_holidays(2026)[dt.date(2026, 5, 14)] == "Ascension"


# -- times, durations, DST -------------------------------------------------------------------------------------
def test_skipped_hour_in_march_is_refused_and_repeated_hour_in_october_is_the_first() -> None:
    with pytest.raises(InvalidInput, match="n'existe pas le 29/03/2026"):
        at("2026-03-29", "02:30")
    first = at("2026-10-25", "02:30")
    assert first.astimezone(PARIS).utcoffset() == dt.timedelta(hours=2)


def test_an_appointment_across_the_dst_change_keeps_its_real_length() -> None:
    start = at("2026-10-25", "01:30")
    end = at("2026-10-25", "03:00")
    assert end - start == dt.timedelta(hours=2, minutes=30)  # 02:00-03:00 happens twice
    validate_interval(start, end)


def test_across_midnight_is_accepted_but_zero_and_48_hours_are_not() -> None:
    validate_interval(at("2026-12-07", "23:30"), at("2026-12-08", "00:30"))
    with pytest.raises(InvalidInput, match="Durée nulle"):
        validate_interval(at("2026-12-07", "10:00"), at("2026-12-07", "10:00"))
    with pytest.raises(InvalidInput, match="au plus 12 heures \\(demandé : 48 h\\)"):
        validate_interval(at("2026-12-07", "10:00"), at("2026-12-09", "10:00"))
    with pytest.raises(InvalidInput, match="avant l'heure de début"):
        validate_interval(at("2026-12-07", "10:00"), at("2026-12-07", "09:00"))
    with pytest.raises(InvalidInput, match="fuseau"):
        validate_interval(dt.datetime(2026, 12, 7, 10), dt.datetime(2026, 12, 7, 11))


def test_validation_of_fields() -> None:
    with pytest.raises(InvalidInput) as err:
        validate_appointment(Appointment(None, 1, None, at("2026-12-07", "10:00"), at("2026-12-07", "10:30"), "X"))
    assert "patient" in err.value.field_errors
    home = appt(at("2026-12-07", "10:00"), place=PlaceKind.HOME)
    with pytest.raises(InvalidInput, match="adresse"):
        validate_appointment(home)
    cancelled = appt(at("2026-12-07", "10:00"), status=AppointmentStatus.CANCELLED)
    with pytest.raises(InvalidInput, match="motif"):
        validate_appointment(cancelled)
    assert validate_appointment(appt(at("2026-12-07", "10:00"), note="  x  ")).note == "x"


# -- conflicts -------------------------------------------------------------------------------------------------
def test_overlaps_per_practitioner_and_freed_slots() -> None:
    existing = [
        appt(at("2026-12-07", "09:00"), 30, id=1),
        appt(at("2026-12-07", "09:30"), 30, id=2),
        appt(at("2026-12-07", "10:00"), 30, id=3, pid=2),
        appt(at("2026-12-07", "11:00"), 30, id=4, status=AppointmentStatus.CANCELLED, status_reason="x"),
    ]
    hours = [WorkingPeriod(0, dt.time(8), dt.time(12))]
    touching = appt(at("2026-12-07", "08:30"), 30)
    assert find_conflicts(touching, existing, working_hours=hours, holidays={}) == []
    both = find_conflicts(appt(at("2026-12-07", "09:15"), 30), existing)
    assert [c.other_id for c in both] == [1, 2] and all(c.blocking for c in both)
    # Another practitioner's appointment and a cancelled one do not conflict; an appointment never conflicts
    # with itself (moving it a little).
    assert find_conflicts(appt(at("2026-12-07", "10:00"), 30), existing) == []
    assert find_conflicts(appt(at("2026-12-07", "11:00"), 30), existing) == []
    assert find_conflicts(appt(at("2026-12-07", "09:10"), 30, id=1), existing[:1]) == []


def test_absence_holiday_and_working_hours() -> None:
    absence = Absence(7, 1, at("2026-12-07", "14:00"), at("2026-12-07", "18:00"), "Formation")
    hours = [WorkingPeriod(0, dt.time(8), dt.time(12)), WorkingPeriod(4, dt.time(8), dt.time(12))]
    found = find_conflicts(appt(at("2026-12-07", "15:00")), [], absences=[absence], working_hours=hours, holidays={})
    assert {c.kind for c in found} == {ConflictKind.ABSENCE, ConflictKind.OUTSIDE_HOURS}
    assert "Formation" in found[0].message_fr
    christmas = find_conflicts(
        appt(at("2026-12-25", "09:00")), [], working_hours=hours, holidays=french_public_holidays(2026)
    )
    assert [c.kind for c in christmas] == [ConflictKind.HOLIDAY] and not christmas[0].blocking
    assert not within_working_hours(at("2026-12-07", "11:45"), at("2026-12-07", "12:15"), hours)
    assert not within_working_hours(at("2026-12-07", "23:30"), at("2026-12-08", "00:30"), hours)


# -- care series -----------------------------------------------------------------------------------------------
def test_rhythm_parsing() -> None:
    assert parse_rhythm("2 séances par semaine pendant 6 semaines") == SeriesRhythm(2, SeriesPeriod.WEEK, 6)
    assert parse_rhythm("Soins 2 fois par jour pendant 10 jours") == SeriesRhythm(2, SeriesPeriod.DAY, 10)
    assert parse_rhythm("3/semaine sur 4 semaines").total == 12
    assert parse_rhythm("1 passage par jour pendant 2 semaines") == SeriesRhythm(1, SeriesPeriod.DAY, 14)
    with pytest.raises(InvalidInput, match="Rythme non compris"):
        parse_rhythm("tous les jours")
    with pytest.raises(InvalidInput, match="Au plus 6 séances par jour"):
        parse_rhythm("9 fois par jour pendant 2 jours")


def test_ten_thousand_occurrences_are_refused_with_a_clear_message() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_rhythm("5 fois par jour pendant 2000 jours")
    message = err.value.message_fr
    assert "10\u202f000 séances demandées" in message and f"{MAX_SERIES_OCCURRENCES} au plus" in message


def test_two_sessions_a_week_for_six_weeks() -> None:
    plan = SeriesPlan(
        parse_rhythm("2 séances par semaine pendant 6 semaines"),
        dt.date(2026, 11, 26),  # a Thursday
        (dt.time(8, 0),),
        frozenset({0, 3}),
        30,
    )
    occurrences = generate_series(plan)
    assert len(occurrences) == 12
    days = [s.astimezone(PARIS).date() for s, _ in occurrences]
    assert days[0] == dt.date(2026, 11, 26)
    assert all(d.weekday() in (0, 3) for d in days)
    assert all(s.astimezone(PARIS).time() == dt.time(8) and e - s == dt.timedelta(minutes=30) for s, e in occurrences)
    # Christmas (Friday) is not a Monday/Thursday; but 31/12 → 01/01 is: Thursday 1 January 2027 is skipped.
    assert dt.date(2027, 1, 1) not in days
    per_week: dict[dt.date, int] = {}
    for d in days:
        monday = d - dt.timedelta(days=d.weekday())
        per_week[monday] = per_week.get(monday, 0) + 1
    assert max(per_week.values()) == 2


def test_twice_a_day_for_ten_days_across_the_dst_change_keeps_the_wall_clock() -> None:
    plan = SeriesPlan(
        parse_rhythm("soins 2 fois par jour pendant 10 jours"),
        dt.date(2026, 10, 20),
        (dt.time(19, 0), dt.time(8, 0)),
        frozenset(range(7)),
        15,
        skip_holidays=False,
    )
    occurrences = generate_series(plan)
    assert len(occurrences) == 20
    local = [s.astimezone(PARIS) for s, _ in occurrences]
    assert {t.time() for t in local} == {dt.time(8), dt.time(19)}
    assert local[0].date() == dt.date(2026, 10, 20) and local[-1].date() == dt.date(2026, 10, 29)
    assert {t.utcoffset() for t in local} == {dt.timedelta(hours=2), dt.timedelta(hours=1)}
    assert all(e - s == dt.timedelta(minutes=15) for s, e in occurrences)


def test_series_plan_errors() -> None:
    rhythm = SeriesRhythm(2, SeriesPeriod.DAY, 3)
    with pytest.raises(InvalidInput, match="2 heure"):
        generate_series(SeriesPlan(rhythm, dt.date(2026, 12, 1), (dt.time(8),), frozenset(range(7)), 15))
    with pytest.raises(InvalidInput, match="chevauchent"):
        generate_series(SeriesPlan(rhythm, dt.date(2026, 12, 1), (dt.time(8), dt.time(8, 10)), frozenset(range(7)), 15))
    weekly = SeriesRhythm(3, SeriesPeriod.WEEK, 2)
    with pytest.raises(InvalidInput, match="au moins 3 jours"):
        generate_series(SeriesPlan(weekly, dt.date(2026, 12, 1), (dt.time(8),), frozenset({0, 1}), 30))
    with pytest.raises(InvalidInput, match="n'existe pas"):
        generate_series(
            SeriesPlan(
                SeriesRhythm(1, SeriesPeriod.DAY, 3), dt.date(2026, 3, 28), (dt.time(2, 30),), frozenset(range(7)), 15
            )
        )


def test_progress_counts_and_renewal_alert() -> None:
    series = CareSeries(5, 10, 1, "Genou", "REEDUC", SeriesRhythm(2, SeriesPeriod.WEEK, 3), 6, alert_remaining=2)
    start = at("2026-12-01", "08:00")
    occ = [appt(start + dt.timedelta(days=i), id=i + 1, series_id=5) for i in range(6)]
    statuses = [AppointmentStatus.DONE] * 4 + [AppointmentStatus.PLANNED, AppointmentStatus.CANCELLED]
    occ = [replace(o, status=s) for o, s in zip(occ, statuses, strict=True)]
    progress = series_progress(series, occ)
    assert (progress.done, progress.planned, progress.cancelled, progress.left) == (4, 1, 1, 2)
    assert "Plus que 2 séances" in progress.alert_fr and "1 séance à replanifier" in progress.alert_fr
    assert "4 séances réalisées sur 6, 2 restantes" in progress.summary_fr
    early = series_progress(series, [replace(o, status=AppointmentStatus.PLANNED) for o in occ])
    assert early.alert_fr == ""


# -- rounds ----------------------------------------------------------------------------------------------------
def test_address_parsing_and_distance_estimate() -> None:
    a = parse_address("12 rue du Moulin, 51100 Reims")
    b = parse_address("30 Rue du Moulin\n51100 REIMS")
    assert (a.number, a.street, a.postal_code, a.city) == (12, "rue du moulin", "51100", "reims")
    assert estimated_distance_m(a, b) == 216
    assert estimated_distance_m(a, parse_address("3 place de l'Église, 51100 Reims")) == 1500
    assert estimated_distance_m(a, parse_address("1 rue Haute, 51500 Sillery")) == 12_000
    assert estimated_distance_m(a, parse_address("1 rue Haute, 69003 Lyon")) == 60_000
    assert estimated_distance_m(a, parse_address("")) == 3000


def test_suggested_round_groups_streets_and_is_shorter() -> None:
    start = "12 rue des Tilleuls, 51100 Reims"
    addresses = [
        "2 rue du Moulin, 51100 Reims",
        "5 avenue Foch, 51100 Reims",
        "40 rue du Moulin, 51100 Reims",
        "7 avenue Foch, 51100 Reims",
        "20 rue du Moulin, 51100 Reims",
    ]
    stops = [
        RoundStop(i + 1, at("2026-12-07", "07:00") + dt.timedelta(minutes=20 * i), 15, f"P{i}", addr, "", "soin")
        for i, addr in enumerate(addresses)
    ]
    suggested = suggest_round_order(start, stops)
    order = [s.address for s in suggested]
    assert sorted(order) == sorted(addresses)
    before = route_length_m(start, addresses)
    after = route_length_m(start, order)
    assert after < before
    streets = [parse_address(a).street for a in order]
    assert streets in (
        ["rue du moulin"] * 3 + ["avenue foch"] * 2,
        ["avenue foch"] * 2 + ["rue du moulin"] * 3,
    )
    starts = retime_round(suggested, at("2026-12-07", "07:00"))
    assert starts[0] == at("2026-12-07", "07:00") and all(b > a for a, b in itertools.pairwise(starts))


# -- waiting list and reminders --------------------------------------------------------------------------------
def test_waiting_list_matching() -> None:
    now = at("2026-12-01", "08:00")
    slot = FreedSlot(1, at("2026-12-07", "09:00"), at("2026-12-07", "09:30"))
    entries = [
        WaitingEntry(1, 10, None, "REEDUC", 30, now - dt.timedelta(days=3)),
        WaitingEntry(2, 11, 1, "REEDUC", 30, now - dt.timedelta(days=9), part_of_day=PartOfDay.MORNING),
        WaitingEntry(3, 12, 2, "REEDUC", 30, now - dt.timedelta(days=20)),  # another practitioner
        WaitingEntry(4, 13, None, "REEDUC", 45, now - dt.timedelta(days=20)),  # too long
        WaitingEntry(5, 14, None, "REEDUC", 30, now, part_of_day=PartOfDay.AFTERNOON),
        WaitingEntry(6, 15, None, "REEDUC", 30, now, weekdays=frozenset({2})),  # Wednesdays only
        WaitingEntry(7, 16, None, "REEDUC", 30, now, latest=dt.date(2026, 12, 5)),
    ]
    assert [e.id for e in matching_entries(slot, entries, now)] == [2, 1]
    assert matching_entries(slot, entries, at("2026-12-08", "08:00")) == []


def test_due_reminders() -> None:
    now = at("2026-12-06", "10:00")
    items = [
        appt(at("2026-12-07", "09:00"), id=1),
        appt(at("2026-12-07", "11:00"), id=2),  # more than 24 h ahead
        appt(at("2026-12-07", "09:30"), id=3, reminded_at=now),
        appt(at("2026-12-07", "09:45"), id=4, status=AppointmentStatus.CANCELLED, status_reason="x"),
        appt(at("2026-12-06", "09:00"), id=5),  # past
    ]
    reminders = due_reminders(items, now)
    assert [r.appointment_id for r in reminders] == [1]
    assert "lundi 07/12/2026 à 09:00 au cabinet" in reminders[0].text_fr
