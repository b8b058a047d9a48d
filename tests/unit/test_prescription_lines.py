"""The structured lines of a prescription of health products (57833-6, the ``lignes`` contract) and the coded
TROD form: parsing, French messages keyed by field, the N3 only with structured lines. No Qt."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.documents import (
    LINE_KEYS,
    TROD_RESULT_CODES,
    TROD_TESTS,
    DocumentFormat,
    document_kind,
    document_lines,
    parse_prescription_lines,
    prescription_lines_json,
)
from domain.errors import InvalidInput
from tests.documents_support import LINES, NOW, draft


def _with(**changes: Any) -> str:
    return json.dumps([{**LINES[0], **changes}])


def _error(text: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse_prescription_lines(text)
    assert set(caught.value.field_errors) == {"lignes"}
    return caught.value.field_errors["lignes"]


def test_lines_parse_and_round_trip_with_exactly_the_contract_keys() -> None:
    lines = parse_prescription_lines(json.dumps(LINES))
    assert [line.libelle for line in lines] == [item["libelle"] for item in LINES]
    assert [line.is_device for line in lines] == [False, False, True]
    assert all(set(line.as_json()) == {*LINE_KEYS, "ald"} for line in lines)
    assert json.loads(prescription_lines_json(lines)) == [{**item, "ald": False} for item in LINES]
    assert parse_prescription_lines("") == () and prescription_lines_json(()) == ""
    assert lines[0].summary() == (
        "PARACETAMOL MYLAN 500 mg, comprimé — 1 comprimé 3 fois par jour — pendant 5 jours — quantité : 2 boîtes"
    )
    assert lines[1].summary().endswith("à renouveler 1 fois — non substituable")


def test_bad_lines_are_refused_with_french_messages() -> None:
    assert "JSON attendu" in _error("[{")
    assert "une liste de lignes" in _error('{"libelle": "x"}')
    assert "un objet est attendu" in _error('["Paracétamol"]')
    missing = {k: v for k, v in LINES[0].items() if k != "posologie"}
    assert "manquant(s) : posologie" in _error(json.dumps([missing]))
    assert "inconnu(s) : dosage" in _error(json.dumps([{**LINES[0], "dosage": "x"}]))
    assert "code CIS : 8 chiffres" in _error(_with(cis="6310775"))
    assert "code CIP : 13 chiffres" in _error(_with(cip13="34009"))
    assert "code ATC" in _error(_with(atc="paracetamol"))
    assert "code LPP : 7 chiffres" in _error(_with(lpp="12"))
    assert "libellé du produit est obligatoire" in _error(_with(libelle="  "))
    assert "posologie est obligatoire" in _error(_with(posologie=""))
    assert "nombre de jours" in _error(_with(duree_jours="5"))
    assert "entre 1 et 3650" in _error(_with(duree_jours=0))
    assert "nombre entier" in _error(_with(renouvellements=True))  # a boolean is not a count
    assert "entre 0 et 12" in _error(_with(renouvellements=13))
    assert "vrai ou faux" in _error(_with(non_substituable="non"))
    assert "30 lignes au plus" in _error(json.dumps([LINES[0]] * 31))
    both = _error(json.dumps([{**LINES[0], "cis": "1"}, {**LINES[1], "libelle": ""}]))
    assert both.startswith("Ligne 1 : code CIS") and "Ligne 2 : le libellé" in both
    # A device needs no posology.
    assert parse_prescription_lines(json.dumps([LINES[2]]))[0].is_device


def test_the_n3_exists_only_with_structured_lines() -> None:
    kind = document_kind("57833-6")
    assert kind.field("lignes").structured and not kind.field("produits").structured
    assert kind.formats[0] is DocumentFormat.CDA_N3  # the kind may have one…
    free = draft("57833-6")
    assert free.value("produits") and free.model == "" and DocumentFormat.CDA_N3 not in free.formats  # …not this one
    structured = free.edited(values={"lignes": json.dumps(LINES)})
    assert structured.model == "EP-MED-DM_2024.01" and structured.formats[0] is DocumentFormat.CDA_N3
    assert len(document_lines(structured)) == 3
    assert structured.edited(values={"lignes": ""}).model == ""
    with pytest.raises(InvalidInput) as bad:
        free.edited(values={"lignes": "pas du JSON"})
    assert set(bad.value.field_errors) == {"lignes"}


def test_a_prescription_needs_a_product_in_lines_or_text() -> None:
    empty = draft("57833-6").edited(values={"produits": ""})
    assert "produits" in empty.problems(NOW.date())
    with pytest.raises(InvalidInput):
        empty.validate(at=NOW, actor="x", patient=empty.patient)
    only_lines = empty.edited(values={"lignes": json.dumps(LINES)})
    assert only_lines.problems(NOW.date()) == {}
    assert only_lines.validate(at=NOW, actor="x", patient=only_lines.patient).model == "EP-MED-DM_2024.01"


def test_trod_test_is_a_coded_choice_with_its_result_codes() -> None:
    kind = document_kind("96173-0")
    assert kind.n3_model == "BIO-TROD_2024.01"
    assert {code for code, _ in kind.field("test").choices} == {t.loinc for t in TROD_TESTS}
    assert {"80387-4", "72376-7", "75410-1", "78012-2", "80382-5", "80383-3", "94558-4"} <= {
        t.loinc for t in TROD_TESTS
    }
    assert set(TROD_RESULT_CODES) == {code for code, _ in kind.field("resultat").choices}
    free_text = draft("96173-0").edited(values={"test": "TROD VIH 1/2"})
    assert free_text.problems(NOW.date())["test"] == "Test réalisé : valeur non proposée."
    assert draft("96173-0").problems(NOW.date()) == {}


def test_received_documents_keep_the_formats_they_came_in() -> None:
    from dataclasses import replace

    from domain.documents import Provenance

    doc = draft("11488-4")
    assert replace(doc, provenance=Provenance.DMP, source_format="n1").formats == (
        DocumentFormat.CDA_N1,
        DocumentFormat.PDF,
        DocumentFormat.XDM,
    )
    assert replace(doc, provenance=Provenance.MSSANTE, source_format="n3").formats[0] is DocumentFormat.CDA_N3
    assert replace(doc, provenance=Provenance.IMPORTED, source_format="pdf").formats == (DocumentFormat.PDF,)


def test_a_new_draft_refuses_bad_lines() -> None:
    from domain.documents import new_draft

    good = draft("57833-6")
    with pytest.raises(InvalidInput) as bad:
        new_draft(
            document_kind("57833-6"),
            patient_id=42,
            patient=good.patient,
            author=good.author,  # type: ignore[arg-type]
            at=NOW,
            values={"lignes": _with(cis="abc")},
        )
    assert set(bad.value.field_errors) == {"lignes"}


def test_a_line_may_say_it_relates_to_the_patients_ald() -> None:
    (line,) = parse_prescription_lines(_with(ald=True))
    assert line.ald and line.as_json()["ald"] is True
    (before,) = parse_prescription_lines(_with())  # lines written before the flag existed: not ALD
    assert before.ald is False
    assert "« ald » doit valoir vrai ou faux" in _error(_with(ald="oui"))
