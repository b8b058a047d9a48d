"""Decision rules, each with the explanation it gives: vaccines, pregnancy steps, allergies, Braden, wounds."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from domain.decision import (
    AlertLevel,
    DecisionSupport,
    Dose,
    Person,
    Pregnancy,
    ProductLine,
    RecordSnapshot,
    allergy_alerts,
    braden_alerts,
    current_pregnancy,
    parse_allergy_classes,
    parse_pregnancy_schedule,
    parse_schedule,
    pregnancy_alerts,
    pregnancy_plan,
    vaccine_alerts,
    vaccines_due_bulk,
    wound_alerts,
)
from domain.errors import InvalidInput
from domain.record import EntryKind, FormFact, RecordEntry

DATA = Path(__file__).resolve().parents[2] / "resources" / "record"
SCHEDULE = parse_schedule(json.loads((DATA / "calendrier_vaccinal_2025.json").read_text(encoding="utf-8")))
PREGNANCY = parse_pregnancy_schedule(json.loads((DATA / "suivi_grossesse.json").read_text(encoding="utf-8")))
CLASSES = parse_allergy_classes(json.loads((DATA / "classes_allergies.json").read_text(encoding="utf-8")))
NOVEMBER = dt.date(2026, 11, 27)  # in the flu campaign
JUNE = dt.date(2026, 6, 10)  # outside it


def at(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 10, tzinfo=dt.UTC)


def test_schedule_file_states_its_source_year_and_link() -> None:
    assert SCHEDULE.year == 2025 and "Calendrier des vaccinations" in SCHEDULE.title
    assert SCHEDULE.link.startswith("https://sante.gouv.fr/")
    assert {"dtp", "grippe", "menb", "menacwy", "vrs"} <= set(SCHEDULE.valences)
    with pytest.raises(InvalidInput, match="Calendrier vaccinal illisible"):
        parse_schedule({"titre": "x"})
    with pytest.raises(InvalidInput, match="valence inconnue"):
        parse_schedule({**json.loads((DATA / "calendrier_vaccinal_2025.json").read_text()), "valences": {"dtp": "x"}})


def test_infant_due_at_two_months_with_explanation() -> None:
    birth = dt.date(2026, 9, 20)  # 2 months on 27/11/2026
    alerts = vaccine_alerts(SCHEDULE, birth, [], NOVEMBER)
    titles = [a.title for a in alerts]
    assert any("2 mois : DTCaP-Hib-HépB" in t for t in titles)
    first = next(a for a in alerts if a.key == "vaccin:nrs_2m")
    assert first.level is AlertLevel.ALERT and first.rule == "Calendrier vaccinal"
    assert ("Âge", "2 mois") in first.data and ("Doses enregistrées", "aucune") in first.data
    assert "Attendu : 1 dose(s) au moins" in first.explanation
    assert first.link == SCHEDULE.link
    done = [Dose(frozenset({"dtp", "coqueluche", "hib", "hepb"}), dt.date(2026, 11, 21))]
    assert "vaccin:nrs_2m" not in {a.key for a in vaccine_alerts(SCHEDULE, birth, done, NOVEMBER)}


def test_adult_booster_at_25_and_dose_since_age() -> None:
    birth = dt.date(2001, 6, 1)  # 25 years
    alerts = vaccine_alerts(SCHEDULE, birth, [Dose(frozenset({"dtp"}), dt.date(2013, 1, 5))], NOVEMBER)
    booster = next(a for a in alerts if a.key == "vaccin:adu_25a")
    assert "une dose depuis le 01/06/2025" in booster.explanation and "05/01/2013" in booster.explanation
    recent = [Dose(frozenset({"dtp", "coqueluche"}), dt.date(2025, 9, 1))]
    assert "vaccin:adu_25a" not in {a.key for a in vaccine_alerts(SCHEDULE, birth, recent, NOVEMBER)}


def test_flu_only_during_the_campaign_and_once_per_season() -> None:
    birth = dt.date(1950, 3, 3)
    keys = {a.key for a in vaccine_alerts(SCHEDULE, birth, [], NOVEMBER)}
    assert "vaccin:sen_grippe:2026" in keys
    assert not any(
        k.startswith("vaccin:sen_grippe") for k in (a.key for a in vaccine_alerts(SCHEDULE, birth, [], JUNE))
    )
    last_season = [Dose(frozenset({"grippe"}), dt.date(2025, 10, 20))]
    assert "vaccin:sen_grippe:2026" in {a.key for a in vaccine_alerts(SCHEDULE, birth, last_season, NOVEMBER)}
    this_season = [Dose(frozenset({"grippe"}), dt.date(2026, 10, 20))]
    assert "vaccin:sen_grippe:2026" not in {a.key for a in vaccine_alerts(SCHEDULE, birth, this_season, NOVEMBER)}


def test_pregnancy_vaccines_by_term() -> None:
    birth = dt.date(1995, 1, 1)
    pregnancy = Pregnancy(conception=dt.date(2026, 6, 15), dated_by="echo")  # 25 SA + 4 j on 27/11
    alerts = vaccine_alerts(SCHEDULE, birth, [], NOVEMBER, pregnancy)
    whooping = next(a for a in alerts if a.key.startswith("vaccin:gro_coqueluche"))
    assert ("Terme", "25 SA + 4 j (terme prévu le 15/03/2027)") in whooping.data
    assert "pendant cette grossesse (depuis le 15/06/2026)" in whooping.explanation
    assert not any(a.key.startswith("vaccin:gro_vrs") for a in alerts)  # 32–36 SA only
    given = [Dose(frozenset({"dtp", "coqueluche"}), dt.date(2026, 11, 2))]
    assert not any(
        a.key.startswith("vaccin:gro_coqueluche") for a in vaccine_alerts(SCHEDULE, birth, given, NOVEMBER, pregnancy)
    )
    # A dose before this pregnancy does not count.
    before = [Dose(frozenset({"dtp", "coqueluche"}), dt.date(2024, 1, 2))]
    assert any(
        a.key.startswith("vaccin:gro_coqueluche") for a in vaccine_alerts(SCHEDULE, birth, before, NOVEMBER, pregnancy)
    )


def test_bulk_rule_matches_the_per_patient_rule() -> None:
    people = [Person(i, dt.date(1940, 1, 1) + dt.timedelta(days=97 * i)) for i in range(320)]
    doses = {
        5: [Dose(frozenset({"grippe"}), dt.date(2026, 10, 2))],
        6: [Dose(frozenset({"grippe", "covid"}), dt.date(2025, 10, 2)), Dose(frozenset({"zona"}), dt.date(2024, 1, 1))],
        290: [Dose(frozenset({"dtp"}), dt.date(2025, 1, 2))],
        291: [Dose(frozenset({"dtp"}), dt.date(2001, 1, 2))],
        300: [Dose(frozenset({"dtp", "coqueluche", "hib", "hepb"}), dt.date(2026, 1, 2))],
    }
    bulk = vaccines_due_bulk(SCHEDULE, people, doses, NOVEMBER)
    for person in people:
        single = {
            a.key.split(":")[1]
            for a in vaccine_alerts(SCHEDULE, person.birth, doses.get(person.patient_id, []), NOVEMBER)
        }
        assert single == {s.id for s in bulk.get(person.patient_id, [])}, person


def facts_pregnancy(*visits: tuple[dt.date, list[str]]) -> list[FormFact]:
    return [
        FormFact(
            1,
            at(day),
            "sf.suivi_grossesse",
            {"date_visite": day.isoformat(), "datation": "ddr", "ddr": "2026-06-01", "etapes": steps},
        )
        for day, steps in visits
    ]


def test_pregnancy_from_forms_and_milestones() -> None:
    facts = facts_pregnancy((dt.date(2026, 7, 20), ["declaration", "echo_t1"]), (dt.date(2026, 9, 25), ["epp"]))
    pregnancy = current_pregnancy(facts)
    assert pregnancy is not None and pregnancy.conception == dt.date(2026, 6, 15) and pregnancy.dated_by == "ddr"
    assert pregnancy.done == {"declaration", "echo_t1", "epp"}
    plan = pregnancy_plan(PREGNANCY, pregnancy)
    assert plan[0].code == "declaration" and plan[0].done
    monthly = [i for i in plan if i.code.startswith("mois_")]
    assert len(monthly) == 6 and monthly[0].label == "Examen prénatal du 4e mois"
    alerts = pregnancy_alerts(PREGNANCY, pregnancy, NOVEMBER)  # 25 SA + 4 j
    by_code = {a.key.split(":")[1]: a for a in alerts}
    assert by_code["echo_t2"].title == "Échographie du 2e trimestre (morphologique)"  # window still open
    assert by_code["echo_t2"].level is AlertLevel.WARNING
    assert "datée par DDR" in by_code["echo_t2"].explanation
    assert "entre le 19/10/2026 et le 29/11/2026" in by_code["echo_t2"].explanation
    assert by_code["mois_5"].title == "En retard — Examen prénatal du 5e mois"  # 15/10–14/11, no visit
    assert by_code["mois_5"].level is AlertLevel.ALERT
    assert "mois_4" not in by_code  # the 25/09 visit
    assert "depistage_t21" not in by_code  # long past: no nagging
    assert "hgpo" in by_code and by_code["hgpo"].level is AlertLevel.INFO
    assert "declaration" not in by_code and "epp" not in by_code
    assert "mois_6" in by_code  # no visit recorded in the 6th month
    assert "anesthesie" not in by_code  # not yet open
    # After delivery nothing is asked any more.
    delivered = [*facts, FormFact(1, at(dt.date(2027, 3, 10)), "sf.post_natal", {"accouchement": "2027-03-10"})]
    assert current_pregnancy(delivered).delivered == dt.date(2027, 3, 10)  # type: ignore[union-attr]
    assert pregnancy_alerts(PREGNANCY, current_pregnancy(delivered), dt.date(2027, 3, 12)) == []  # type: ignore[arg-type]


def test_ultrasound_dating_wins_over_lmp() -> None:
    facts = [
        *facts_pregnancy((dt.date(2026, 7, 20), [])),
        FormFact(
            1,
            at(dt.date(2026, 8, 20)),
            "sf.suivi_grossesse",
            {"datation": "echo", "ddg": "2026-06-20", "date_visite": "2026-08-20"},
        ),
    ]
    pregnancy = current_pregnancy(facts)
    assert pregnancy is not None and pregnancy.conception == dt.date(2026, 6, 20) and pregnancy.dated_by == "echo"


def entry(kind: EntryKind, label: str, **kw: object) -> RecordEntry:
    return RecordEntry(None, 1, kind, label, recorded_at=at(dt.date(2025, 3, 2)), **kw)  # type: ignore[arg-type]


def test_allergy_against_a_product_explains_the_class() -> None:
    allergies = [entry(EntryKind.ALLERGY, "Pénicilline", detail="urticaire géante")]
    alerts = allergy_alerts(CLASSES, allergies, [ProductLine("AMOXICILLINE 1 g cp", "prescription du 12/11/2026")])
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.level is AlertLevel.ALERT and alert.rule == "Allergie et produit"
    assert "appartient à la classe des pénicillines (bêta-lactamines)" in alert.explanation
    assert "notée le 02/03/2025" in alert.explanation
    assert ("Allergie", "Pénicilline — urticaire géante") in alert.data
    assert allergy_alerts(CLASSES, allergies, [ProductLine("Paracétamol 1 g", "traitement en cours")]) == []
    same = allergy_alerts(CLASSES, [entry(EntryKind.ALLERGY, "Tramadol")], [ProductLine("Tramadol 50 mg", "x")])
    assert same and "opioïdes" in same[0].explanation
    plain = allergy_alerts(CLASSES, [entry(EntryKind.ALLERGY, "Fraise")], [ProductLine("Sirop fraise", "x")])
    assert plain and "contient « Fraise »" in plain[0].explanation
    closed = [entry(EntryKind.ALLERGY, "AINS", active=False)]
    assert allergy_alerts(CLASSES, closed, [ProductLine("Ibuprofène 400", "x")]) == []
    assert allergy_alerts(CLASSES, [entry(EntryKind.ALLERGY, "AINS")], [ProductLine("Ibuprofène 400", "x")])


def braden(day: dt.date, total: float) -> FormFact:
    return FormFact(1, at(day), "ide.braden", {"total": total})


def test_braden_bands_and_reassessment() -> None:
    assert braden_alerts([braden(NOVEMBER, 19)], NOVEMBER) == []
    alerts = braden_alerts([braden(dt.date(2026, 11, 1), 20), braden(dt.date(2026, 11, 25), 11)], NOVEMBER)
    assert len(alerts) == 1 and alerts[0].title == "Risque d'escarre élevé (Braden 11)"
    assert ("Évalué le", "25/11/2026") in alerts[0].data and alerts[0].level is AlertLevel.ALERT
    old = braden_alerts([braden(dt.date(2026, 11, 10), 14)], NOVEMBER)
    assert [a.title for a in old] == ["Risque d'escarre modéré (Braden 14)", "Réévaluer le score de Braden"]
    assert "il y a 17 jours" in old[1].explanation


def wound(day: dt.date, area: float, name: str = "Talon gauche") -> FormFact:
    return FormFact(1, at(day), "ide.plaie", {"plaie": name, "surface": area})


def test_wound_not_improving() -> None:
    slow = [wound(dt.date(2026, 10, 20), 10.0), wound(dt.date(2026, 11, 3), 9.0), wound(dt.date(2026, 11, 24), 8.0)]
    alerts = wound_alerts(slow)
    assert len(alerts) == 1
    assert (
        "réduction de 11 % en 21 jours (9 cm² le 03/11/2026, 8 cm² le 24/11/2026)" in alerts[0].explanation
        and "moins de 40 %" in alerts[0].explanation
    )
    assert ("24/11/2026", "8 cm²") in alerts[0].data
    healing = [wound(dt.date(2026, 10, 20), 10.0), wound(dt.date(2026, 11, 24), 5.0)]
    assert wound_alerts(healing) == []
    growing = [wound(dt.date(2026, 11, 20), 4.0), wound(dt.date(2026, 11, 24), 5.0, "talon GAUCHE")]
    grown = wound_alerts(growing)
    assert grown and "la surface a augmenté" in grown[0].explanation
    assert wound_alerts([wound(dt.date(2026, 11, 20), 4.0)]) == []  # one measurement says nothing


def test_decision_support_combines_rules_by_profession() -> None:
    support = DecisionSupport(SCHEDULE, PREGNANCY, CLASSES)
    snapshot = RecordSnapshot(
        dt.date(1950, 1, 1),
        "F",
        (entry(EntryKind.ALLERGY, "Héparine"), entry(EntryKind.TREATMENT, "Lovenox 4000 UI")),
        (braden(NOVEMBER, 9),),
    )
    nurse = support.evaluate(snapshot, NOVEMBER, "60")
    assert nurse[0].level is AlertLevel.ALERT
    rules = {a.rule for a in nurse}
    assert {"Calendrier vaccinal", "Allergie et produit", "Score de Braden"} <= rules
    physio = support.evaluate(snapshot, NOVEMBER, "70")
    assert "Calendrier vaccinal" not in {a.rule for a in physio}
