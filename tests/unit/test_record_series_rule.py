"""Decision support: the end of a prescribed care series (issue 6), explained and keyed for dismissal."""

from __future__ import annotations

import datetime as dt

from domain.agenda import CareSeries, SeriesCounts, SeriesPeriod, SeriesRhythm
from domain.decision import AlertLevel, series_alerts

TODAY = dt.date(2026, 11, 27)


def _series(prescribed: int = 10, alert_remaining: int = 2) -> CareSeries:
    return CareSeries(
        7,
        1,
        3,
        "Rééducation du genou",
        "REEDUC",
        SeriesRhythm(2, SeriesPeriod.WEEK, 5),
        prescribed,
        prescriber="Dr Jean DUPUIS",
        prescription_date=dt.date(2026, 10, 1),
        alert_remaining=alert_remaining,
    )


def _at(days_ago: int) -> dt.datetime:
    return dt.datetime.combine(TODAY - dt.timedelta(days=days_ago), dt.time(9), tzinfo=dt.UTC)


def test_nothing_while_the_series_runs_as_planned() -> None:
    assert series_alerts([(_series(), SeriesCounts(done=4, planned=6, last_session=_at(-3)))], TODAY) == []


def test_renewal_when_few_sessions_are_left_with_the_facts_used() -> None:
    [alert] = series_alerts([(_series(), SeriesCounts(done=8, planned=2, last_session=_at(-2)))], TODAY)
    assert alert.rule == "Fin de série de soins" and alert.level is AlertLevel.WARNING
    assert alert.title == "Fin de série proche : plus que 2 séances (Rééducation du genou)"
    assert "8 séances réalisées sur 10, 2 restantes (2 planifiées)" in alert.explanation
    assert "renouvellement" in alert.explanation
    data = dict(alert.data)
    assert data["Prescripteur"] == "Dr Jean DUPUIS" and data["Prescrite le"] == "01/10/2026"
    assert data["Réalisées"] == "8" and data["Séances prescrites"] == "10"
    assert alert.key == "serie:7:fin-proche:2" and "NGAP" in alert.source


def test_the_series_own_threshold_is_used() -> None:
    assert series_alerts([(_series(alert_remaining=0), SeriesCounts(done=9, planned=1))], TODAY) == []
    [alert] = series_alerts([(_series(alert_remaining=4), SeriesCounts(done=6, planned=4))], TODAY)
    assert "plus que 4 séances" in alert.title


def test_sessions_neither_done_nor_planned_are_reported_to_replan() -> None:
    [alert] = series_alerts([(_series(), SeriesCounts(done=3, planned=4, cancelled=2, no_show=1))], TODAY)
    assert alert.level is AlertLevel.INFO and alert.title == "3 séances à planifier (Rééducation du genou)"
    assert dict(alert.data)["Annulées / absences"] == "2 / 1"


def test_a_finished_series_is_reported_for_a_month_then_forgotten() -> None:
    recent = series_alerts([(_series(), SeriesCounts(done=10, last_session=_at(5)))], TODAY)
    assert [a.title for a in recent] == ["Série terminée : Rééducation du genou"]
    assert "nouvelle prescription" in recent[0].explanation and recent[0].key == "serie:7:terminee"
    assert series_alerts([(_series(), SeriesCounts(done=10, last_session=_at(45)))], TODAY) == []
    assert series_alerts([(_series(), SeriesCounts(done=10))], TODAY) == []
