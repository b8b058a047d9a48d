"""INS qualification rules: comparison, retrieval (rules 6/11/12), identity check, verification, indicators."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from domain.errors import InvalidInput, PermissionDenied
from domain.identity import (
    OID_INS_NIA,
    OID_INS_NIR_TEST,
    Identity,
    IdentitySource,
    IdentityStatus,
    IdentityTraits,
    Ins,
    QualificationMode,
    Sex,
    StatusChange,
    change_identity,
)
from domain.ins_qualification import (
    Concordance,
    SeenPatient,
    VerificationResult,
    VerificationState,
    apply_insi_identity,
    compare_identity,
    history_entries,
    importable_traits,
    invalidate_after_failed_verification,
    month_bounds,
    new_identity_from_insi,
    record_identity_check,
    status_counts,
    verification_due,
    verification_outcome,
)
from domain.insi import InsHistoryEntry, InsiAnswer, InsiCode, InsiIdentity, InsiQueryKind, VitaleBeneficiary
from domain.practice import DEFAULT_IDENTITY_DOCUMENT_TYPES

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
CNI = next(d for d in DEFAULT_IDENTITY_DOCUMENT_TYPES if d.code == "CNI")
PERMIS = next(d for d in DEFAULT_IDENTITY_DOCUMENT_TYPES if d.code == "PERMIS")
MATRICULE = "279035121518989"


def insi(**overrides: object) -> InsiIdentity:
    values: dict[str, object] = {
        "matricule": MATRICULE,
        "oid": OID_INS_NIR_TEST,
        "birth_name": "PAT-TROIS",
        "given_names": ("DOMINIQUE", "MARIE"),
        "first_given_name": "DOMINIQUE",
        "sex": "F",
        "birth_date": "1979-03-28",
        "birth_place_code": "51215",
        "history": (InsHistoryEntry("779035121518933", OID_INS_NIA, None, dt.date(2001, 1, 1)),),
    }
    values.update(overrides)
    return InsiIdentity(**values)  # type: ignore[arg-type]


def local(**overrides: object) -> Identity:
    traits = IdentityTraits(
        birth_name="PAT-TROIS",
        birth_given_names=("DOMINIQUE", "MARIE"),
        birth_date=dt.date(1979, 3, 28),
        sex=Sex.FEMALE,
        birth_place_code="51215",
        used_name="DUPONT",
    )
    return replace(Identity(traits=traits), **overrides)  # type: ignore[arg-type]


def answer(identity: InsiIdentity | None, code: InsiCode = InsiCode.FOUND) -> InsiAnswer:
    return InsiAnswer(code, code.label_fr, identity, "uuid:1", InsiQueryKind.TRAITS)


# -- comparison --------------------------------------------------------------------------------------------


def test_everything_concords_for_a_provisional_identity_without_ins() -> None:
    comparison = compare_identity(local(), insi())
    assert comparison.all_concordant
    assert comparison.row("matricule").concordance is Concordance.NEW
    assert comparison.row("birth_name").concordance is Concordance.EQUAL
    assert comparison.row("birth_date").local == "28/03/1979"
    assert comparison.row("sex").insi == "Féminin"
    with pytest.raises(KeyError):
        comparison.row("nir")


def test_divergences_are_listed_trait_by_trait() -> None:
    other = local(traits=replace(local().traits, birth_place_code="51454", birth_given_names=("DOMINIQUE",)))
    comparison = compare_identity(other, insi(), place_label=lambda code, day: f"lieu {code}")
    assert not comparison.all_concordant
    assert {r.key for r in comparison.divergences} == {"birth_place_code", "given_names"}
    assert comparison.row("first_given_name").concordance is Concordance.EQUAL
    assert comparison.row("birth_place_code").local == "lieu 51454"


def test_the_carte_vitale_nir_and_a_stored_matricule_are_compared() -> None:
    card = VitaleBeneficiary("2790351215189", "89", "PAT-TROIS", "DOMINIQUE", "1979-03-28", 1)
    stored = local(ins=Ins("279035121518989", OID_INS_NIR_TEST), from_insi=True)
    comparison = compare_identity(stored, insi(), beneficiary=card)
    assert comparison.row("nir").concordance is Concordance.EQUAL
    assert comparison.row("matricule").concordance is Concordance.EQUAL
    parent_card = replace(card, nir="1550351215189", nir_key="12")
    assert compare_identity(stored, insi(), beneficiary=parent_card).row("nir").concordance is Concordance.DIFFERENT


def test_accents_and_case_do_not_make_a_divergence_but_a_hyphen_does() -> None:
    assert compare_identity(local(), insi(birth_name="Pat-Trois")).all_concordant
    comparison = compare_identity(local(), insi(birth_name="PAT TROIS"))
    assert [r.key for r in comparison.divergences] == ["birth_name"]


# -- rules 6, 11, 12 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"birth_date": "1979-00-28"}, "birth_date"),
        ({"birth_date": "1979-03-00"}, "birth_date"),
        ({"birth_date": "28/03/1979"}, "birth_date"),
        ({"birth_name": ""}, "birth_name"),
        ({"given_names": (), "first_given_name": ""}, "birth_given_names"),
        ({"sex": ""}, "sex"),
        ({"sex": "X"}, "sex"),
        ({"first_given_name": "MARIE"}, "birth_given_names"),
        ({"birth_place_code": ""}, "birth_place_code"),
    ],
)
def test_answers_breaking_rules_11_12_or_6_are_not_imported(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        importable_traits(insi(**overrides))
    assert field in caught.value.field_errors
    current = local()
    with pytest.raises(InvalidInput):
        apply_insi_identity(current, insi(**overrides), source=IdentitySource.INSI_TRAITS, actor="a", at=NOW)


def test_a_00_date_says_rule_11_in_french() -> None:
    with pytest.raises(InvalidInput, match="00"):
        importable_traits(insi(birth_date="1979-00-00"))


def test_retrieval_fills_traits_from_insi_and_keeps_used_names() -> None:
    current = local(traits=replace(local().traits, birth_given_names=("DOMINIQUE",), birth_place_code="51454"))
    update = apply_insi_identity(current, insi(), source=IdentitySource.INSI_VITALE, actor="IDE", at=NOW)
    identity = update.identity
    assert identity.traits.birth_given_names == ("DOMINIQUE", "MARIE")
    assert identity.traits.birth_place_code == "51215"
    assert identity.traits.used_name == "DUPONT"
    assert identity.ins == Ins(MATRICULE, OID_INS_NIR_TEST)
    assert identity.source is IdentitySource.INSI_VITALE
    assert identity.status is IdentityStatus.RETRIEVED
    assert set(update.changed_strict_traits) == {"birth_given_names", "birth_place_code"}
    assert update.status_change is not None and update.status_change.before is IdentityStatus.PROVISIONAL
    assert "carte Vitale" in update.status_change.reason


def test_retrieval_of_a_validated_identity_qualifies_it() -> None:
    update = apply_insi_identity(
        local(high_trust_document="CNI"), insi(), source=IdentitySource.INSI_TRAITS, actor="a", at=NOW
    )
    assert update.identity.status is IdentityStatus.QUALIFIED
    assert update.status_change is not None
    assert update.status_change.qualification is QualificationMode.DOCUMENT


def test_doubtful_identities_never_get_an_ins() -> None:
    with pytest.raises(PermissionDenied):
        apply_insi_identity(local(doubtful=True), insi(), source=IdentitySource.INSI_TRAITS, actor="a", at=NOW)


def test_a_single_space_separated_list_is_split_and_a_bad_matricule_refused() -> None:
    traits = importable_traits(insi(given_names=("DOMINIQUE MARIE",)))
    assert traits.birth_given_names == ("DOMINIQUE", "MARIE")
    with pytest.raises(InvalidInput, match="INS"):
        apply_insi_identity(
            local(), insi(matricule="279035121518900"), source=IdentitySource.INSI_TRAITS, actor="a", at=NOW
        )


def test_the_appli_carte_vitale_makes_an_identity_qualified_on_arrival() -> None:
    identity, first = new_identity_from_insi(insi(), source=IdentitySource.APCV, actor="a", at=NOW)
    assert identity.status is IdentityStatus.QUALIFIED
    assert identity.qualification_mode is QualificationMode.APCV
    assert first.before is None and first.qualification is QualificationMode.APCV
    update = apply_insi_identity(local(), insi(), source=IdentitySource.APCV, actor="a", at=NOW)
    assert update.identity.status is IdentityStatus.QUALIFIED


def test_sentinelle_creation_from_insi_is_retrieved_with_used_names() -> None:
    identity, first = new_identity_from_insi(
        insi(), source=IdentitySource.INSI_TRAITS, actor="a", at=NOW, used_name="DUPONT"
    )
    assert identity.status is IdentityStatus.RETRIEVED
    assert identity.traits.used_name == "DUPONT"
    assert first.after is IdentityStatus.RETRIEVED and "Création" in first.reason


# -- identity check ----------------------------------------------------------------------------------------


def test_qualifying_on_a_high_trust_document_records_its_type() -> None:
    retrieved = local(ins=Ins(MATRICULE, OID_INS_NIR_TEST), from_insi=True, source=IdentitySource.INSI_TRAITS)
    update = record_identity_check(retrieved, document=CNI, actor="IDE", at=NOW)
    assert update.identity.high_trust_document == "CNI"
    assert update.identity.status is IdentityStatus.QUALIFIED
    assert update.status_change is not None and CNI.label in update.status_change.reason
    with pytest.raises(InvalidInput, match="haut niveau"):
        record_identity_check(retrieved, document=PERMIS, actor="IDE", at=NOW)
    with pytest.raises(InvalidInput, match="plus acceptée"):
        record_identity_check(retrieved, document=replace(CNI, active=False), actor="IDE", at=NOW)
    with pytest.raises(InvalidInput):
        record_identity_check(retrieved, actor="IDE", at=NOW)


def test_the_transitional_procedure_needs_an_ins_from_the_carte_vitale() -> None:
    by_traits = local(ins=Ins(MATRICULE, OID_INS_NIR_TEST), from_insi=True, source=IdentitySource.INSI_TRAITS)
    with pytest.raises(InvalidInput, match="carte Vitale"):
        record_identity_check(by_traits, transitional=True, actor="IDE", at=NOW)
    by_card = replace(by_traits, source=IdentitySource.INSI_VITALE)
    update = record_identity_check(by_card, transitional=True, actor="IDE", at=NOW)
    assert update.identity.status is IdentityStatus.QUALIFIED
    assert update.status_change is not None
    assert update.status_change.qualification is QualificationMode.TRANSITIONAL


def test_a_strict_trait_change_drops_the_source_and_the_transitional_procedure() -> None:
    qualified = local(
        ins=Ins(MATRICULE, OID_INS_NIR_TEST),
        from_insi=True,
        source=IdentitySource.INSI_VITALE,
        transitional_qualification=True,
    )
    assert qualified.status is IdentityStatus.QUALIFIED
    result = change_identity(
        qualified,
        traits=replace(qualified.traits, birth_place_code="51454"),
        high_trust_document=None,
        doubtful=False,
        fictitious=False,
        homonym=False,
        actor="admin",
        actor_is_admin=True,
        at=NOW,
    )
    assert result.identity.source is None and not result.identity.transitional_qualification
    assert result.identity.status is IdentityStatus.PROVISIONAL


# -- verification ------------------------------------------------------------------------------------------


def stored(**overrides: object) -> Identity:
    return replace(
        local(ins=Ins(MATRICULE, OID_INS_NIR_TEST), from_insi=True, source=IdentitySource.INSI_TRAITS),
        **overrides,  # type: ignore[arg-type]
    )


def test_verification_is_due_after_four_years_and_for_a_nia_at_each_event() -> None:
    today = dt.date(2026, 11, 27)
    recent = VerificationState(retrieved_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    old = VerificationState(retrieved_at=dt.datetime(2022, 11, 27, tzinfo=dt.UTC))
    assert not verification_due(stored(), recent, today)
    assert verification_due(stored(), old, today)
    assert verification_due(stored(), VerificationState(), today)
    verified_since = replace(old, verified_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    assert not verification_due(stored(), verified_since, today)
    nia = stored(ins=Ins("779035121518933", OID_INS_NIA))
    assert not verification_due(nia, recent, today)
    assert verification_due(nia, recent, today, event=True)
    assert not verification_due(local(), old, today)  # provisional: nothing to verify


def test_verification_outcomes() -> None:
    ok, _ = verification_outcome(stored(), answer(insi()))
    assert ok is VerificationResult.OK
    ko, why = verification_outcome(stored(), answer(insi(matricule="279035121518989", oid=OID_INS_NIA)))
    assert ko is VerificationResult.KO and "autre INS" in why
    ko, why = verification_outcome(stored(), answer(None, InsiCode.NOT_FOUND))
    assert ko is VerificationResult.KO and "01" in why
    ko, why = verification_outcome(stored(), answer(insi(birth_place_code="51454")))
    assert ko is VerificationResult.KO and "lieu de naissance" in why
    ko, _ = verification_outcome(local(), answer(insi()))
    assert ko is VerificationResult.KO


def test_a_failed_verification_invalidates_and_demotes() -> None:
    update = invalidate_after_failed_verification(stored(), actor="job", at=NOW, explanation="01")
    assert update.identity.ins is None and not update.identity.from_insi
    assert update.identity.status is IdentityStatus.PROVISIONAL
    assert update.ins_invalidated
    qualified = stored(high_trust_document="CNI")
    update = invalidate_after_failed_verification(qualified, actor="job", at=NOW, explanation="01")
    assert update.identity.status is IdentityStatus.VALIDATED
    assert update.status_change is not None and "Vérification INSi en échec" in update.status_change.reason


def test_history_entries_put_the_active_ins_first() -> None:
    entries = history_entries(insi())
    assert [e.matricule for e in entries] == [MATRICULE, "779035121518933"]


# -- indicators --------------------------------------------------------------------------------------------


def _change(after: IdentityStatus, at: dt.datetime, mode: QualificationMode | None = None) -> StatusChange:
    return StatusChange(None, after, at, "x", "r", qualification=mode)


def test_status_counts_per_month_and_practitioner() -> None:
    jan = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
    feb = dt.datetime(2026, 2, 10, tzinfo=dt.UTC)
    history = {
        1: [
            _change(IdentityStatus.PROVISIONAL, jan),
            _change(IdentityStatus.QUALIFIED, feb, QualificationMode.TRANSITIONAL),
        ],
        2: [_change(IdentityStatus.RETRIEVED, jan)],
        3: [_change(IdentityStatus.QUALIFIED, jan, QualificationMode.DOCUMENT)],
    }
    seen = [
        SeenPatient(1, "IDE", jan),
        SeenPatient(1, "IDE", jan + dt.timedelta(days=1)),
        SeenPatient(2, "SF", jan),
        SeenPatient(1, "IDE", feb),
        SeenPatient(3, "IDE", feb),
    ]
    ends = {"2026-01": month_bounds("2026-01")[1], "2026-02": month_bounds("2026-02")[1]}
    lines = {(c.month, c.practitioner): c for c in status_counts(seen, history, month_end=ends.__getitem__)}
    assert lines[("2026-01", "*")].patients == 2
    assert lines[("2026-01", "*")].provisional == 1 and lines[("2026-01", "*")].retrieved == 1
    assert lines[("2026-01", "IDE")].patients == 1
    feb_all = lines[("2026-02", "*")]
    assert feb_all.qualified == 2 and feb_all.qualified_transitional == 1
    data = feb_all.as_dict()
    assert data["taux"]["qualifiee"] == 100.0  # type: ignore[index]
    assert data["taux"]["qualifiee_procedure_transitoire_parmi_qualifiees"] == 50.0  # type: ignore[index]


def test_month_bounds() -> None:
    assert month_bounds("2026-12") == (
        dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )
    with pytest.raises(InvalidInput):
        month_bounds("2026-13")
