"""Contract tests of the sandbox harness: test PKI, TLS and mutual TLS, faults, lifecycle, runner."""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import os
import re
import socket
import ssl
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

from sandbox.ca import TestPki
from sandbox.harness import (
    Fault,
    FaultKind,
    SandboxHarness,
    SandboxRequest,
    SandboxResponse,
)
from sandbox.runner import build_harness, default_services, run_foreground
from sandbox.services.status import StatusService

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SIRAM = "urn:siram"


def _client(context: ssl.SSLContext, timeout_s: float = 5.0) -> httpx.Client:
    return httpx.Client(verify=context, timeout=timeout_s)


def _mtls_context(pki: TestPki, cert: tuple[Path, Path] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_cert_path))
    if cert is not None:
        context.load_cert_chain(*cert)
    return context


# -- test PKI ----------------------------------------------------------------------------------------


def test_pki_creates_ca_and_loopback_server_certificate(sandbox_pki: TestPki) -> None:
    ca = x509.load_pem_x509_certificate(sandbox_pki.ca_cert_path.read_bytes())
    server = x509.load_pem_x509_certificate(sandbox_pki.server_cert_path.read_bytes())

    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.not_valid_after_utc - ca.not_valid_before_utc > dt.timedelta(days=3600)
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.IPv4Address("127.0.0.1")]
    if os.name == "posix":  # Windows has no POSIX mode bits; the data directory ACL protects the keys there
        assert stat.S_IMODE(sandbox_pki.ca_key_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(sandbox_pki.server_key_path.stat().st_mode) == 0o600


def test_pki_is_reused_when_present(tmp_path: Path) -> None:
    first = TestPki.ensure(tmp_path / "pki")
    files = {p: p.read_bytes() for p in (first.ca_cert_path, first.ca_key_path, first.server_cert_path)}

    second = TestPki.ensure(tmp_path / "pki")

    assert second == first
    assert {p: p.read_bytes() for p in files} == files


def test_expired_server_certificate_is_regenerated(tmp_path: Path) -> None:
    pki = TestPki.ensure(tmp_path / "pki")
    ca_pem = pki.ca_cert_path.read_bytes()
    ca = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key(pki.ca_key_path.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    server_key = serialization.load_pem_private_key(pki.server_key_path.read_bytes(), password=None)
    assert isinstance(server_key, ec.EllipticCurvePrivateKey)
    now = dt.datetime.now(dt.UTC)
    expired = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now - dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    pki.server_cert_path.write_bytes(expired.public_bytes(serialization.Encoding.PEM))

    TestPki.ensure(tmp_path / "pki")

    renewed = x509.load_pem_x509_certificate(pki.server_cert_path.read_bytes())
    assert renewed.not_valid_after_utc > now + dt.timedelta(days=30)
    assert pki.ca_cert_path.read_bytes() == ca_pem  # the CA itself is kept


def test_client_certificate_is_issued_by_the_test_ca(sandbox_pki: TestPki) -> None:
    cert_path, key_path = sandbox_pki.issue_client_cert("INSI-AUTO")

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(sandbox_pki.ca_cert_path.read_bytes()))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "INSI-AUTO"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert sandbox_pki.issue_client_cert("INSI-AUTO") == (cert_path, key_path)
    if os.name == "posix":
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


# -- TLS ---------------------------------------------------------------------------------------------


def test_status_answers_over_tls_with_the_test_ca(
    status_harness: SandboxHarness, trust_sandbox: ssl.SSLContext
) -> None:
    with _client(trust_sandbox) as client:
        response = client.get(status_harness.url("status", "/status"))

    assert response.status_code == 200
    payload = response.json()
    assert payload["service"] == "status"
    assert payload["version"] == "test"
    assert dt.datetime.fromisoformat(payload["time"]).tzinfo is not None


def test_unknown_path_is_a_json_404(status_harness: SandboxHarness, trust_sandbox: ssl.SSLContext) -> None:
    with _client(trust_sandbox) as client:
        response = client.get(status_harness.url("status", "/nowhere"))

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["path"] == "/nowhere"


def test_echo_reads_chunked_bodies(status_harness: SandboxHarness, trust_sandbox: ssl.SSLContext) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"x" * 1000
        yield b"y" * 234

    with _client(trust_sandbox) as client:
        response = client.post(status_harness.url("status", "/echo?a=1"), content=chunks())

    assert response.status_code == 200
    assert response.json()["body_length"] == 1234
    assert response.json()["query"] == {"a": ["1"]}


def test_client_without_the_test_ca_fails_verification(status_harness: SandboxHarness) -> None:
    with (
        _client(ssl.create_default_context()) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(status_harness.url("status", "/status"))


def test_services_listen_on_loopback_only(status_harness: SandboxHarness) -> None:
    host, port = status_harness.address("status")

    assert host == "127.0.0.1"
    assert port == status_harness.port("status") > 0
    assert status_harness.url("status") == f"https://127.0.0.1:{port}"


def test_fixed_ports_are_honoured(sandbox_pki: TestPki, trust_sandbox: ssl.SSLContext) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]

    with SandboxHarness([StatusService()], sandbox_pki, ports={"status": free_port}) as harness:
        assert harness.port("status") == free_port
        with _client(trust_sandbox) as client:
            assert client.get(harness.url("status", "/status")).status_code == 200


def test_several_services_each_get_their_own_server(sandbox_pki: TestPki, trust_sandbox: ssl.SSLContext) -> None:
    class Other:
        name = "other"

        def handle(self, request: SandboxRequest) -> SandboxResponse:
            return SandboxResponse.text("other")

    with SandboxHarness([StatusService(), Other()], sandbox_pki) as harness, _client(trust_sandbox) as client:
        assert harness.port("status") != harness.port("other")
        harness.set_fault("status", Fault.http_5xx(503))
        assert client.get(harness.url("status", "/status")).status_code == 503
        assert client.get(harness.url("other", "/")).text == "other"


def test_a_failing_service_answers_500_and_keeps_serving(sandbox_pki: TestPki, trust_sandbox: ssl.SSLContext) -> None:
    class Broken:
        name = "broken"

        def handle(self, request: SandboxRequest) -> SandboxResponse:
            if request.route == "/boom":
                raise RuntimeError("bug in a stand-in")
            return SandboxResponse.text("fine")

    with SandboxHarness([Broken()], sandbox_pki) as harness, _client(trust_sandbox) as client:
        assert client.get(harness.url("broken", "/boom")).status_code == 500
        assert client.get(harness.url("broken", "/ok")).text == "fine"


def test_configuration_mistakes_are_rejected(sandbox_pki: TestPki) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        SandboxHarness([StatusService(), StatusService()], sandbox_pki)
    with pytest.raises(ValueError, match="unknown"):
        SandboxHarness([StatusService()], sandbox_pki, ports={"insi": 1234})
    with pytest.raises(ValueError, match="unknown"):
        SandboxHarness([StatusService()], sandbox_pki, require_client_cert=["dmp"])


# -- mutual TLS --------------------------------------------------------------------------------------


def test_mutual_tls_rejects_a_client_without_certificate(mtls_harness: SandboxHarness, sandbox_pki: TestPki) -> None:
    # TLS 1.3 reports the server's refusal on the first read, TLS 1.2 at connect: either is a transport error.
    with _client(_mtls_context(sandbox_pki, None)) as client, pytest.raises(httpx.TransportError):
        client.get(mtls_harness.url("status", "/status"))


def test_mutual_tls_rejects_a_certificate_from_another_ca(
    mtls_harness: SandboxHarness, sandbox_pki: TestPki, other_pki: TestPki
) -> None:
    foreign = other_pki.issue_client_cert("INSI-AUTO")

    with _client(_mtls_context(sandbox_pki, foreign)) as client, pytest.raises(httpx.TransportError):
        client.get(mtls_harness.url("status", "/status"))


def test_mutual_tls_accepts_a_certificate_of_the_test_ca_and_passes_its_subject(
    mtls_harness: SandboxHarness, sandbox_pki: TestPki
) -> None:
    cert = sandbox_pki.issue_client_cert("INSI-AUTO")

    with _client(_mtls_context(sandbox_pki, cert)) as client:
        status = client.get(mtls_harness.url("status", "/status"))
        echo = client.get(mtls_harness.url("status", "/echo"))

    assert status.status_code == 200
    assert mtls_harness.requires_client_cert("status")
    assert "CN=INSI-AUTO" in echo.json()["client_subject"]


# -- faults ------------------------------------------------------------------------------------------


def test_delay_fault_answers_late_but_normally(status_harness: SandboxHarness, trust_sandbox: ssl.SSLContext) -> None:
    url = status_harness.url("status", "/status")
    status_harness.set_fault("status", Fault.delay(0.2))
    with _client(trust_sandbox, timeout_s=10) as client:
        assert client.get(url).status_code == 200

    status_harness.set_fault("status", Fault.delay(5))
    with _client(trust_sandbox, timeout_s=0.3) as client, pytest.raises(httpx.ReadTimeout):
        client.get(url)


def test_http_5xx_fault(status_harness: SandboxHarness, trust_sandbox: ssl.SSLContext) -> None:
    status_harness.set_fault("status", Fault.http_5xx(502))

    with _client(trust_sandbox) as client:
        response = client.get(status_harness.url("status", "/status"))

    assert response.status_code == 502


def test_soap_fault_is_a_soap12_fault_with_a_siram_error(
    status_harness: SandboxHarness, trust_sandbox: ssl.SSLContext
) -> None:
    status_harness.set_fault("status", Fault.soap_fault("DESIR_560", message="Données invalides", sender=True))

    with _client(trust_sandbox) as client:
        response = client.post(status_harness.url("status", "/status"), content=b"<x/>")

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/soap+xml")
    root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))
    fault = root.find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    assert fault is not None
    assert fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "soap:Sender"
    erreur = fault.find(f"{{{SOAP12}}}Detail/{{{SIRAM}}}Erreur")
    assert erreur is not None
    assert erreur.get("code") == "DESIR_560"
    assert erreur.get("severite") == "fatale"
    assert (erreur.get("messageID") or "").startswith("uuid:")
    assert erreur.text == "Données invalides"


def test_connection_reset_fault(status_harness: SandboxHarness, trust_sandbox: ssl.SSLContext) -> None:
    status_harness.set_fault("status", Fault.connection_reset())

    with _client(trust_sandbox, timeout_s=10) as client, pytest.raises(httpx.TransportError) as caught:
        client.get(status_harness.url("status", "/status"))

    assert not isinstance(caught.value, httpx.TimeoutException)


def test_hang_fault_never_answers(status_harness: SandboxHarness, trust_sandbox: ssl.SSLContext) -> None:
    status_harness.set_fault("status", Fault.hang())

    with _client(trust_sandbox, timeout_s=0.3) as client, pytest.raises(httpx.ReadTimeout):
        client.get(status_harness.url("status", "/status"))


def test_latency_applies_to_every_answer(status_harness: SandboxHarness, trust_sandbox: ssl.SSLContext) -> None:
    url = status_harness.url("status", "/status")
    status_harness.set_latency("status", 5)
    with _client(trust_sandbox, timeout_s=0.3) as client, pytest.raises(httpx.ReadTimeout):
        client.get(url)

    status_harness.set_latency("status", 0)
    with _client(trust_sandbox) as client:
        assert client.get(url).status_code == 200


def test_fault_limited_to_a_number_of_requests(status_harness: SandboxHarness, trust_sandbox: ssl.SSLContext) -> None:
    status_harness.set_fault("status", Fault.http_5xx(503, times=2))
    url = status_harness.url("status", "/status")

    with _client(trust_sandbox) as client:
        codes = [client.get(url).status_code for _ in range(3)]

    assert codes == [503, 503, 200]
    assert status_harness.fault("status").kind is FaultKind.NONE
    assert status_harness.request_count("status") == 3


def test_faults_can_be_set_through_the_control_endpoint(
    status_harness: SandboxHarness, trust_sandbox: ssl.SSLContext
) -> None:
    control = status_harness.url("status", "/_sandbox/fault")
    with _client(trust_sandbox) as client:
        assert client.put(control, content=b"http_5xx:504").json()["fault"] == "http_5xx:504"
        assert client.get(status_harness.url("status", "/status")).status_code == 504
        assert client.put(control, content=b"nonsense").status_code == 400
        client.put(control, content=b"none")
        assert client.get(status_harness.url("status", "/status")).status_code == 200
        latency = client.put(status_harness.url("status", "/_sandbox/latency"), content=b"0.01")
        assert latency.json()["latency_s"] == 0.01


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("none", Fault()),
        ("delay:2.5", Fault.delay(2.5)),
        ("http_5xx", Fault.http_5xx(503)),
        ("5xx:502,times=2", Fault.http_5xx(502, times=2)),
        ("soap_fault:DESIR_500", Fault.soap_fault("DESIR_500")),
        ("reset", Fault.connection_reset()),
        ("HANG", Fault.hang()),
    ],
)
def test_fault_specs_parse(spec: str, expected: Fault) -> None:
    assert Fault.parse(spec) == expected
    assert Fault.parse(expected.spec()) == expected


@pytest.mark.parametrize("spec", ["explode", "delay", "delay:-1", "http_5xx:404", "hang,times=0", "hang,x=1"])
def test_bad_fault_specs_are_rejected(spec: str) -> None:
    with pytest.raises(ValueError):
        Fault.parse(spec)


# -- lifecycle ---------------------------------------------------------------------------------------


def test_hang_does_not_block_stop(
    sandbox_pki: TestPki, trust_sandbox: ssl.SSLContext, wait_until: Callable[..., None]
) -> None:
    harness = SandboxHarness([StatusService()], sandbox_pki, faults={"status": Fault.hang()}).start()
    url = harness.url("status", "/status")
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            with _client(trust_sandbox, timeout_s=30) as client:
                client.get(url)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    wait_until(lambda: harness.request_count("status") == 1)

    started = time.monotonic()
    harness.stop()
    elapsed = time.monotonic() - started
    caller.join(10)

    assert elapsed < 5  # generous sanity bound; the design target is well under a second
    assert not caller.is_alive()
    assert outcome and not isinstance(outcome[0], httpx.TimeoutException)
    assert not harness.running


def test_stop_is_idempotent_and_closes_the_port(sandbox_pki: TestPki, trust_sandbox: ssl.SSLContext) -> None:
    with SandboxHarness([StatusService()], sandbox_pki) as harness:
        url = harness.url("status", "/status")
        with _client(trust_sandbox) as client:
            assert client.get(url).status_code == 200  # leaves an idle keep-alive connection open
            harness.stop()
            harness.stop()
            with pytest.raises(httpx.TransportError):
                client.get(url)
    with pytest.raises(RuntimeError):
        harness.url("status")


def test_harness_can_be_restarted(sandbox_pki: TestPki, trust_sandbox: ssl.SSLContext) -> None:
    harness = SandboxHarness([StatusService()], sandbox_pki)
    for _ in range(2):
        with harness, _client(trust_sandbox) as client:
            assert client.get(harness.url("status", "/status")).status_code == 200


def test_concurrent_requests_are_served_in_parallel(
    status_harness: SandboxHarness, trust_sandbox: ssl.SSLContext
) -> None:
    url = status_harness.url("status", "/echo?delay=0.2")
    codes: list[int] = []

    def call() -> None:
        with _client(trust_sandbox, timeout_s=20) as client:
            codes.append(client.get(url).status_code)

    callers = [threading.Thread(target=call) for _ in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(30)

    assert codes == [200] * 8


# -- runner ------------------------------------------------------------------------------------------


def test_default_services_include_status() -> None:
    names = [s.name for s in default_services()]
    assert names[0] == "status"
    assert {"insi", "insi-mtls"} <= set(names)


def test_build_harness_puts_insi_mtls_behind_mutual_tls(tmp_path: Path) -> None:
    harness = build_harness(tmp_path)
    assert harness.requires_client_cert("insi-mtls")
    assert not harness.requires_client_cert("insi")
    assert not harness.requires_client_cert("status")


def test_run_foreground_prints_urls_and_stops_on_request(tmp_path: Path, wait_until: Callable[..., None]) -> None:
    out = io.StringIO()
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_foreground(tmp_path, None, {"status": "http_5xx:503"}, out=out, stop_event=stop)
        except BaseException as exc:
            errors.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    try:
        wait_until(lambda: "Ctrl-C" in out.getvalue() or bool(errors))
        assert not errors
        text = out.getvalue()
        match = re.search(r"^status\s+(https://127\.0\.0\.1:\d+)", text, re.MULTILINE)
        assert match is not None, text
        ca_path = tmp_path / "sandbox-pki" / "ca.cert.pem"
        assert str(ca_path) in text
        context = ssl.create_default_context(cafile=str(ca_path))
        with _client(context) as client:
            assert client.get(match.group(1) + "/status").status_code == 503
    finally:
        stop.set()
        runner.join(10)
    assert not runner.is_alive()
    assert not errors
