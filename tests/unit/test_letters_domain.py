"""Letter rules without Qt or a database: merge fields, the body sanitiser, limits, correspondents."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.documents import author_of, snapshot_of
from domain.errors import InvalidInput, PermissionDenied
from domain.letters import (
    IMAGES_DROPPED,
    MAX_LETTER_CHARS,
    Civility,
    Correspondent,
    Letter,
    LetterStatus,
    check_fields,
    city_of,
    expand,
    fields_in,
    from_plain_text,
    long_date,
    make_template,
    merge_values,
    new_letter,
    patient_recipients,
    recipient_of,
    rpps_key_ok,
    sanitise,
    unknown_fields,
    validate_correspondent,
)
from domain.patient import CareRole, CareTeamMember
from tests.documents_support import CABINET, MIDWIFE, NOW, make_patient

TODAY = dt.date(2026, 11, 27)
DOCTOR = Correspondent(
    7, "FONTAINE", "Claire", Civility.DOCTOR, "Médecin généraliste", "10003456786", "4 place d'Erlon\n51100 Reims"
)


def values(*, qualified: bool = True) -> dict[str, str]:
    return merge_values(
        patient=snapshot_of(make_patient(qualified=qualified)),
        author=author_of(MIDWIFE, CABINET),
        recipient=recipient_of(DOCTOR),
        today=TODAY,
    )


# -- merge fields ------------------------------------------------------------------------------------------
def test_merge_expands_patient_practitioner_and_correspondent_fields() -> None:
    merged = expand(
        "<p>{{correspondant.titre}}, je vous adresse {{patient.civilite}} {{patient.prenom}} {{patient.nom}}, "
        "née le {{patient.date_naissance}} ({{ patient.ins }}). {{praticien.nom}}, {{praticien.profession}}, "
        "RPPS {{praticien.rpps}} — {{lieu}}, le {{date_longue}}</p>",
        values(),
    )
    assert merged.startswith("<p>Docteur, je vous adresse Madame Marie MARTIN, née le 12/03/1985 (2850351454123")
    assert "Léa MOREAU, Sage-Femme, RPPS 10101010103" in merged
    assert merged.endswith("le 27 novembre 2026</p>")


def test_ins_is_merged_only_for_a_qualified_identity() -> None:
    assert values(qualified=True)["patient.ins"].startswith("2850351454123")
    assert values(qualified=False)["patient.ins"] == ""


def test_merged_values_are_escaped_for_html_and_plain_for_the_subject() -> None:
    tricky = {"patient.nom": "<script>alert(1)</script> & Co"}
    assert expand("<p>{{patient.nom}}</p>", tricky) == "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co</p>"
    assert expand("{{patient.nom}}", tricky, escape_html=False) == "<script>alert(1)</script> & Co"


def test_unknown_fields_are_listed_with_a_french_message() -> None:
    text = "{{patient.nom}} {{patient.age}} {{ medecin }} {{patient.age}}"
    assert fields_in(text) == ["patient.nom", "patient.age", "medecin"]
    assert unknown_fields(text) == ["patient.age", "medecin"]
    with pytest.raises(InvalidInput) as error:
        check_fields(text)
    message = error.value.field_errors["corps"]
    assert "Champs de fusion inconnus : {{patient.age}}, {{medecin}}" in message and "Insérer un champ" in message
    assert expand(text, values()).startswith("MARTIN {{patient.age}}")  # unknown ones stay visible


def test_without_a_recipient_the_salutation_is_generic() -> None:
    merged = merge_values(patient=None, author=None, recipient=None, today=dt.date(2026, 3, 1))
    assert merged["correspondant.titre"] == "Madame, Monsieur"
    assert merged["date_longue"] == "1er mars 2026" == long_date(dt.date(2026, 3, 1))
    assert city_of("12 rue des Tilleuls, 51100 Reims") == "Reims"


# -- sanitiser ---------------------------------------------------------------------------------------------
QT_HTML = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.0//EN"><html><head><meta name="qrichtext" content="1" />
<style type="text/css">p, li { white-space: pre-wrap; }</style></head><body style=" font-family:'Sans';">
<p style=" margin-top:0px;">Bonjour <span style=" font-weight:700;">gras</span>, <span style=" font-style:italic;">
italique</span> et <span style=" text-decoration: underline;">souligné</span><br />suite</p>
<p style="-qt-paragraph-type:empty;"><br /></p>
<ul style="margin-top: 0px;"><li style="">un</li><li>deux</li></ul><ol><li>premier</li></ol></body></html>"""


def test_qt_html_is_reduced_to_the_letter_subset() -> None:
    body = sanitise(QT_HTML)
    assert body.html == (
        "<p>Bonjour <b>gras</b>, <i>italique</i> et <u>souligné</u><br/>suite</p><p></p>"
        "<ul><li>un</li><li>deux</li></ul><ol><li>premier</li></ol>"
    )
    assert body.text == "Bonjour gras, italique et souligné\nsuite\n\n• un\n• deux\n1. premier"
    assert sanitise(body.html).html == body.html  # canonical
    assert body.notices == []


def test_scripts_styles_and_their_content_are_dropped() -> None:
    body = sanitise(
        '<p onclick="steal()">Texte</p><script>alert("x")</script><style>p{color:red}</style>'
        '<iframe src="https://evil">cadre</iframe><p style="color:red;background:url(javascript:x)">Suite</p>'
    )
    assert body.html == "<p>Texte</p><p>Suite</p>"
    assert "alert" not in body.html and "color" not in body.html and "onclick" not in body.html


def test_images_are_refused_with_a_french_message_and_links_keep_their_text() -> None:
    body = sanitise(
        '<p>Voir <a href="https://exemple.fr/page">le site</a> <img src="data:image/png;base64,AAAA"></p>'
        '<p><img src="file:///tmp/plaie.jpg"/></p>'
    )
    assert body.html == "<p>Voir le site</p>"
    assert (body.images_dropped, body.links_dropped) == (2, 1)
    assert body.notices[0] == IMAGES_DROPPED and "pièces jointes" in IMAGES_DROPPED
    assert "href" not in body.html and "img" not in body.html


def test_word_processor_markup_keeps_its_structure() -> None:
    body = sanitise(
        "<h1>Titre</h1><div>Ligne<table><tr><td>a</td><td>b</td></tr></table></div>"
        "<ul><li>un<ul><li>imbriqué</li></ul></li></ul><strong>fort</strong> <em>penché</em>"
    )
    assert body.html == (
        "<p><b>Titre</b></p><p>Ligne</p><p>a b</p><ul><li>un</li><li>imbriqué</li></ul><p><b>fort</b> <i>penché</i></p>"
    )


def test_plain_text_becomes_one_paragraph_per_line() -> None:
    body = from_plain_text("Bonjour <madame>\n\nFin & suite")
    assert body.html == "<p>Bonjour &lt;madame&gt;</p><p></p><p>Fin &amp; suite</p>"


# -- letters and limits --------------------------------------------------------------------------------------
def letter(body_html: str) -> Letter:
    return Letter(None, 42, "Courrier", "Objet", "Dr Claire FONTAINE", body_html, "sf", "Léa", NOW, NOW)


def test_a_letter_over_the_limit_is_kept_as_draft_but_refused_for_validation() -> None:
    long_body = "<p>" + "x" * (MAX_LETTER_CHARS + 1) + "</p>"
    draft, body = letter("<p>court</p>").edited(at=NOW, body_html=long_body)  # a draft holds it
    assert body is not None and len(draft.text) == MAX_LETTER_CHARS + 1
    problems = draft.problems()
    assert "trop long pour être validé" in problems["corps"] and "brouillon reste enregistré" in problems["corps"]
    assert letter("<p>court</p>").problems() == {}


def test_problems_name_each_missing_part() -> None:
    empty = Letter(None, 42, "", "", "", "<p></p>", "sf", "Léa", NOW, NOW)
    assert set(empty.problems()) == {"title", "recipient", "subject", "corps"}
    assert "{{patient.age}}" in letter("<p>{{patient.age}}</p>").problems()["corps"]


def test_a_validated_letter_cannot_be_edited() -> None:
    frozen = Letter(None, 42, "C", "O", "R", "<p>x</p>", "sf", "Léa", NOW, NOW, status=LetterStatus.VALIDATED)
    with pytest.raises(PermissionDenied):
        frozen.edited(at=NOW, title="autre")


def test_new_letter_from_template_is_merged_and_sanitised() -> None:
    template = make_template(
        "essai", "Essai", "Adressage de {{patient.nom}}", "<p>{{correspondant.titre}},</p><p>{{patient.prenom}}</p>"
    )
    made = new_letter(
        template,
        patient_id=42,
        values=values(),
        recipient=recipient_of(DOCTOR),
        author_login="sf",
        author="Léa",
        at=NOW,
    )
    assert made.subject == "Adressage de MARTIN" and made.body_html == "<p>Docteur,</p><p>Marie</p>"
    assert made.recipient == "Dr Claire FONTAINE\nMédecin généraliste\n4 place d'Erlon\n51100 Reims"
    assert made.correspondent_id == 7


def test_templates_refuse_unknown_fields_and_empty_bodies() -> None:
    with pytest.raises(InvalidInput) as error:
        make_template("x", "X", "", "<p>{{patient.poids}}</p>")
    assert "{{patient.poids}}" in error.value.field_errors["body"]
    with pytest.raises(InvalidInput):
        make_template("x", "X", "", "<script>only()</script>")


# -- correspondents --------------------------------------------------------------------------------------------
def test_rpps_key_and_mssante_address_are_checked() -> None:
    assert rpps_key_ok("10003456786") and not rpps_key_ok("10003456788")
    with pytest.raises(InvalidInput) as error:
        validate_correspondent(
            Correspondent(
                None,
                "",
                rpps="10003456788",
                mssante_address="claire@gmail.com",
                phone="abc",
            )
        )
    errors = error.value.field_errors
    assert set(errors) == {"family_name", "rpps", "mssante_address", "phone"}
    assert "clé de contrôle" in errors["rpps"] and "mssante.fr" in errors["mssante_address"]
    cleaned = validate_correspondent(
        Correspondent(None, "  FONTAINE ", "Claire", rpps="100 0345 6786", mssante_address="c.f@medecin.mssante.fr")
    )
    assert (cleaned.family_name, cleaned.rpps) == ("FONTAINE", "10003456786")


def test_patient_correspondents_join_the_care_team_and_the_book() -> None:
    team = (
        CareTeamMember(CareRole.ATTENDING_DOCTOR, "Dr Claire FONTAINE", "Médecin généraliste", "10003456786"),
        CareTeamMember(CareRole.PRESCRIBER, "Dr Paul NOEL", "Chirurgien"),
    )
    pharmacy = Correspondent(9, "Pharmacie du Centre", profession="Pharmacie")
    found = patient_recipients(team, [(DOCTOR, CareRole.CORRESPONDENT), (pharmacy, CareRole.CORRESPONDENT)])
    assert [(r.display_name, r.role, r.correspondent_id) for r in found] == [
        ("Dr Claire FONTAINE", CareRole.ATTENDING_DOCTOR, 7),  # one entry, the book's details, the team's role
        ("Dr Paul NOEL", CareRole.PRESCRIBER, None),
        ("Pharmacie du Centre", CareRole.CORRESPONDENT, 9),
    ]
    assert found[0].address.endswith("51100 Reims")
