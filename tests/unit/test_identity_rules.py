"""RNIV identity rules: statuses, attributes, protected strict traits, demotion, validation."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.errors import InvalidInput, PermissionDenied
from domain.identity import (
    OID_INS_NIR,
    Identity,
    IdentityStatus,
    IdentityTraits,
    Ins,
    Sex,
    change_identity,
    compute_status,
    new_identity,
    parse_given_names,
    validate_matricule,
    validate_traits,
)

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


def traits(**overrides: object) -> IdentityTraits:
    values: dict[str, object] = {
        "birth_name": "PAT-TROIS",
        "birth_given_names": ("DOMINIQUE",),
        "birth_date": dt.date(1979, 3, 28),
        "sex": Sex.FEMALE,
        "birth_place_code": "51215",
    }
    values.update(overrides)
    return IdentityTraits(**values)  # type: ignore[arg-type]


def always_valid(code: str, day: dt.date) -> str | None:
    return None


@pytest.mark.parametrize(
    ("from_insi", "checked", "doubtful", "fictitious", "expected"),
    [
        (False, False, False, False, IdentityStatus.PROVISIONAL),
        (True, False, False, False, IdentityStatus.RETRIEVED),
        (False, True, False, False, IdentityStatus.VALIDATED),
        (True, True, False, False, IdentityStatus.QUALIFIED),
        (True, True, True, False, IdentityStatus.PROVISIONAL),
        (True, True, False, True, IdentityStatus.PROVISIONAL),
        (False, True, True, False, IdentityStatus.PROVISIONAL),
    ],
)
def test_status_is_derived_from_its_causes(
    from_insi: bool, checked: bool, doubtful: bool, fictitious: bool, expected: IdentityStatus
) -> None:
    assert (
        compute_status(
            from_insi=from_insi, checked_on_high_trust_document=checked, doubtful=doubtful, fictitious=fictitious
        )
        is expected
    )


def test_status_labels_and_advice_are_french() -> None:
    assert [s.label_fr for s in IdentityStatus] == ["provisoire", "récupérée", "validée", "qualifiée"]
    assert "pièce d'identité" in IdentityStatus.PROVISIONAL.advice_fr
    assert "INSi" in IdentityStatus.VALIDATED.advice_fr


def qualified_identity() -> Identity:
    return Identity(
        traits=traits(),
        ins=Ins("279035121518989", OID_INS_NIR),
        from_insi=True,
        high_trust_document="CNI",
    )


def test_non_admin_cannot_change_a_strict_trait_of_a_qualified_identity() -> None:
    with pytest.raises(PermissionDenied) as info:
        change_identity(
            qualified_identity(),
            traits=traits(birth_name="PAT-QUATRE"),
            high_trust_document="CNI",
            doubtful=False,
            fictitious=False,
            homonym=False,
            actor="ide",
            actor_is_admin=False,
            at=NOW,
        )
    assert "Nom de naissance" in info.value.message_fr


def test_used_names_stay_editable_on_a_qualified_identity() -> None:
    result = change_identity(
        qualified_identity(),
        traits=traits(used_name="MARTIN", used_given_name="DOMI"),
        high_trust_document="CNI",
        doubtful=False,
        fictitious=False,
        homonym=False,
        actor="ide",
        actor_is_admin=False,
        at=NOW,
    )
    assert result.identity.status is IdentityStatus.QUALIFIED
    assert result.identity.ins is not None
    assert result.status_change is None
    assert result.changed_strict_traits == ()


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (qualified_identity(), IdentityStatus.VALIDATED),
        (
            Identity(traits=traits(), ins=Ins("279035121518989", OID_INS_NIR), from_insi=True),
            IdentityStatus.PROVISIONAL,
        ),
    ],
)
def test_admin_changing_a_strict_trait_invalidates_the_ins_and_demotes(
    start: Identity, expected: IdentityStatus
) -> None:
    result = change_identity(
        start,
        traits=traits(birth_date=dt.date(1979, 3, 29)),
        high_trust_document=start.high_trust_document,
        doubtful=False,
        fictitious=False,
        homonym=False,
        actor="admin",
        actor_is_admin=True,
        at=NOW,
    )
    assert result.identity.ins is None
    assert result.identity.from_insi is False
    assert result.ins_invalidated
    assert result.identity.status is expected
    assert result.status_change is not None
    assert result.status_change.before is start.status
    assert result.status_change.after is expected
    assert result.status_change.actor == "admin"
    assert "Date de naissance" in result.status_change.reason


def test_doubtful_demotes_and_blocks_insi() -> None:
    result = change_identity(
        qualified_identity(),
        traits=traits(),
        high_trust_document="CNI",
        doubtful=True,
        fictitious=False,
        homonym=False,
        actor="ide",
        actor_is_admin=False,
        at=NOW,
    )
    assert result.identity.status is IdentityStatus.PROVISIONAL
    assert not result.identity.may_call_insi
    assert result.status_change is not None and result.status_change.reason == "Identité signalée douteuse"
    # the INS is kept (the attribute can be removed), but never transmitted while not qualified
    assert result.identity.transmittable_ins is None


def test_strict_traits_of_provisional_identity_are_freely_editable() -> None:
    identity, first = new_identity(traits(), actor="ide", at=NOW)
    assert first.before is None and first.after is IdentityStatus.PROVISIONAL
    result = change_identity(
        identity,
        traits=traits(birth_name="DUPONT"),
        high_trust_document=None,
        doubtful=False,
        fictitious=False,
        homonym=False,
        actor="ide",
        actor_is_admin=False,
        at=NOW,
    )
    assert result.identity.traits.birth_name == "DUPONT"
    assert result.status_change is None


def test_checking_an_id_document_validates() -> None:
    identity, _ = new_identity(traits(), actor="ide", at=NOW)
    result = change_identity(
        identity,
        traits=traits(),
        high_trust_document="PASSEPORT",
        doubtful=False,
        fictitious=False,
        homonym=False,
        actor="ide",
        actor_is_admin=False,
        at=NOW,
    )
    assert result.identity.status is IdentityStatus.VALIDATED
    assert result.status_change is not None and "PASSEPORT" in result.status_change.reason


def test_validation_normalises_names_to_rniv_form() -> None:
    checked = validate_traits(
        traits(birth_name="  d’Artagnan-Lefèvre ", birth_given_names=("Hélène", "Marie-Chloé"), used_name="Œuvray"),
        today=TODAY,
        cog_validator=always_valid,
    )
    assert checked.birth_name == "D'ARTAGNAN-LEFEVRE"
    assert checked.birth_given_names == ("HELENE", "MARIE-CHLOE")
    assert checked.first_birth_given_name == "HELENE"
    assert checked.used_name == "OEUVRAY"


def test_exactly_the_five_rule_5_fields_are_mandatory() -> None:
    empty = IdentityTraits(birth_name="", birth_given_names=(), birth_date=None, sex=None, birth_place_code="")
    with pytest.raises(InvalidInput) as info:
        validate_traits(empty, today=TODAY, cog_validator=always_valid)
    assert set(info.value.field_errors) == {"birth_name", "birth_given_names", "birth_date", "sex", "birth_place_code"}
    # used name, used first name, contact: never mandatory
    validate_traits(traits(), today=TODAY, cog_validator=always_valid)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("birth_name", "DUPONT😀", "non autorisé"),
        ("birth_name", "DUP0NT", "non autorisé"),
        ("birth_name", "'; DROP TABLE patient; --", "non autorisé"),
        ("birth_name", "X" * 10_000, "100 caractères"),
        ("birth_name", "-DUPONT", "commencer"),
        ("birth_given_names", ("JEAN", "P@UL"), "non autorisé"),
        ("birth_date", dt.date(2027, 1, 1), "futur"),
        ("birth_date", dt.date(1850, 1, 1), "invraisemblable"),
        ("birth_place_code", "ABCDE", "code INSEE"),
    ],
)
def test_bad_input_gets_a_french_message_at_the_field(field: str, value: object, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_traits(traits(**{field: value}), today=TODAY, cog_validator=always_valid)
    assert fragment in info.value.field_errors[field]


def test_unknown_birth_place_99999_is_accepted_and_cog_is_checked_at_birth_date() -> None:
    seen: list[tuple[str, dt.date]] = []

    def validator(code: str, day: dt.date) -> str | None:
        seen.append((code, day))
        return "Le code 01003 n'était pas valide"

    validate_traits(traits(birth_place_code="99999"), today=TODAY, cog_validator=validator)
    assert seen == []
    with pytest.raises(InvalidInput) as info:
        validate_traits(traits(birth_place_code="01003"), today=TODAY, cog_validator=validator)
    assert seen == [("01003", dt.date(1979, 3, 28))]
    assert "pas valide" in info.value.field_errors["birth_place_code"]


def test_given_names_keep_composite_names_and_order() -> None:
    assert parse_given_names("JEAN-PIERRE  MARIE LUC") == ("JEAN-PIERRE", "MARIE", "LUC")
    assert parse_given_names(["ANNE SOPHIE", "LOU"]) == ("ANNE", "SOPHIE", "LOU")


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("279035121518989", True),  # CI-SIS test patient
        ("2 79 03 51 215 189 89", True),
        ("279035121518988", False),  # wrong key
        ("27903512151898", False),  # 14 characters
        ("1850399999999xx", False),
        ("2690920A01234", False),
        ("160122B11234592", True),  # Corsica (2B): the key is computed with 2B read as 18
    ],
)
def test_matricule_key_and_shape(raw: str, ok: bool) -> None:
    if ok:
        assert len(validate_matricule(raw)) == 15
    else:
        with pytest.raises(ValueError):
            validate_matricule(raw)
