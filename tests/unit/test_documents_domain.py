"""Health-document domain rules: one source of data, freeze on validation, versions, duplicates, identity."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from domain.documents import (
    DOCUMENT_KINDS,
    DocumentFormat,
    DocumentKey,
    DocumentStatus,
    DuplicateVerdict,
    Provenance,
    author_of,
    check_duplicate,
    document_kind,
    is_valid_root,
    match_patient,
    pdf_file_name,
    snapshot_of,
    split_display_name,
)
from domain.errors import InvalidInput, PermissionDenied
from domain.identity import OID_INS_NIR_TEST
from tests.documents_support import CABINET, MIDWIFE, NOW, SECRETARY, draft, make_patient, validated


def test_issue_document_types_are_all_known_with_their_jdv_codes() -> None:
    codes = {k.code for k in DOCUMENT_KINDS}
    expected = {"11506-3", "34120-6", "47420-5", "11488-4", "96349-6", "89601-9", "57833-6", "96173-0"}
    expected |= {"PRESC-KINE", "PRESC-INF", "PRESC-PEDI", "PRESC-ORTHOPHO", "PRESC-ORTHOPTIE", "PRESC-BIO"}
    assert expected <= codes
    assert all(k.prescription for k in DOCUMENT_KINDS if k.code.startswith("PRESC") or k.code == "57833-6")
    assert document_kind("87273-9").formats[0] is DocumentFormat.CDA_N3
    assert DocumentFormat.CDA_N3 not in document_kind("11488-4").formats
    with pytest.raises(InvalidInput):
        document_kind("XXX")


def test_snapshot_carries_the_ins_only_for_a_qualified_identity() -> None:
    qualified = snapshot_of(make_patient(qualified=True))
    assert qualified.qualified and qualified.ins_oid == OID_INS_NIR_TEST
    provisional = snapshot_of(make_patient(qualified=False))
    assert not provisional.qualified and provisional.ins_matricule == "" and provisional.ins_oid == ""
    assert provisional.birth_name == "DUPONT" and provisional.first_given_name == "MARIE"


def test_author_needs_a_health_professional_and_builds_national_ids() -> None:
    author = author_of(MIDWIFE, CABINET)
    assert author.national_id == "810101010103"
    assert author.profession_code == "G15_50" and author.profession_label == "Sage-Femme"
    assert author.given_name == "Léa" and author.family_name == "MOREAU"
    assert author.facility_code == ("SA07", "Cabinet individuel")
    with pytest.raises(PermissionDenied):
        author_of(SECRETARY, CABINET)
    assert split_display_name("Jean-Pierre DE LA TOUR (IDE)") == ("Jean-Pierre", "DE LA TOUR")


def test_draft_is_editable_then_validation_freezes_it() -> None:
    doc = draft("11488-4")
    assert is_valid_root(doc.document_id) and doc.document_id != doc.set_id and doc.version == 1
    edited = doc.edited(title="CR de visite", values={"conclusion": "RAS\r\nà revoir"})
    assert edited.title == "CR de visite" and edited.value("conclusion") == "RAS\nà revoir"
    with pytest.raises(InvalidInput) as unknown:
        doc.with_fields({"inconnu": "x"})
    assert "inconnu" in unknown.value.field_errors
    done = edited.validate(at=NOW, actor="x", patient=edited.patient)
    assert done.status is DocumentStatus.VALIDATED and done.frozen and done.validated_at == NOW
    with pytest.raises(PermissionDenied):
        done.edited(title="changé")
    with pytest.raises(PermissionDenied):
        done.validate(at=NOW, actor="x", patient=done.patient)


def test_validation_lists_every_missing_field() -> None:
    doc = draft("87273-9").with_fields({"lot": "", "code_cis": "123", "rang": "abc"})
    with pytest.raises(InvalidInput) as info:
        doc.validate(at=NOW, actor="x", patient=doc.patient)
    errors = info.value.field_errors
    assert set(errors) >= {"lot", "code_cis", "rang"}
    future = replace(draft("11488-4"), act_date=NOW + dt.timedelta(days=2))
    with pytest.raises(InvalidInput) as later:
        future.validate(at=NOW, actor="x", patient=future.patient)
    assert "futur" in later.value.field_errors["act_date"]


def test_new_version_replaces_with_same_set_id_and_next_version() -> None:
    first = validated("34120-6")
    second = first.next_version(at=NOW, author=first.author, patient=first.patient)  # type: ignore[arg-type]
    assert second.set_id == first.set_id and second.version == 2
    assert second.replaces_document_id == first.document_id and second.document_id != first.document_id
    assert second.status is DocumentStatus.DRAFT and second.id is None
    with pytest.raises(PermissionDenied):
        draft("34120-6").next_version(at=NOW, author=first.author, patient=first.patient)  # type: ignore[arg-type]
    imported = replace(first, provenance=Provenance.IMPORTED)
    with pytest.raises(PermissionDenied):
        imported.next_version(at=NOW, author=first.author, patient=first.patient)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("incoming", "present", "verdict"),
    [
        (DocumentKey("a", "s", 1), [], DuplicateVerdict.NEW),
        (DocumentKey("a", "s", 1), [DocumentKey("a", "s", 1)], DuplicateVerdict.SAME_DOCUMENT),
        (DocumentKey("b", "s", 2), [DocumentKey("a", "s", 1)], DuplicateVerdict.REPLACES_OLDER),
        (DocumentKey("a", "s", 1), [DocumentKey("b", "s", 2)], DuplicateVerdict.OLDER_THAN_PRESENT),
        (DocumentKey("c", "s", 2), [DocumentKey("b", "s", 2)], DuplicateVerdict.OLDER_THAN_PRESENT),
        (DocumentKey("c", "t", 1), [DocumentKey("b", "s", 2)], DuplicateVerdict.NEW),
    ],
)
def test_duplicate_rules(incoming: DocumentKey, present: list[DocumentKey], verdict: DuplicateVerdict) -> None:
    result = check_duplicate(incoming, present)
    assert result.verdict is verdict
    assert result.verdict.integrable is (verdict in (DuplicateVerdict.NEW, DuplicateVerdict.REPLACES_OLDER))


def test_pdf_file_name_follows_eco_2_1_6() -> None:
    doc = validated("96349-6")
    assert pdf_file_name(doc) == "20261127_Lettre_adressage_DUPONT_Marie_42.pdf"


def test_patient_match_by_ins_then_by_traits() -> None:
    patient = make_patient(qualified=True)
    same = snapshot_of(patient)
    assert match_patient(same, patient).matches and match_patient(same, patient).by_ins
    other_ins = replace(same, ins_matricule="1" + same.ins_matricule[1:])
    assert not match_patient(other_ins, patient).matches
    no_ins = replace(same, ins_matricule="", ins_oid="")
    assert match_patient(no_ins, patient).matches
    other = replace(no_ins, birth_name="DURAND", birth_date=dt.date(1990, 1, 1))
    result = match_patient(other, patient)
    assert not result.matches and "nom de naissance" in result.reason_fr and "date de naissance" in result.reason_fr
