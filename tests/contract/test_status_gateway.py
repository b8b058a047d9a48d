"""Contract tests of HttpsStatusGateway against the sandbox status stand-in, faults included."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.status_probe import HttpsStatusGateway, parse_soap_fault
from domain.errors import RemoteServiceError
from domain.remote import RemoteStatus, StatusGateway
from sandbox.ca import TestPki
from sandbox.harness import Fault, SandboxHarness, SandboxRequest, SandboxResponse, soap_fault_envelope

SHORT_TIMEOUT_S = 0.5


@pytest.fixture
def gateway(status_harness: SandboxHarness) -> Iterator[HttpsStatusGateway]:
    """The adapter pointed at the running status stand-in, trusting the test CA."""
    with HttpsStatusGateway(
        status_harness.url("status"), status_harness.ca_cert_path, timeout_s=SHORT_TIMEOUT_S
    ) as gateway:
        yield gateway


def test_fetch_status(gateway: HttpsStatusGateway) -> None:
    port: StatusGateway = gateway  # the adapter satisfies the domain port

    status = port.fetch_status()

    assert isinstance(status, RemoteStatus)
    assert (status.service, status.version) == ("status", "test")
    assert status.time.tzinfo is not None
    assert abs(status.time - dt.datetime.now(dt.UTC)) < dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("fault", "retryable", "message"),
    [
        (Fault.delay(5), True, "ne répond pas (délai dépassé)"),
        (Fault.hang(), True, "ne répond pas (délai dépassé)"),
        (Fault.http_5xx(503), True, "erreur HTTP 503"),
        (Fault.http_5xx(500), True, "erreur HTTP 500"),
        (Fault.connection_reset(), True, "connexion au service"),
        (Fault.soap_fault("SIRAM_100"), True, "SIRAM_100"),
        (Fault.soap_fault("DESIR_560", message="Requête invalide", sender=True), False, "DESIR_560"),
    ],
    ids=["delay", "hang", "503", "500", "reset", "soap-receiver", "soap-sender"],
)
def test_faults_become_remote_service_errors(
    status_harness: SandboxHarness,
    gateway: HttpsStatusGateway,
    fault: Fault,
    retryable: bool,
    message: str,
) -> None:
    status_harness.set_fault("status", fault)

    with pytest.raises(RemoteServiceError) as caught:
        gateway.fetch_status()

    assert caught.value.retryable is retryable
    assert message in caught.value.message_fr
    assert status_harness.url("status").removeprefix("https://") in caught.value.message_fr


def test_soap_fault_message_carries_the_siram_text(status_harness: SandboxHarness, gateway: HttpsStatusGateway) -> None:
    status_harness.set_fault("status", Fault.soap_fault("DESIR_500", message="Base indisponible"))

    with pytest.raises(RemoteServiceError) as caught:
        gateway.fetch_status()

    assert "DESIR_500 : Base indisponible" in caught.value.message_fr
    assert "Réessayez" in caught.value.message_fr


def test_latency_beyond_the_timeout_is_a_timeout(status_harness: SandboxHarness, gateway: HttpsStatusGateway) -> None:
    status_harness.set_latency("status", 5)

    with pytest.raises(RemoteServiceError, match="délai dépassé") as caught:
        gateway.fetch_status()

    assert caught.value.retryable


def test_gateway_recovers_once_the_fault_is_gone(status_harness: SandboxHarness, gateway: HttpsStatusGateway) -> None:
    status_harness.set_fault("status", Fault.connection_reset(times=1))
    with pytest.raises(RemoteServiceError):
        gateway.fetch_status()

    assert gateway.fetch_status().service == "status"


def test_connection_refused_is_retryable(sandbox_pki: TestPki) -> None:
    with SandboxHarness([_Fixed(SandboxResponse.text(""))], sandbox_pki) as harness:
        url = harness.url("fixed")  # a port nobody listens on once the harness stops

    with (
        HttpsStatusGateway(url, sandbox_pki.ca_cert_path, timeout_s=SHORT_TIMEOUT_S) as gateway,
        pytest.raises(RemoteServiceError, match="injoignable") as caught,
    ):
        gateway.fetch_status()

    assert caught.value.retryable


def test_unknown_server_certificate_is_not_retryable(status_harness: SandboxHarness, other_pki: TestPki) -> None:
    for ca_cert in (None, other_pki.ca_cert_path):  # system store, then an unrelated CA
        with (
            HttpsStatusGateway(status_harness.url("status"), ca_cert, timeout_s=SHORT_TIMEOUT_S) as gateway,
            pytest.raises(RemoteServiceError, match="certificat") as caught,
        ):
            gateway.fetch_status()
        assert not caught.value.retryable


def test_missing_ca_file_is_not_retryable(status_harness: SandboxHarness, tmp_path: Path) -> None:
    with (
        HttpsStatusGateway(status_harness.url("status"), tmp_path / "absent.pem") as gateway,
        pytest.raises(RemoteServiceError, match="certificats configurés") as caught,
    ):
        gateway.fetch_status()

    assert not caught.value.retryable


def test_mutual_tls_without_client_certificate_is_not_retryable(
    mtls_harness: SandboxHarness, sandbox_pki: TestPki
) -> None:
    with (
        HttpsStatusGateway(mtls_harness.url("status"), sandbox_pki.ca_cert_path, SHORT_TIMEOUT_S) as gateway,
        pytest.raises(RemoteServiceError, match="refusé le certificat") as caught,
    ):
        gateway.fetch_status()

    assert not caught.value.retryable


def test_mutual_tls_with_client_certificate(mtls_harness: SandboxHarness, sandbox_pki: TestPki) -> None:
    cert = sandbox_pki.issue_client_cert("INSI-AUTO")

    with HttpsStatusGateway(
        mtls_harness.url("status"), sandbox_pki.ca_cert_path, SHORT_TIMEOUT_S, client_cert=cert
    ) as gateway:
        assert gateway.fetch_status().service == "status"


def test_client_error_is_not_retryable(status_harness: SandboxHarness) -> None:
    with (
        HttpsStatusGateway(status_harness.url("status", "/nowhere"), status_harness.ca_cert_path) as gateway,
        pytest.raises(RemoteServiceError, match="erreur HTTP 404") as caught,
    ):
        gateway.fetch_status()

    assert not caught.value.retryable


class _Fixed:
    """A stand-in answering the same response to everything (malformed status bodies)."""

    name = "fixed"

    def __init__(self, response: SandboxResponse) -> None:
        self._response = response

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        return self._response


@pytest.mark.parametrize(
    "response",
    [
        SandboxResponse(200, {"Content-Type": "application/json"}, b"{not json"),
        SandboxResponse(200, {"Content-Type": "application/json"}, b"\xff\xfe garbage"),
        SandboxResponse.json(["service", "status"]),
        SandboxResponse.json({"service": "status", "version": "1"}),
        SandboxResponse.json({"service": "status", "version": 1, "time": "2025-01-01T00:00:00+00:00"}),
        SandboxResponse.json({"service": "status", "version": "1", "time": "hier"}),
    ],
    ids=["syntax", "bytes", "array", "missing-time", "wrong-type", "bad-time"],
)
def test_malformed_status_is_not_retryable(sandbox_pki: TestPki, response: SandboxResponse) -> None:
    with (
        SandboxHarness([_Fixed(response)], sandbox_pki) as harness,
        HttpsStatusGateway(harness.url("fixed"), harness.ca_cert_path, SHORT_TIMEOUT_S) as gateway,
        pytest.raises(RemoteServiceError, match="réponse illisible") as caught,
    ):
        gateway.fetch_status()

    assert not caught.value.retryable


def test_naive_time_is_taken_as_utc(sandbox_pki: TestPki) -> None:
    body = SandboxResponse.json({"service": "s", "version": "1", "time": "2025-01-01T10:00:00"})

    with (
        SandboxHarness([_Fixed(body)], sandbox_pki) as harness,
        HttpsStatusGateway(harness.url("fixed"), harness.ca_cert_path, SHORT_TIMEOUT_S) as gateway,
    ):
        status = gateway.fetch_status()

    assert status.time == dt.datetime(2025, 1, 1, 10, tzinfo=dt.UTC)


def test_parse_soap_fault_reads_the_siram_detail() -> None:
    envelope = soap_fault_envelope("DESIR_560", "Trop de résultats", severity="erreur", message_id="uuid:1")

    fault = parse_soap_fault(envelope)

    assert fault is not None
    assert (fault.fault_code, fault.code, fault.severity, fault.message_id) == (
        "Receiver",
        "DESIR_560",
        "erreur",
        "uuid:1",
    )
    assert fault.detail == "Trop de résultats"
    assert fault.server_side


def test_parse_soap_fault_ignores_other_documents() -> None:
    assert parse_soap_fault(b"<html><body>502</body></html>") is None
    assert parse_soap_fault(b"not xml at all") is None
    # An entity declaration must not be expanded (no XXE, no billion laughs).
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><e:Fault>'
        b"<e:Code><e:Value>e:Receiver</e:Value></e:Code><e:Reason><e:Text>&x;</e:Text></e:Reason>"
        b"</e:Fault></e:Body></e:Envelope>"
    )
    fault = parse_soap_fault(hostile)
    assert fault is None or "root:" not in fault.reason
