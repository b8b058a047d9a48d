"""The "INS à scanner" datamatrix payload: the reference example, separators, refusals, build/parse round trip."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.identity import (
    OID_INS_NIA,
    OID_INS_NIR,
    OID_INS_NIR_DEMO,
    OID_INS_NIR_TEST,
    Identity,
    IdentityTraits,
    Ins,
    Sex,
)
from domain.ins_datamatrix import GS, HEADER, InsDatamatrix, build_payload, datamatrix_for, parse_payload


def matricule_with_key(body13: str) -> str:
    """Append the NIR key (Corsica: 2A counts as 19, 2B as 18)."""
    number = int(body13.replace("2A", "19").replace("2B", "18"))
    return f"{body13}{97 - number % 97:02d}"


PAT_TROIS = matricule_with_key("2790351215189")


def identity(**overrides: object) -> Identity:
    traits = IdentityTraits(
        birth_name="PAT-TROIS",
        birth_given_names=("DOMINIQUE", "MARIE-LOUISE"),
        birth_date=dt.date(1979, 3, 28),
        sex=Sex.FEMALE,
        birth_place_code="51215",
    )
    values: dict[str, object] = {
        "traits": traits,
        "ins": Ins(PAT_TROIS, OID_INS_NIR_TEST),
        "from_insi": True,
        "high_trust_document": "CNI",
    }
    values.update(overrides)
    return Identity(**values)  # type: ignore[arg-type]


def test_reference_example_is_parsed() -> None:
    # The Mediboard test payload quoted in segur-reference §2.5 (its matricule key is not a real NIR key:
    # only the layout is checked here).
    payload = (
        "IS010000000000000000000000S1123549685274612S225978456325481569525S3TEST1 TEST2 TEST\x1d"
        "S4DATAMATRIXTEST\x1dS5MS631-08-2021S717000"
    )
    with pytest.raises(InvalidInput, match="clé"):
        parse_payload(payload)


def test_payload_layout_for_a_qualified_identity() -> None:
    payload = build_payload(datamatrix_for(identity()))
    assert payload == (
        HEADER + f"S1{PAT_TROIS}S21.2.250.1.213.1.4.10S3DOMINIQUE MARIE-LOUISE{GS}S4PAT-TROIS{GS}S5FS628-03-1979S751215"
    )
    assert payload.startswith("IS01" + "0" * 22)


def test_a_19_character_oid_is_followed_by_a_separator() -> None:
    payload = build_payload(datamatrix_for(identity(ins=Ins(PAT_TROIS, OID_INS_NIR))))
    assert f"S2{OID_INS_NIR}{GS}S3" in payload


def test_fields_at_their_maximum_length_have_no_separator() -> None:
    names = ("A" * 49, "B" * 50)  # 49 + space + 50 = 100 characters
    content = InsDatamatrix(PAT_TROIS, OID_INS_NIR_DEMO, names, "C" * 100, Sex.MALE, dt.date(2000, 1, 2), "2A004")
    payload = build_payload(content)
    assert GS not in payload
    assert parse_payload(payload) == content


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"from_insi": False}, "identité qualifiée"),
        ({"high_trust_document": None}, "identité qualifiée"),
        ({"doubtful": True}, "identité qualifiée"),
        ({"ins": None}, "identité qualifiée"),
    ],
)
def test_only_a_qualified_identity_gets_a_datamatrix(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        datamatrix_for(identity(**overrides))


def test_indeterminate_sex_cannot_be_encoded() -> None:
    base = identity()
    with pytest.raises(InvalidInput, match="Sexe indéterminé"):
        datamatrix_for(
            Identity(
                traits=IdentityTraits(
                    birth_name="X",
                    birth_given_names=("Y",),
                    birth_date=dt.date(2001, 1, 1),
                    sex=Sex.INDETERMINATE,
                    birth_place_code="75056",
                ),
                ins=base.ins,
                from_insi=True,
                high_trust_document="CNI",
            )
        )
    content = datamatrix_for(base)
    with pytest.raises(InvalidInput, match="Sexe indéterminé"):
        build_payload(InsDatamatrix(**{**_fields(content), "sex": Sex.INDETERMINATE}))


def _fields(content: InsDatamatrix) -> dict[str, object]:
    return {name: getattr(content, name) for name in InsDatamatrix.__slots__}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"birth_name": "N" * 101}, "100 caractères"),
        ({"birth_name": "DUPONT\x1dX"}, "caractères non admis"),
        ({"birth_given_names": ("ÉLODIE",)}, "caractères non admis"),
        ({"birth_place_code": "7505"}, "COG"),
        ({"oid": "1.2.3"}, "OID"),
        ({"matricule": "123"}, "15 caractères"),
    ],
)
def test_values_that_do_not_fit_are_refused(change: dict[str, object], message: str) -> None:
    content = datamatrix_for(identity())
    with pytest.raises(InvalidInput, match=message):
        build_payload(InsDatamatrix(**{**_fields(content), **change}))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.replace("IS01", "IS02", 1), "en-tête IS01"),
        (lambda p: p.replace("S5F", "S5I"), "sexe"),
        (lambda p: p.replace("S628-03-1979", "S631-02-1979"), "date de naissance"),
        (lambda p: p[:-2], "S7"),
        (lambda p: p + "X", "inattendues"),
        (lambda p: p.replace(GS, ""), "séparateur GS absent"),
        (lambda p: p.replace("S4", "S9"), "S4"),
    ],
)
def test_malformed_payloads_are_refused(mutate: object, message: str) -> None:
    payload = build_payload(datamatrix_for(identity()))
    assert callable(mutate)
    with pytest.raises(InvalidInput, match=message):
        parse_payload(mutate(payload))


_name = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ'-", min_size=1, max_size=20).filter(
    lambda s: s[0].isalpha() and s[-1].isalpha()
)
_nir_body = st.builds(
    lambda sex, year, month, dept, commune, order: f"{sex}{year:02d}{month:02d}{dept}{commune:03d}{order:03d}",
    st.sampled_from(["1", "2"]),
    st.integers(0, 99),
    st.integers(1, 12),
    st.sampled_from(["75", "51", "2A", "2B", "99", "13", "97"]),
    st.integers(1, 990),
    st.integers(1, 999),
)


@settings(max_examples=400, deadline=None)
@given(
    body=_nir_body,
    oid=st.sampled_from([OID_INS_NIR, OID_INS_NIA, OID_INS_NIR_TEST, OID_INS_NIR_DEMO]),
    given_names=st.lists(_name, min_size=1, max_size=4),
    birth_name=st.lists(_name, min_size=1, max_size=3).map(" ".join),
    sex=st.sampled_from([Sex.FEMALE, Sex.MALE]),
    birth_date=st.dates(dt.date(1880, 1, 1), dt.date(2030, 12, 31)),
    place=st.sampled_from(["75056", "2A004", "2B033", "99100", "97411", "51215", "99999"]),
)
def test_round_trip(
    body: str,
    oid: str,
    given_names: list[str],
    birth_name: str,
    sex: Sex,
    birth_date: dt.date,
    place: str,
) -> None:
    if body.startswith("1") is False and oid == OID_INS_NIA:
        body = "7" + body[1:]  # NIA numbers start with 7 or 8
    content = InsDatamatrix(matricule_with_key(body), oid, tuple(given_names), birth_name, sex, birth_date, place)
    payload = build_payload(content)
    assert payload.isascii()
    assert parse_payload(payload) == content
