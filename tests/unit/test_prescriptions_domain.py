"""Prescription rules without Qt nor database: scopes per profession with their legal sources, line checks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from domain.errors import InvalidInput, PermissionDenied
from domain.prescriptions import (
    PRODUCTS_KIND,
    Prescription,
    PrescriptionLine,
    PrescriptionStatus,
    Product,
    check_line_shape,
    check_prescription,
    classify,
    current_product_lines,
    parse_products,
    parse_scopes,
    verdict_for,
)

FOLDER = Path(__file__).resolve().parents[2] / "resources" / "prescription"
BOOK = parse_scopes(json.loads((FOLDER / "champs_de_prescription.json").read_text(encoding="utf-8")))
PRODUCTS, RULES = parse_products(json.loads((FOLDER / "produits.json").read_text(encoding="utf-8")))
BY_KEY = {p.key: p for p in PRODUCTS}


def product(fragment: str) -> Product:
    return next(p for p in PRODUCTS if fragment.lower() in p.label.lower())


def line(p: Product, **changes: object) -> PrescriptionLine:
    values: dict[str, object] = {"label": p.label, "dosage": p.dosage_hint or "Selon le soin", "duration_days": 30}
    values.update(changes)
    return PrescriptionLine(item_key=p.key, **values)  # type: ignore[arg-type]


def test_every_profession_of_the_corridor_has_a_scope_with_sources() -> None:
    for code in ("60", "60-IPA", "50", "70", "80", "91", "92"):
        scope = BOOK.scope_of(code)
        assert scope.prescribes
        assert all(rule.source for rule in scope.categories.values())
        assert all(act.source for act in scope.acts.values())
    assert BOOK.scope_of("70").kinds == (PRODUCTS_KIND, "PRESC-KINE")
    assert BOOK.scope_of("50").kinds == (PRODUCTS_KIND, "PRESC-BIO")
    assert BOOK.scope_of("92").kinds == (PRODUCTS_KIND,)


def test_users_without_profession_may_not_prescribe() -> None:
    with pytest.raises(PermissionDenied, match="professionnel de santé"):
        BOOK.scope_of(None)
    with pytest.raises(PermissionDenied, match="ne permet pas"):
        BOOK.scope_of("99")


@pytest.mark.parametrize(
    ("profession", "fragment", "allowed"),
    [
        ("60", "Compresses stériles non tissées 10", True),  # IDE: articles pour pansements (arrêté 2012)
        ("60", "Nicotine, dispositif transdermique 21", True),  # L.3511-3
        ("60", "DOLIPRANE", False),  # an IDE does not prescribe paracetamol
        ("50", "DOLIPRANE", True),  # sage-femme: arrêté du 12 octobre 2011
        ("50", "Dispositif intra-utérin au cuivre", True),
        ("50", "Canne anglaise", False),
        ("70", "Canne anglaise", True),  # kiné: arrêté du 9 janvier 2006
        ("70", "VACCIN TETANIQUE", False),
        ("80", "Terbinafine 1 %, crème", True),  # pédicure: topiques not subject to compulsory prescription
        ("80", "Ciclopirox", False),  # nail lacquers: listing status differs by specialty, not encoded
        ("80", "Compresses de gaze", True),
        ("80", "Nicotine, dispositif transdermique 21", False),
        ("91", "Filtre échangeur", True),  # orthophoniste: laryngectomy devices (not the voice prosthesis)
        ("91", "Compresses de gaze", False),
        ("92", "Lentilles de contact souples mensuelles", True),  # orthoptiste: optical correction
        ("92", "PARACETAMOL MYLAN", False),
        ("60-IPA", "PARACETAMOL MYLAN", True),  # IPA: not subject to compulsory prescription
        ("60-IPA", "Acide folique", False),
    ],
)
def test_scope_per_profession(profession: str, fragment: str, allowed: bool) -> None:
    verdict = verdict_for(BOOK.scope_of(profession), BOOK, product(fragment))
    assert verdict.allowed is allowed
    assert verdict.source
    if not allowed:
        assert "n'est pas dans le champ" in verdict.reason or "non classé" in verdict.reason


def test_ipa_only_prescribes_products_not_subject_to_compulsory_prescription() -> None:
    listed = Product("cis:00000000", "PARACETAMOL FICTIF 1 g", "antalgiques", otc=False, origin="bdpm")
    verdict = verdict_for(BOOK.scope_of("60-IPA"), BOOK, listed)
    assert not verdict.allowed and "prescription médicale obligatoire" in verdict.reason
    assert "2018-629" in verdict.source


def test_out_of_scope_refusal_names_the_reason_and_the_source() -> None:
    nurse = BOOK.scope_of("60")
    with pytest.raises(InvalidInput) as caught:
        check_prescription(nurse, BOOK, PRODUCTS_KIND, [line(product("DOLIPRANE"))], "", BY_KEY.get)
    message = caught.value.field_errors["ligne1.item"]
    assert (
        "DOLIPRANE 1000 mg" in message
        and "Infirmier" in message
        and "Source : CSP L.4311-1, arrêté du 20 mars 2012" in message
    )


def test_checked_lines_take_codes_from_the_product_not_from_the_caller() -> None:
    midwife = BOOK.scope_of("50")
    p = product("PARACETAMOL MYLAN")
    forged = line(p, cis="11111111", atc="A01AA01", category="vaccins")
    lines, mentions = check_prescription(midwife, BOOK, PRODUCTS_KIND, [forged], "  À jeun.  ", BY_KEY.get)
    assert lines[0].cis == "63107752" and lines[0].cip13 == "3400933516390" and lines[0].atc == "N02BE01"
    assert lines[0].category == "antalgiques" and mentions == "À jeun."
    assert lines[0].as_json() == {
        "libelle": "PARACETAMOL MYLAN 500 mg, comprimé",
        "cis": "63107752",
        "cip13": "3400933516390",
        "atc": "N02BE01",
        "lpp": "",
        "posologie": p.dosage_hint,
        "duree_jours": 30,
        "quantite": "",
        "renouvellements": 0,
        "non_substituable": False,
        "ald": False,
    }


@pytest.mark.parametrize(
    ("changes", "key", "fragment"),
    [
        ({"label": "   "}, "ligne1.label", "la ligne est vide"),
        ({"duration_days": 0}, "ligne1.duration_days", "entre 1 et 365"),
        ({"duration_days": 400}, "ligne1.duration_days", "entre 1 et 365"),
        ({"renewals": 13}, "ligne1.renewals", "entre 0 et 12"),
        ({"renewals": -1}, "ligne1.renewals", "entre 0 et 12"),
        ({"duration_days": 90, "renewals": 4}, "ligne1.renewals", "douze mois"),
        ({"dosage": ""}, "ligne1.dosage", "posologie"),
        ({"cip13": "123"}, "ligne1.cip13", "CIP13"),
    ],
)
def test_line_values_out_of_range_get_a_french_message(changes: dict[str, object], key: str, fragment: str) -> None:
    _, errors = check_line_shape(line(product("Compresses stériles non tissées 10"), **changes), 1)
    assert fragment in errors[key]


def test_unknown_product_and_free_text_are_refused() -> None:
    nurse = BOOK.scope_of("60")
    free = PrescriptionLine("Pommade miracle", "", dosage="matin")
    unknown = PrescriptionLine("Pommade miracle", "liste:nope", dosage="matin")
    with pytest.raises(InvalidInput) as caught:
        check_prescription(nurse, BOOK, PRODUCTS_KIND, [free, unknown], "", BY_KEY.get)
    assert "saisie libre" in caught.value.field_errors["ligne1.item"]
    assert "produit inconnu" in caught.value.field_errors["ligne2.item"]
    with pytest.raises(InvalidInput, match="aucune ligne"):
        check_prescription(nurse, BOOK, PRODUCTS_KIND, [], "", BY_KEY.get)


def test_category_limits_contraception_renewal_by_a_nurse() -> None:
    nurse = BOOK.scope_of("60")
    pill = line(product("Lévonorgestrel 0,15 mg"), duration_days=90, renewals=1)
    with pytest.raises(InvalidInput) as caught:
        check_prescription(nurse, BOOK, PRODUCTS_KIND, [pill], "", BY_KEY.get)
    assert "0 renouvellement(s) au plus" in caught.value.field_errors["ligne1.renewals"]
    ok, _ = check_prescription(
        nurse, BOOK, PRODUCTS_KIND, [line(product("Lévonorgestrel 0,15 mg"), duration_days=183)], "", BY_KEY.get
    )
    assert ok[0].atc == "G03AA07"


def test_acts_only_on_their_own_kind_and_profession() -> None:
    physio = BOOK.scope_of("70")
    act = PrescriptionLine("Séances de kinésithérapie", "acte:renouvellement_kine", dosage="2 par semaine")
    lines, _ = check_prescription(physio, BOOK, "PRESC-KINE", [act], "", BY_KEY.get)
    assert lines[0].category == "acte"
    with pytest.raises(InvalidInput, match="ne peut pas rédiger ce type"):
        check_prescription(BOOK.scope_of("60"), BOOK, "PRESC-KINE", [act], "", BY_KEY.get)
    with pytest.raises(InvalidInput, match="est un acte"):
        check_prescription(physio, BOOK, PRODUCTS_KIND, [act], "", BY_KEY.get)


def test_bdpm_medicines_are_classified_by_name() -> None:
    assert classify("NICORETTE 2 mg, gomme à mâcher médicamenteuse", RULES) == "substituts_nicotiniques"
    assert classify("PARACETAMOL ARROW 500 mg, comprimé", RULES) == "antalgiques"
    assert classify("REVAXIS, suspension injectable. Vaccin diphtérique", RULES) == "vaccins"
    assert classify("AMOXICILLINE BIOGARAN 1 g, comprimé", RULES) == ""


def test_shipped_list_has_no_malformed_code_and_known_real_codes() -> None:
    with_cis = {p.cis: p.label for p in PRODUCTS if p.cis}
    assert with_cis["68747507"].startswith("VACCIN TETANIQUE PASTEUR")
    assert len(PRODUCTS) > 100 and all(p.category in BOOK.category_labels for p in PRODUCTS)
    with pytest.raises(InvalidInput, match="CIS"):
        parse_products({"produits": [{"id": "x", "libelle": "X", "categorie": "vaccins", "cis": "123"}]})


def test_current_product_lines_for_decision_support() -> None:
    at = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)
    p = product("Povidone iodée 10")
    validated = Prescription(
        1,
        7,
        PRODUCTS_KIND,
        "ide",
        "IDE",
        "60",
        at,
        (line(p, duration_days=10),),
        status=PrescriptionStatus.VALIDATED,
        validated_at=at,
    )
    draft = Prescription(2, 7, PRODUCTS_KIND, "ide", "IDE", "60", at, (line(product("Chlorhexidine aqueuse")),))
    acts = Prescription(3, 7, "PRESC-KINE", "k", "K", "70", at, (PrescriptionLine("Séances", "acte:x"),))
    during = current_product_lines([validated, draft, acts], dt.date(2026, 11, 5))
    assert [(x.label, x.origin) for x in during] == [
        ("Povidone iodée 10 %, solution pour application cutanée", "prescription du 01/11/2026"),
        ("Chlorhexidine aqueuse 0,05 %, solution pour application cutanée", "prescription en cours de rédaction"),
    ]
    after = current_product_lines([validated], dt.date(2026, 11, 11))
    assert after == []


# --------------------------------------------------------------------------------------------------------------
# Categories split where the professions' lists differ (arrêté du 20 mars 2012, arrêté du 30 juillet 2008,
# sages-femmes' device list, arrêté du 9 janvier 2006)
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fragment", "allowed_for", "refused_for"),
    [
        # IDE: art. 2, II, 5° lists bas (jarret, cuisse) and chaussettes only (identical renewal), whatever the class
        ("Chaussettes de compression veineuse, classe 3", ("60", "60-IPA", "50", "70"), ("80",)),
        ("Bas-cuisse de compression veineuse, classe 2", ("60", "50", "70"), ("80",)),
        ("Collant de compression veineuse, classe 1", ("50", "70"), ("60", "60-IPA")),
        ("Collant de compression veineuse, classe 3", ("50", "70"), ("60",)),
        ("Bande de compression à allongement court", ("70",), ("60", "60-IPA", "50")),
        # IDE: art. 2, II, 6° lists single-use lancing devices only; sharps containers are not listed
        ("Autopiqueurs à usage unique", ("60", "60-IPA"), ("50", "80")),
        ("Autopiqueur réutilisable", (), ("60", "60-IPA")),
        ("Collecteur d'aiguilles", (), ("60", "60-IPA")),
        ("Lancettes pour autopiqueur", ("60",), ("70",)),
        # IDE: silver dressings are not among art. 2, II, 3°; sérum physiologique and absorbent pads are not listed
        ("Pansement à l'argent", (), ("60", "60-IPA", "80")),
        ("Sérum physiologique", (), ("60", "60-IPA", "80")),
        ("Protections absorbantes", (), ("60", "60-IPA")),
        ("Sonde urinaire autolubrifiée pour autosondage CH 12", ("60",), ("80",)),
        # pédicure: compresses and sparadrap (art. 2, I) but not the other articles for dressings
        ("Compresses stériles non tissées 10", ("60", "80"), ("50",)),
        ("Sparadrap microporeux", ("60", "80"), ()),
        ("Bande de crêpe", ("60",), ("80",)),
        ("Pansement film transparent", ("60",), ("80",)),
        ("Filet tubulaire de maintien", ("60",), ("80",)),
        ("Pansement adhésif stérile 10 x 8", ("60",), ("80",)),
        # pédicure: technical dressings of art. 2, II (diabetic patients, renewal) — not hydrocellular, not interfaces
        ("Pansement hydrocolloïde", ("60", "60-IPA", "80"), ("70",)),
        ("Pansement alginate", ("60", "80"), ()),
        ("Pansement hydrofibre", ("60", "80"), ()),
        ("Pansement hydrocellulaire adhésif 10", ("60", "60-IPA"), ("80",)),
        ("Pansement interface", ("60",), ("80",)),
        # sage-femme: tire-lait on the list, nursing shells are not
        ("Tire-lait électrique", ("50",), ("60",)),
        ("Kit d'accessoires pour tire-lait", ("50",), ()),
        ("Coquilles d'allaitement", (), ("50",)),
    ],
)
def test_split_categories_follow_each_professions_own_list(
    fragment: str, allowed_for: tuple[str, ...], refused_for: tuple[str, ...]
) -> None:
    p = product(fragment)
    for code in allowed_for:
        verdict = verdict_for(BOOK.scope_of(code), BOOK, p)
        assert verdict.allowed, (code, p.label)
        assert verdict.source
    for code in refused_for:
        scope = BOOK.scope_of(code)
        verdict = verdict_for(scope, BOOK, p)
        assert not verdict.allowed, (code, p.label)
        assert f"« {p.label} », de la catégorie « {BOOK.category_label(p.category)} »" in verdict.reason
        assert f"n'est pas dans le champ de prescription de la profession {scope.label}" in verdict.reason
        assert verdict.source == scope.basis


def test_no_profession_is_given_products_that_no_text_lists() -> None:
    unlisted = {
        "pansements_argent",
        "solutions_lavage",
        "protections_absorbantes",
        "dm_autopiqueurs_reutilisables",
        "dm_collecteurs_dasri",
        "coquilles_allaitement",
        "antifongiques_ungueaux",
    }
    for scope in BOOK.scopes.values():
        assert not unlisted & set(scope.categories), scope.profession
    assert all(key in BOOK.category_labels for key in unlisted)
    assert {p.category for p in PRODUCTS} >= unlisted


def test_nurse_sources_cite_the_paragraph_of_the_arrete_of_2012() -> None:
    nurse = BOOK.scope_of("60")
    expected = {
        "Compresses stériles non tissées 10": "art. 2, I, 1°",
        "Pansement hydrocolloïde": "art. 2, II, 3°",
        "Chaussettes de compression veineuse, classe 1": "art. 2, II, 5°",
        "Aiguilles pour stylo injecteur 4 mm": "art. 2, II, 6°",
    }
    for fragment, paragraph in expected.items():
        verdict = verdict_for(nurse, BOOK, product(fragment))
        assert verdict.allowed and "arrêté du 20 mars 2012" in verdict.source.lower() and paragraph in verdict.source
    compression = verdict_for(nurse, BOOK, product("Chaussettes de compression veineuse, classe 2"))
    assert "Renouvellement à l'identique seulement" in compression.conditions


def test_podiatrist_technical_dressings_are_for_diabetic_patients_on_renewal_only() -> None:
    podiatrist = BOOK.scope_of("80")
    verdict = verdict_for(podiatrist, BOOK, product("Pansement hydrocolloïde"))
    assert verdict.allowed and "art. 2, II" in verdict.source and "30 juillet 2008" in verdict.source
    assert verdict.conditions.startswith("Patient diabétique seulement, et seulement en renouvellement")
    assert "patient non diabétique" in verdict.conditions and "n'est pas autorisée" in verdict.conditions
    # the nurse's rule for the same products carries the nurse's condition, not the podiatrist's
    nurse = verdict_for(BOOK.scope_of("60"), BOOK, product("Pansement hydrocolloïde"))
    assert "diabétique" not in nurse.conditions and "médecin traitant" in nurse.conditions
    lines, _ = check_prescription(
        podiatrist, BOOK, PRODUCTS_KIND, [line(product("Pansement hydrocolloïde"))], "", BY_KEY.get
    )
    assert lines[0].category == "pansements_techniques"
    with pytest.raises(InvalidInput) as caught:
        check_prescription(
            podiatrist, BOOK, PRODUCTS_KIND, [line(product("Pansement hydrocellulaire adhésif 10"))], "", BY_KEY.get
        )
    message = caught.value.field_errors["ligne1.item"]
    assert "Pédicure-podologue" in message and "Source : CSP L.4322-1" in message and "30 juillet 2008" in message


def test_podiatrist_topicals_exclude_substances_veneneuses() -> None:
    podiatrist = BOOK.scope_of("80")
    ciclopirox = product("Ciclopirox 8 %")
    assert ciclopirox.category == "antifongiques_ungueaux" and not ciclopirox.otc
    refused = verdict_for(podiatrist, BOOK, ciclopirox)
    assert not refused.allowed and "n'est pas dans le champ" in refused.reason
    # a BDPM topical of the category whose prescription status is unknown is treated as listed
    listed = Product("cis:00000000", "TERBINAFINE FICTIVE 1 %, crème", "topiques_podologie", otc=False, origin="bdpm")
    verdict = verdict_for(podiatrist, BOOK, listed)
    assert not verdict.allowed and "prescription médicale obligatoire" in verdict.reason
    assert "30 juillet 2008" in verdict.source
    assert verdict_for(podiatrist, BOOK, product("Miconazole 2 %")).allowed
    assert classify("CICLOPIROX VIATRIS 8 %, vernis à ongles médicamenteux", RULES) == "antifongiques_ungueaux"
    assert classify("AMOROLFINE BIOGARAN 5 %, vernis à ongles médicamenteux", RULES) == "antifongiques_ungueaux"


def test_midwife_breastfeeding_devices_are_the_breast_pump_only() -> None:
    midwife = BOOK.scope_of("50")
    pump = verdict_for(midwife, BOOK, product("Tire-lait électrique"))
    assert pump.allowed and "5 mars 2022" in pump.source
    shells = verdict_for(midwife, BOOK, product("Coquilles d'allaitement"))
    assert not shells.allowed and "Coquilles d'allaitement" in shells.reason and "Sage-femme" in shells.reason
    assert "décret du 5 mars 2022" in shells.source
