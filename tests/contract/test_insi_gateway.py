"""SoapInsiGateway against the INSi stand-in over TLS and mutual TLS: codes, identities, faults, hostile answers."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator

import httpx
import pytest

from adapters.insi import InsiAuth, SoapInsiGateway
from domain.errors import AuthenticationRequired, InvalidInput, RemoteServiceError
from domain.identity import OID_INS_NIA, Sex
from domain.insi import InsiCallContext, InsiCode, InsiGateway, InsiQueryKind, InsiTraitsQuery
from sandbox.ca import TestPki
from sandbox.harness import Fault, SandboxHarness, SandboxRequest, SandboxResponse
from sandbox.services.insi import InsiService
from sandbox.test_identities import VITALE_CARDS, identity

SHORT_TIMEOUT_S = 0.5
CPS_CONTEXT = InsiCallContext(actor="Camille DURAND (ide)", practitioner_id="810101010101", structure_id="1")
CENTRE_CONTEXT = InsiCallContext(actor="Accueil (accueil)", structure_id="510000000")


@pytest.fixture
def insi_services() -> list[InsiService]:
    """The INSi stand-in twice: ``insi`` (TLS) and ``insi-mtls`` (mutual TLS, organisation certificate)."""
    return [InsiService("insi"), InsiService("insi-mtls", mutual_tls=True)]


@pytest.fixture
def insi_harness(sandbox_pki: TestPki, insi_services: list[InsiService]) -> Iterator[SandboxHarness]:
    """Both stand-ins running; ``insi-mtls`` requires a client certificate signed by the test CA."""
    with SandboxHarness(insi_services, sandbox_pki, require_client_cert=["insi-mtls"]) as harness:
        yield harness


@pytest.fixture
def gateway(insi_harness: SandboxHarness) -> Iterator[SoapInsiGateway]:
    """CPx/PSC mode against the TLS stand-in."""
    with SoapInsiGateway(
        insi_harness.url("insi", "/lps"), ca_cert=insi_harness.ca_cert_path, timeout_s=SHORT_TIMEOUT_S
    ) as gateway:
        yield gateway


def _query(key: str, given: str | None = None, place: str | None = None) -> InsiTraitsQuery:
    person = identity(key)
    birth = person.birth_date_value or dt.date(int(person.birth_date[:4]), 1, 1)
    return InsiTraitsQuery(person.birth_name, given or person.given_names[0], Sex(person.sex), birth, place)


def test_found_with_traits(gateway: SoapInsiGateway) -> None:
    port: InsiGateway = gateway

    answer = port.search_by_traits(_query("adrun-zoe"), CPS_CONTEXT)

    assert answer.code is InsiCode.FOUND
    assert answer.kind is InsiQueryKind.TRAITS
    assert answer.message_id.startswith("uuid:")
    assert answer.identity is not None
    assert answer.identity.matricule == "275126322074974"
    assert (answer.identity.birth_name, answer.identity.given_names, answer.identity.sex) == ("ADRUN", ("ZOE",), "F")
    assert answer.identity.importable


def test_not_found(gateway: SoapInsiGateway) -> None:
    answer = gateway.search_by_traits(
        InsiTraitsQuery("INCONNU", "PERSONNE", Sex.MALE, dt.date(1970, 1, 1)), CPS_CONTEXT
    )
    assert (answer.code, answer.identity) == (InsiCode.NOT_FOUND, None)


def test_homonyms_several_without_the_cog_one_with_it(gateway: SoapInsiGateway) -> None:
    assert gateway.search_by_traits(_query("lefevre-marie-reims"), CPS_CONTEXT).code is InsiCode.SEVERAL
    answer = gateway.search_by_traits(_query("lefevre-marie-reims", place="51454"), CPS_CONTEXT)
    assert answer.code is InsiCode.FOUND
    assert answer.identity is not None and answer.identity.matricule == identity("lefevre-marie-reims").matricule


@pytest.mark.parametrize(
    ("key", "given", "place", "check"),
    [
        ("provisoire-matricule", None, None, lambda i: i.oid == OID_INS_NIA),
        ("ecetinsi-pierre-alain", None, None, lambda i: len(i.history) == 2),
        ("ecetinsi-pierre-alain", "Pierre-Alain", None, lambda i: i.first_given_name == "PIERRE-ALAIN"),
        ("tchitchi-catarina", "CATARINA", None, lambda i: i.given_names == ("CATARINA", "BELLA")),
        ("corse-anthony", None, "2B020", lambda i: i.matricule == "180032B02040123"),
        ("santoni-paola", None, None, lambda i: i.birth_place_code == "2A004"),
        ("garcia-lucia", None, None, lambda i: i.birth_place_code == "99134"),
        ("favre-helene", None, "74010", lambda i: i.birth_place_code == "74011"),
        ("favre-helene", None, "74011", lambda i: i.importable),
        ("martin-dupont-jean-baptiste", "jean-baptiste", None, lambda i: i.birth_name == "MARTIN-DUPONT"),
        ("lunaire-rose", None, None, lambda i: not i.importable and "00" in (i.import_problem or "")),
        ("sansprenom-alix", None, None, lambda i: not i.importable and "prénoms" in (i.import_problem or "")),
        ("hermann-gatien", None, None, lambda i: not i.importable),
    ],
    ids=[
        "nia",
        "history",
        "composite-first-name",
        "several-first-names",
        "corsica-2b",
        "corsica-2a",
        "born-abroad",
        "merged-commune-new-code",
        "merged-commune-old-code",
        "composite-names",
        "rule-11",
        "rule-12",
        "cnda-wrong-key",
    ],
)
def test_test_identities(
    gateway: SoapInsiGateway, key: str, given: str | None, place: str | None, check: object
) -> None:
    answer = gateway.search_by_traits(_query(key, given, place), CPS_CONTEXT)

    assert answer.code is InsiCode.FOUND
    assert answer.identity is not None
    assert check(answer.identity)  # type: ignore[operator]


def test_one_first_name_that_is_not_a_birth_first_name_finds_nothing(gateway: SoapInsiGateway) -> None:
    assert gateway.search_by_traits(_query("tchitchi-catarina", "OLA"), CPS_CONTEXT).code is InsiCode.NOT_FOUND


@pytest.mark.parametrize("card", sorted(VITALE_CARDS))
def test_every_beneficiary_of_the_virtual_cartes_vitale_is_found(gateway: SoapInsiGateway, card: str) -> None:
    for beneficiary in VITALE_CARDS[card]:
        answer = gateway.search_by_vitale(beneficiary, CPS_CONTEXT)
        assert answer.code is InsiCode.FOUND
        assert answer.kind is InsiQueryKind.VITALE
        assert answer.identity is not None
        assert answer.identity.matricule[:13] == beneficiary.nir


def test_cps_mode_needs_a_practitioner_card(gateway: SoapInsiGateway, insi_harness: SandboxHarness) -> None:
    with pytest.raises(AuthenticationRequired, match="carte CPS"):
        gateway.search_by_traits(_query("adrun-zoe"), CENTRE_CONTEXT)
    assert insi_harness.request_count("insi") == 0  # refused before anything was sent


# -- organisation certificate over mutual TLS ------------------------------------------------------------


def test_organisation_certificate_over_mutual_tls(
    insi_harness: SandboxHarness, sandbox_pki: TestPki, insi_services: list[InsiService]
) -> None:
    cert, key = sandbox_pki.issue_client_cert("INSI-AUTO", organization="Centre de santé test")
    with SoapInsiGateway(
        insi_harness.url("insi-mtls", "/lps"),
        ca_cert=sandbox_pki.ca_cert_path,
        timeout_s=SHORT_TIMEOUT_S,
        auth=InsiAuth.organisation(cert, key),
    ) as gateway:
        answer = gateway.search_by_traits(_query("adrun-zoe"), CENTRE_CONTEXT)

    assert answer.code is InsiCode.FOUND
    assert "INSI-AUTO" in insi_services[1].calls[-1]["client"]


def test_mutual_tls_without_certificate_is_refused(insi_harness: SandboxHarness, sandbox_pki: TestPki) -> None:
    with (
        SoapInsiGateway(
            insi_harness.url("insi-mtls", "/lps"), ca_cert=sandbox_pki.ca_cert_path, timeout_s=SHORT_TIMEOUT_S
        ) as gateway,
        pytest.raises(RemoteServiceError, match="refusé le certificat") as caught,
    ):
        gateway.search_by_traits(_query("adrun-zoe"), CPS_CONTEXT)
    assert not caught.value.retryable


def test_mutual_tls_with_a_foreign_certificate_is_refused(
    insi_harness: SandboxHarness, sandbox_pki: TestPki, other_pki: TestPki
) -> None:
    cert, key = other_pki.issue_client_cert("INSI-AUTO")
    with (
        SoapInsiGateway(
            insi_harness.url("insi-mtls", "/lps"),
            ca_cert=sandbox_pki.ca_cert_path,
            timeout_s=SHORT_TIMEOUT_S,
            auth=InsiAuth.organisation(cert, key),
        ) as gateway,
        pytest.raises(RemoteServiceError, match="refusé le certificat"),
    ):
        gateway.search_by_traits(_query("adrun-zoe"), CENTRE_CONTEXT)


def test_organisation_mode_needs_certificate_and_key(insi_harness: SandboxHarness) -> None:
    with pytest.raises(InvalidInput, match="certificat"):
        SoapInsiGateway(insi_harness.url("insi-mtls"), ca_cert=None, auth=InsiAuth("organisation"))


def test_unknown_server_certificate(insi_harness: SandboxHarness, other_pki: TestPki) -> None:
    with (
        SoapInsiGateway(insi_harness.url("insi", "/lps"), ca_cert=other_pki.ca_cert_path) as gateway,
        pytest.raises(RemoteServiceError, match="certificat présenté"),
    ):
        gateway.search_by_traits(_query("adrun-zoe"), CPS_CONTEXT)


# -- faults ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "retryable", "message"),
    [
        (Fault.delay(5), True, "ne répond pas (délai dépassé)"),
        (Fault.hang(), True, "ne répond pas (délai dépassé)"),
        (Fault.http_5xx(503), True, "erreur HTTP 503"),
        (Fault.connection_reset(), True, "connexion au service INSi a été interrompue"),
        (Fault.soap_fault("SIRAM_100"), True, "SIRAM_100"),
        (Fault.soap_fault("DESIR_560", message="Requête invalide", sender=True), False, "DESIR_560 : Requête invalide"),
    ],
    ids=["delay", "hang", "503", "reset", "soap-receiver", "soap-sender"],
)
def test_faults_become_remote_service_errors(
    insi_harness: SandboxHarness, gateway: SoapInsiGateway, fault: Fault, retryable: bool, message: str
) -> None:
    insi_harness.set_fault("insi", fault)

    with pytest.raises(RemoteServiceError) as caught:
        gateway.search_by_traits(_query("adrun-zoe"), CPS_CONTEXT)

    assert caught.value.retryable is retryable
    assert message in caught.value.message_fr
    assert "INSi" in caught.value.message_fr


def test_gateway_recovers_after_a_fault(insi_harness: SandboxHarness, gateway: SoapInsiGateway) -> None:
    insi_harness.set_fault("insi", Fault.connection_reset(times=1))
    with pytest.raises(RemoteServiceError):
        gateway.search_by_traits(_query("adrun-zoe"), CPS_CONTEXT)
    assert gateway.search_by_traits(_query("adrun-zoe"), CPS_CONTEXT).code is InsiCode.FOUND


def test_connection_refused(sandbox_pki: TestPki) -> None:
    with SandboxHarness([InsiService()], sandbox_pki) as harness:
        url = harness.url("insi", "/lps")
    with (
        SoapInsiGateway(url, ca_cert=sandbox_pki.ca_cert_path, timeout_s=SHORT_TIMEOUT_S) as gateway,
        pytest.raises(RemoteServiceError, match="injoignable") as caught,
    ):
        gateway.search_by_traits(_query("adrun-zoe"), CPS_CONTEXT)
    assert caught.value.retryable


# -- the stand-in itself ---------------------------------------------------------------------------------


def test_stand_in_serves_the_wsdl_and_its_schemas(insi_harness: SandboxHarness, trust_sandbox: ssl.SSLContext) -> None:
    verify = trust_sandbox
    wsdl = httpx.get(insi_harness.url("insi", "/lps?wsdl"), verify=verify)
    assert wsdl.status_code == 200
    assert b'wsdl:service name="ICIR-v1"' in wsdl.content
    xsd = httpx.get(insi_harness.url("insi", "/lps/xsd/ServiceIdentiteCertifiee/INSi_RESULTAT_INS.xsd"), verify=verify)
    assert xsd.status_code == 200 and b"RESULTAT" in xsd.content
    escape = httpx.get(insi_harness.url("insi", "/lps/xsd/../../../pyproject.toml"), verify=verify)
    assert escape.status_code == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<pas du xml", "SIRAM_012"),
        (b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>', "DESIR_560"),
        (
            b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>'
            b'<r:RECSANSVITALE xmlns:r="http://www.cnamts.fr/INSiRecSans"><r:Inconnu/></r:RECSANSVITALE>'
            b"</e:Body></e:Envelope>",
            "DESIR_560",
        ),
    ],
    ids=["not-xml", "no-headers", "xsd-invalid"],
)
def test_stand_in_rejects_invalid_requests_with_a_soap_fault(
    insi_harness: SandboxHarness, trust_sandbox: ssl.SSLContext, body: bytes, code: str
) -> None:
    response = httpx.post(
        insi_harness.url("insi", "/lps"),
        content=body,
        headers={"Content-Type": "application/soap+xml; charset=utf-8"},
        verify=trust_sandbox,
    )
    assert response.status_code == 500
    assert f'code="{code}"'.encode() in response.content


# -- hostile answers over the wire ------------------------------------------------------------------------


class _Fixed:
    """A stand-in answering the same response to everything."""

    name = "fixed"

    def __init__(self, response: SandboxResponse) -> None:
        self._response = response

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        return self._response


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (SandboxResponse.xml(b"<a>" + b"x" * (50 * 1024 * 1024) + b"</a>"), "trop volumineuse"),
        (SandboxResponse.xml(b"<s:Envelope"), "XML mal formé"),
        (
            SandboxResponse.xml(
                b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&x;</s:Body></s:Envelope>'
            ),
            "DTD",
        ),
        (SandboxResponse(200, {"Content-Type": "text/html"}, b"<html><body>Maintenance</body></html>"), "SOAP 1.2"),
    ],
    ids=["50-MB", "truncated", "external-entity", "html"],
)
def test_hostile_answers_over_the_wire(sandbox_pki: TestPki, response: SandboxResponse, message: str) -> None:
    with (
        SandboxHarness([_Fixed(response)], sandbox_pki) as harness,
        SoapInsiGateway(harness.url("fixed"), ca_cert=sandbox_pki.ca_cert_path, timeout_s=5) as gateway,
        pytest.raises(RemoteServiceError) as caught,
    ):
        gateway.search_by_traits(_query("adrun-zoe"), CPS_CONTEXT)
    assert message in caught.value.message_fr
    assert not caught.value.retryable


def test_http_401_asks_for_authentication(sandbox_pki: TestPki) -> None:
    with (
        SandboxHarness([_Fixed(SandboxResponse.text("non", status=401))], sandbox_pki) as harness,
        SoapInsiGateway(harness.url("fixed"), ca_cert=sandbox_pki.ca_cert_path, timeout_s=5) as gateway,
        pytest.raises(AuthenticationRequired, match="authentification"),
    ):
        gateway.search_by_traits(_query("adrun-zoe"), CPS_CONTEXT)
