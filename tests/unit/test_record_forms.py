"""Form engine: template schema checks, conditions and cycles, units and ranges, scores, every shipped template."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from app.services.record import load_template_text
from domain.errors import InvalidInput
from domain.forms import (
    ConditionSyntaxError,
    FieldType,
    TemplateError,
    diabetic_foot_grade,
    fill,
    find_cycle,
    gestational_age,
    parse_condition,
    parse_template,
    summarize,
    term_from_conception,
    term_from_lmp,
)

FORMS = Path(__file__).resolve().parents[2] / "resources" / "forms"
TODAY = dt.date(2026, 11, 27)


def shipped(key: str) -> dict[str, Any]:
    return json.loads((FORMS / f"{key}.json").read_text(encoding="utf-8"))


def minimal(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "key": "test.mini",
        "version": 1,
        "title": "Mini",
        "fields": [
            {"id": "a", "type": "choice", "label": "A", "options": ["oui", "non"]},
            {"id": "b", "type": "text", "label": "B", "visible_if": "a == 'oui'", "required": True},
        ],
    }
    data.update(extra)
    return data


@pytest.mark.parametrize("path", sorted(FORMS.glob("*.json")), ids=lambda p: p.stem)
def test_every_shipped_template_is_valid_and_named_after_its_key(path: Path) -> None:
    template = load_template_text(path.read_text(encoding="utf-8"), path.name)
    assert path.stem == template.key
    assert template.version >= 1 and template.professions and template.source
    assert any(f.is_input for f in template.fields)


def test_each_profile_has_its_starter_templates() -> None:
    keys = {p.stem for p in FORMS.glob("*.json")}
    for expected in (
        "ide.bilan_soins",
        "ide.plaie",
        "ide.injections",
        "ide.braden",
        "sf.suivi_grossesse",
        "sf.post_natal",
        "sf.reeducation_perineale",
        "kine.bilan",
        "kine.seance",
        "ortho.bilan",
        "ortho.renouvellement",
        "orthoptie.bilan",
        "podo.examen_pied",
        "ipa.suivi_chronique",
    ):
        assert expected in keys


def test_schema_problems_are_all_listed_in_french() -> None:
    bad = {
        "key": "Mauvaise Clé",
        "version": 0,
        "title": "",
        "colour": "red",
        "fields": [
            {"id": "x", "type": "nombre", "label": "X"},
            {"id": "y", "type": "choice", "label": "Y"},
            {"id": "w", "type": "number", "label": "W", "min": 10, "max": 1},
            {"id": "z", "type": "text", "label": "Z"},
            {"id": "z", "type": "text", "label": "Z2"},
            {"id": "s", "type": "score", "label": "S", "sum": ["inconnu"]},
        ],
    }
    with pytest.raises(TemplateError) as caught:
        parse_template(bad)
    text = "\n".join(caught.value.problems)
    assert "clé inconnue « colour »" in text
    assert "« key »" in text and "« version »" in text and "« title »" in text
    assert "type « nombre » inconnu" in text
    assert "« options » (liste non vide) obligatoire" in text
    assert "« min » (10) est supérieur à « max » (1)" in text
    assert "identifiant « z » déjà utilisé" in text
    assert "Le modèle de formulaire" in str(caught.value)


def test_unknown_field_in_condition_and_score_terms_without_points() -> None:
    data = minimal()
    data["fields"][1]["visible_if"] = "c == 'oui'"
    data["fields"].append({"id": "s", "type": "score", "label": "S", "sum": ["a"]})
    with pytest.raises(TemplateError) as caught:
        parse_template(data)
    problems = " ".join(caught.value.problems)
    assert "la condition cite le champ inconnu « c »" in problems
    assert "chaque option de « a » doit avoir des « points »" in problems


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("a ==", "condition incomplète"),
        ("(a == 'oui'", r"« \) » attendu en position 12"),
        ("a = 'oui'", "caractère inattendu « = » en position 3"),
        ("a == 'oui' b", "« b » inattendu en position 12"),
        ("a == 'oui", "caractère inattendu « ' »"),
        ("", "condition vide"),
        ("et a", "valeur attendue en position 1"),
    ],
)
def test_condition_syntax_errors_say_where(condition: str, message: str) -> None:
    with pytest.raises(ConditionSyntaxError, match=message):
        parse_condition(condition)
    data = minimal()
    data["fields"][1]["visible_if"] = condition
    with pytest.raises(TemplateError, match=r"condition .* invalide"):
        parse_template(data)


def test_condition_language() -> None:
    values = {"a": "oui", "n": 12.0, "c": ["talon", "sacrum"], "e": ""}
    assert parse_condition("a == 'oui' et n > 10").evaluate(values)
    assert parse_condition("a == 'non' ou (n >= 12 and c contient 'talon')").evaluate(values)
    assert parse_condition("non vide(c) et vide(e)").evaluate(values)
    assert not parse_condition("c contient 'coude'").evaluate(values)
    assert not parse_condition("absent > 3").evaluate(values)  # a missing answer is empty, never an error
    assert parse_condition("n != 3,5").evaluate(values)
    assert parse_condition("a").evaluate(values) and not parse_condition("e").evaluate(values)


def test_cycles_are_detected_with_their_path() -> None:
    data = minimal()
    data["fields"][0]["visible_if"] = "b == 'x'"
    with pytest.raises(TemplateError, match="cycle dans les dépendances des champs : a → b → a"):
        parse_template(data)
    selfish = minimal()
    selfish["fields"][1]["visible_if"] = "b == 'x'"
    with pytest.raises(TemplateError, match="b → b"):
        parse_template(selfish)
    # A score that depends (through its terms' conditions) on itself.
    scored = shipped("ide.braden")
    scored["fields"][0]["visible_if"] = "total > 10"
    with pytest.raises(TemplateError, match="cycle"):
        parse_template(scored)
    assert find_cycle(parse_template(shipped("sf.suivi_grossesse")).fields) == []


def test_json_syntax_error_gives_line_and_column() -> None:
    with pytest.raises(TemplateError, match="ligne 2, colonne 15 : virgule attendue"):
        load_template_text('{"key": "a.b",\n "version": 1 "title": "x"}', "essai")


def test_numbers_units_and_ranges() -> None:
    template = parse_template(shipped("ide.plaie"))
    base = {"plaie": "Talon gauche", "type": "ulcere_veineux", "largeur": "2"}
    entry = fill(template, {**base, "longueur": "45 mm"}, TODAY)
    assert entry.values["longueur"] == 4.5 and entry.values["surface"] == 9.0
    assert fill(template, {**base, "longueur": "4,5 cm"}, TODAY).values["longueur"] == 4.5
    with pytest.raises(InvalidInput) as caught:
        fill(template, {**base, "longueur": "3 kg"}, TODAY)
    assert caught.value.field_errors["longueur"] == "Longueur : unité « kg » non reconnue (unité attendue : cm, mm)."
    with pytest.raises(InvalidInput) as caught:
        fill(template, {**base, "longueur": "70"}, TODAY)
    assert "70 cm est hors limites (valeur admise entre 0 et 60 cm)" in caught.value.field_errors["longueur"]
    with pytest.raises(InvalidInput) as caught:
        fill(template, {**base, "longueur": "douze"}, TODAY)
    assert "nombre attendu" in caught.value.field_errors["longueur"]


def test_required_only_when_visible_and_hidden_answers_are_dropped() -> None:
    template = parse_template(shipped("ide.plaie"))
    base = {"plaie": "Sacrum", "longueur": "3", "largeur": "2"}
    with pytest.raises(InvalidInput) as caught:
        fill(template, {**base, "type": "escarre"}, TODAY)
    assert caught.value.field_errors == {"stade": "Stade de l'escarre : réponse obligatoire."}
    entry = fill(template, {**base, "type": "brulure", "stade": "3", "avis": "x"}, TODAY)
    assert "stade" not in entry.values and "avis" not in entry.values
    # A bad value in a hidden field does not block the form.
    assert fill(template, {**base, "type": "brulure", "stade": "99"}, TODAY).values["type"] == "brulure"


def test_dates_choices_checklists_and_text_limits() -> None:
    template = parse_template(shipped("ide.plaie"))
    base = {"plaie": "Sacrum", "type": "brulure", "longueur": "3", "largeur": "2"}
    assert fill(template, {**base, "prochaine": "02/12/2026"}, TODAY).values["prochaine"] == "2026-12-02"
    with pytest.raises(InvalidInput, match="cette date n'existe pas"):
        fill(template, {**base, "prochaine": "31/02/2027"}, TODAY)
    with pytest.raises(InvalidInput, match="format JJ/MM/AAAA"):
        fill(template, {**base, "prochaine": "demain"}, TODAY)
    with pytest.raises(InvalidInput, match="choix « verte » inconnu"):
        fill(template, {**base, "exsudat": "verte"}, TODAY)
    with pytest.raises(InvalidInput, match="case\\(s\\) inconnue\\(s\\) : pus vert"):
        fill(template, {**base, "infection": ["pus vert"]}, TODAY)
    with pytest.raises(InvalidInput, match="80 caractères au plus"):
        fill(template, {**base, "plaie": "x" * 81}, TODAY)
    ordered = fill(template, {**base, "aspect": ["epidermisation", "necrose"]}, TODAY)
    assert ordered.values["aspect"] == ["necrose", "epidermisation"]  # template order
    visit = parse_template(shipped("sf.suivi_grossesse"))
    with pytest.raises(InvalidInput, match="date dans le futur"):
        fill(visit, {"date_visite": "28/11/2026", "datation": "ddr", "ddr": "01/06/2026"}, TODAY)


def test_attachments_are_checked() -> None:
    template = parse_template(shipped("ide.plaie"))
    base = {"plaie": "Sacrum", "type": "brulure", "longueur": "3", "largeur": "2"}
    photo = {"name": "plaie.jpg", "media_type": "image/jpeg", "sha256": "a" * 64, "size": 10}
    assert fill(template, {**base, "photo": [photo]}, TODAY).values["photo"] == [photo]
    with pytest.raises(InvalidInput, match="type de fichier « application/pdf » non admis"):
        fill(template, {**base, "photo": [{**photo, "media_type": "application/pdf"}]}, TODAY)
    with pytest.raises(InvalidInput, match="pièce jointe invalide"):
        fill(template, {**base, "photo": [{"name": "x"}]}, TODAY)


def test_braden_score_total_and_band() -> None:
    template = parse_template(shipped("ide.braden"))
    answers = {"perception": "2", "humidite": "2", "activite": "1", "mobilite": "2", "nutrition": "2", "friction": "1"}
    entry = fill(template, answers, TODAY)
    assert entry.values["total"] == 10
    assert summarize(template, entry.values) == "Score de Braden : 10 (risque élevé)"
    assert "mesures" not in entry.values
    high = fill(template, {k: "3" for k in answers}, TODAY)
    assert high.values["total"] == 18 and template.field("total").band_for(18.0).label == "risque faible"  # type: ignore[union-attr]
    with pytest.raises(InvalidInput) as caught:
        fill(template, {"perception": "2"}, TODAY)
    assert len(caught.value.field_errors) == 5  # an incomplete score is refused, field by field


def test_pregnancy_term_from_lmp_or_ultrasound() -> None:
    assert term_from_lmp(dt.date(2026, 6, 1)) == dt.date(2027, 3, 15)
    assert term_from_conception(dt.date(2026, 6, 15)) == dt.date(2027, 3, 15)
    assert gestational_age(dt.date(2026, 6, 15), dt.date(2026, 11, 27)) == (25, 4)
    template = parse_template(shipped("sf.suivi_grossesse"))
    by_lmp = fill(template, {"date_visite": "27/11/2026", "datation": "ddr", "ddr": "01/06/2026"}, TODAY)
    assert by_lmp.values["terme_ddr"] == "2027-03-15"
    assert by_lmp.values["age_gestationnel_ddr"] == "25 SA + 4 j"
    by_echo = fill(template, {"date_visite": "27/11/2026", "datation": "echo", "ddg": "20/06/2026"}, TODAY)
    assert by_echo.values["terme_echo"] == "2027-03-20" and "terme_ddr" not in by_echo.values
    assert "Terme prévu (41 SA) : 20/03/2027" in summarize(template, by_echo.values)


def test_diabetic_foot_grading() -> None:
    assert diabetic_foot_grade(False, True, True, False) == 0
    assert diabetic_foot_grade(True, False, False, False) == 1
    assert diabetic_foot_grade(True, True, False, False) == 2
    assert diabetic_foot_grade(True, False, True, False) == 2
    assert diabetic_foot_grade(False, False, False, True) == 3
    template = parse_template(shipped("podo.examen_pied"))
    answers = {"diabete": "oui", "neuropathie": "oui", "arteriopathie": "non", "deformation": "oui"}
    answers["antecedent_ulcere"] = "non"
    assert fill(template, answers, TODAY).values["grade"] == 2
    assert "grade" not in fill(template, {"diabete": "non"}, TODAY).values


def test_template_versions_are_distinct_objects() -> None:
    v1 = parse_template(shipped("kine.seance"))
    data = copy.deepcopy(shipped("kine.seance"))
    data["version"] = 2
    data["fields"].append({"id": "autonomie", "type": "choice", "label": "Autonomie", "options": ["oui", "non"]})
    v2 = parse_template(data)
    assert (v1.ref, v2.ref) == ("kine.seance@1", "kine.seance@2")
    assert [f.id for f in v2.fields][-1] == "autonomie" and "autonomie" not in [f.id for f in v1.fields]
    assert v2.field("autonomie").type is FieldType.CHOICE
