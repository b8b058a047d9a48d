"""INSi messages: every request built validates against the CNAM XSD; every official answer parses; hostile XML."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters.insi.messages import (
    RECSANS_NS,
    AssertionIssuer,
    InsiSoapFault,
    InsiSoftware,
    build_traits_request,
    build_vitale_request,
    insi_schema,
    parse_answer,
)
from adapters.net import hardened_xml_parser
from domain.errors import InvalidInput, RemoteServiceError
from domain.identity import OID_INS_NIA, OID_INS_NIR, Sex
from domain.insi import InsiCallContext, InsiCode, InsiTraitsQuery, VitaleBeneficiary
from domain.text import normalize_trait
from sandbox.harness import soap_fault_envelope
from sandbox.test_identities import VITALE_CARDS

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "specs" / "insi" / "samples"
CONTEXT = InsiCallContext(
    actor="Camille DURAND (ide)", structure_id="1", practitioner_id="810101010101", practitioner_name="DURAND"
)
SOFTWARE = InsiSoftware(version="0.1.0", instance="test-instance")
CPS = AssertionIssuer("cps")
ORGANISATION = AssertionIssuer("organisation", "CN=INSI-AUTO,O=Centre de santé")


def _valid(body: bytes) -> bool:
    return insi_schema().validate(etree.fromstring(body, hardened_xml_parser()))


# -- requests ------------------------------------------------------------------------------------------

_LETTERS = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZÉÈÇÀÏÔabcdefgéèçœ")
_WORD = st.text(_LETTERS, min_size=1, max_size=12)
_NAME = st.lists(_WORD, min_size=1, max_size=3).flatmap(
    lambda words: st.sampled_from([" ", "-", "'"]).map(lambda sep: sep.join(words))
)
_COG = st.one_of(
    st.just(""),
    st.from_regex(r"\A(0[1-9]|[1-8][0-9]|9[0-5])[0-9]{3}\Z"),  # metropolitan communes
    st.from_regex(r"\A2[AB][0-9]{3}\Z"),  # Corsica
    st.from_regex(r"\A99[1-5][0-9]{2}\Z"),  # born abroad
    st.from_regex(r"\A97[1-6][0-9]{2}\Z"),  # outre-mer
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    birth_name=_NAME,
    given_name=_NAME,
    sex=st.sampled_from([Sex.FEMALE, Sex.MALE]),
    birth_date=st.dates(dt.date(1880, 1, 1), dt.date(2030, 12, 31)),
    cog=_COG,
    organisation=st.booleans(),
)
def test_every_traits_request_validates_against_the_xsd(
    birth_name: str, given_name: str, sex: Sex, birth_date: dt.date, cog: str, organisation: bool
) -> None:
    query = InsiTraitsQuery(birth_name, given_name, sex, birth_date, cog or None)

    request = build_traits_request(query, CONTEXT, SOFTWARE, ORGANISATION if organisation else CPS)

    assert _valid(request.body)
    root = etree.fromstring(request.body)
    body = root.find(f".//{{{RECSANS_NS}}}RECSANSVITALE")
    assert body is not None
    assert body.findtext(f"{{{RECSANS_NS}}}NomNaissance") == normalize_trait(birth_name, label="nom")
    assert body.findtext(f"{{{RECSANS_NS}}}Prenom") == normalize_trait(given_name, label="prénom")
    assert body.findtext(f"{{{RECSANS_NS}}}DateNaissance") == birth_date.isoformat()
    assert body.findtext(f"{{{RECSANS_NS}}}LieuNaissance") == (cog or None)
    assert request.message_id.startswith("uuid:")


@pytest.mark.parametrize("card", sorted(VITALE_CARDS))
def test_every_vitale_request_of_the_test_cards_validates(card: str) -> None:
    for beneficiary in VITALE_CARDS[card]:
        request = build_vitale_request(beneficiary, CONTEXT, SOFTWARE, CPS)
        assert _valid(request.body)
        assert b"rechercherInsAvecCarteVitale" in request.body


def test_request_headers_follow_the_wsdl() -> None:
    query = InsiTraitsQuery("CORSE", "ANTHONY", Sex.MALE, dt.date(1980, 3, 2), "2B020")
    root = etree.fromstring(build_traits_request(query, CONTEXT, SOFTWARE, CPS).body)
    ns = {
        "s": "http://www.w3.org/2003/05/soap-envelope",
        "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
        "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
        "wsa": "http://www.w3.org/2005/08/addressing",
        "lps": "urn:siram:lps:ctxlps",
        "bam": "urn:siram:bam:ctxbam",
    }
    header = root.find("s:Header", ns)
    assert header is not None
    assert header.findtext("wsa:Action", namespaces=ns) == (
        "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"
    )
    assert header.findtext("wsse:Security/saml:Assertion/saml:Subject/saml:NameID", namespaces=ns) == "810101010101"
    assert header.find("lps:ContexteLPS", ns).get("Version") == "01_00"  # type: ignore[union-attr]
    assert header.findtext("lps:ContexteLPS/lps:LPS/lps:Nom", namespaces=ns) == "urn:lps:lgc:0.1.0"
    assert header.find("bam:ContexteBAM", ns).get("Version") == "01_02"  # type: ignore[union-attr]
    assert header.find("bam:ContexteBAM/bam:COUVERTURE", ns) is not None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (InsiTraitsQuery("DUPONT<script>", "JEAN", Sex.MALE, dt.date(1980, 1, 1)), "caractère"),
        (InsiTraitsQuery("DUPONT", "", Sex.MALE, dt.date(1980, 1, 1)), "prénom"),
        (InsiTraitsQuery("DUPONT", "JEAN", Sex.INDETERMINATE, dt.date(1980, 1, 1)), "sexe F ou M"),
        (InsiTraitsQuery("DUPONT", "JEAN", Sex.MALE, dt.date(1980, 1, 1), "7501"), "COG"),
    ],
    ids=["forbidden-character", "no-first-name", "sex-I", "short-cog"],
)
def test_traits_that_cannot_be_sent_are_refused_in_french(query: InsiTraitsQuery, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build_traits_request(query, CONTEXT, SOFTWARE, CPS)
    assert message in caught.value.message_fr


def test_vitale_data_that_cannot_be_sent_is_refused() -> None:
    bad = VitaleBeneficiary("27512632207", "74", "ADRUN", "ZOE", "1975-12-31", 1)
    with pytest.raises(InvalidInput, match="NIR du bénéficiaire"):
        build_vitale_request(bad, CONTEXT, SOFTWARE, CPS)


# -- answers -------------------------------------------------------------------------------------------

EXPECTED = {
    "REP_CR01.xml": (InsiCode.NOT_FOUND, None, None, 0),
    "TEST_2.04_cas2.xml": (InsiCode.FOUND, "109076322083489", OID_INS_NIR, 2),
    "TEST_2.05.xml": (InsiCode.FOUND, "109076322088835", OID_INS_NIA, 0),
    "TEST_2.08_cas1.xml": (InsiCode.FOUND, "180032B02040123", OID_INS_NIR, 1),
    "TEST_2.08_cas2.xml": (InsiCode.FOUND, "181036322045660", OID_INS_NIR, 2),
}


def test_every_official_sample_is_covered() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.xml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_official_samples_parse(name: str) -> None:
    code, matricule, oid, history = EXPECTED[name]

    result = parse_answer((SAMPLES / name).read_bytes())

    assert result.code is code
    if matricule is None:
        assert result.identity is None
        return
    assert result.identity is not None
    assert (result.identity.matricule, result.identity.oid, len(result.identity.history)) == (matricule, oid, history)


def test_sample_details() -> None:
    pierre = parse_answer((SAMPLES / "TEST_2.04_cas2.xml").read_bytes()).identity
    assert pierre is not None
    assert pierre.given_names == ("PIERRE-ALAIN", "MURIEL", "FLORIANT")
    assert pierre.first_given_name == "PIERRE-ALAIN"  # no <Prenom>: the first of ListePrenom
    assert (pierre.sex, pierre.birth_date, pierre.birth_place_code) == ("M", "2009-07-14", "63220")
    assert pierre.history[0].matricule == "209076322083439"
    assert pierre.history[0].valid_from == dt.date(2019, 3, 1)  # DateDeb before IdIndividu: read anyway
    assert pierre.importable
    corse = parse_answer((SAMPLES / "TEST_2.08_cas1.xml").read_bytes()).identity
    assert corse is not None and corse.birth_place_code == "2B020" and corse.importable
    hermann = parse_answer((SAMPLES / "TEST_2.08_cas2.xml").read_bytes()).identity
    assert hermann is not None
    assert not hermann.importable  # the kit's key is wrong: never stored
    assert "clé" in (hermann.import_problem or "")


def _result(inner: str, *, code: str = "00", ns: str = "http://www.cnamts.fr/INSiResultat") -> bytes:
    return (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        f'<r:RESULTAT xmlns:r="{ns}"><r:CR><r:CodeCR>{code}</r:CodeCR><r:LibelleCR>x</r:LibelleCR></r:CR>'
        f"{inner}</r:RESULTAT></s:Body></s:Envelope>"
    ).encode()


_INDIVIDU = (
    "<r:INDIVIDU><r:INSACTIF><r:IdIndividu><r:NumIdentifiant>2751263220749</r:NumIdentifiant><r:Cle>74</r:Cle>"
    "</r:IdIndividu><r:OID>1.2.250.1.213.1.4.8</r:OID></r:INSACTIF><r:TIQ><r:NomNaissance>{nom}</r:NomNaissance>"
    "<r:ListePrenom>{prenoms}</r:ListePrenom><r:Sexe>{sexe}</r:Sexe><r:DateNaissance>{date}</r:DateNaissance>"
    "<r:LieuNaissance>63220</r:LieuNaissance></r:TIQ></r:INDIVIDU>"
)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"date": "1975-00-31"}, "« 00 »"),
        ({"date": "1975-12-00"}, "« 00 »"),
        ({"nom": ""}, "nom de naissance vide"),
        ({"prenoms": ""}, "prénoms de naissance vides"),
        ({"sexe": ""}, "sexe vide"),
    ],
    ids=["month-00", "day-00", "no-name", "no-first-names", "no-sex"],
)
def test_rules_11_and_12_flag_the_identity_as_not_importable(fields: dict[str, str], reason: str) -> None:
    values = {"nom": "ADRUN", "prenoms": "ZOE", "sexe": "F", "date": "1975-12-31"} | fields

    identity = parse_answer(_result(_INDIVIDU.format(**values))).identity

    assert identity is not None
    assert not identity.importable
    assert reason in (identity.import_problem or "")


def test_a_missing_key_is_computed() -> None:
    data = _result(
        _INDIVIDU.format(nom="ADRUN", prenoms="ZOE", sexe="F", date="1975-12-31").replace("<r:Cle>74</r:Cle>", "")
    )
    identity = parse_answer(data).identity
    assert identity is not None and identity.matricule == "275126322074974"


_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&lol4;</s:Body></s:Envelope>'
)
_XXE = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
    b'<r:RESULTAT xmlns:r="http://www.cnamts.fr/INSiResultat"><r:CR><r:CodeCR>01</r:CodeCR>'
    b"<r:LibelleCR>&x;</r:LibelleCR></r:CR></r:RESULTAT></s:Body></s:Envelope>"
)
_XXE_NETWORK = (
    b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">'
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>'
)

HOSTILE = {
    "xml-bomb": (_BOMB, "DTD"),
    "external-entity": (_XXE, "DTD"),
    "external-dtd": (_XXE_NETWORK, "DTD"),
    "not-xml": (b"<html><body>502 Bad Gateway", "XML mal formé"),
    "empty": (b"", "XML mal formé"),
    "soap-1.1": (
        b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>',
        "SOAP 1.2",
    ),
    "no-body": (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>', "sans corps"),
    "wrong-namespace": (_result("", code="01", ns="http://www.cnamts.fr/INSiRecSans"), "espace de noms"),
    "unknown-code": (_result("", code="07"), "code retour inconnu"),
    "00-without-identity": (_result("", code="00"), "code 00 sans identité"),
    "bad-matricule": (
        _result(_INDIVIDU.format(nom="A", prenoms="B", sexe="F", date="1975-12-31").replace("2751263220749", "27512")),
        "matricule INS mal formé",
    ),
    "bad-date": (
        _result(_INDIVIDU.format(nom="A", prenoms="B", sexe="F", date="31/12/1975")),
        "date de naissance mal formée",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_or_malformed_answers_are_refused_in_french(name: str) -> None:
    data, reason = HOSTILE[name]

    with pytest.raises(RemoteServiceError) as caught:
        parse_answer(data)

    assert "réponse illisible" in caught.value.message_fr
    assert reason in caught.value.message_fr
    assert not caught.value.retryable
    assert "root:" not in caught.value.message_fr


def test_a_soap_fault_answer_is_recognised() -> None:
    with pytest.raises(InsiSoapFault) as caught:
        parse_answer(soap_fault_envelope("DESIR_500", "Base indisponible", severity="fatale"))
    assert caught.value.fault.code == "DESIR_500"
    assert caught.value.fault.server_side
