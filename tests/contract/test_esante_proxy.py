"""The Proxy e-santé against the PSC and Espace de confiance stand-ins: CIBA, delegated token, RFC 8693 exchange,
mutual TLS with certificate-bound tokens, pass-through, traces, and refusals."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adapters.proxy.engine import BackendConfig, ProxyConfig, ProxyEngine
from adapters.proxy.server import SESSION_HEADER, ProxyServer
from adapters.psc.client import OidcProSanteConnect, PscClientConfig
from domain.errors import RemoteServiceError
from sandbox.ca import TestPki
from sandbox.harness import SandboxHarness
from sandbox.services.edc import DEFAULT_BACKENDS, TrustSpaceService
from sandbox.services.psc import (
    DESKTOP_CLIENT_ID,
    PROXY_CLIENT_ID,
    PROXY_CLIENT_SECRET,
    REALM_PATH,
    PscService,
    scripted_login,
)

IDE = "810101010101"


class Stack:
    def __init__(self, harness: SandboxHarness, psc: PscService, edc: TrustSpaceService, pki: TestPki) -> None:
        self.harness, self.psc, self.edc, self.pki = harness, psc, edc, pki
        self.cert = pki.issue_client_cert("LGC Proxy e-sante (TEST)")
        edc_url = harness.url("edc")
        self.config = ProxyConfig(
            psc_issuer=harness.url("psc") + REALM_PATH,
            psc_ca_cert=pki.ca_cert_path,
            client_id=PROXY_CLIENT_ID,
            client_secret=PROXY_CLIENT_SECRET,
            client_cert=self.cert,
            backends={
                name: BackendConfig(
                    name,
                    f"{edc_url}/api/{name}",
                    f"{edc_url}/realms/{name}/protocol/openid-connect/token",
                    ca_cert=pki.ca_cert_path,
                )
                for name in DEFAULT_BACKENDS
            },
            timeout_s=5.0,
            ciba_timeout_s=10.0,
        )
        self.proxy = ProxyServer(ProxyEngine(self.config))
        self.api = httpx.Client(base_url=self.proxy.url, timeout=15)

    def connect(self, **body: str) -> str:
        answer = self.api.post("/connect", json={"mode": "ciba", "login_hint": IDE, **body})
        assert answer.status_code == 201, answer.text
        return str(answer.json()[SESSION_HEADER])


@pytest.fixture
def stack(sandbox_pki: TestPki) -> Iterator[Stack]:
    psc = PscService()
    edc = TrustSpaceService(psc)
    with SandboxHarness([psc, edc], sandbox_pki, require_client_cert=["edc"]) as harness:
        built = Stack(harness, psc, edc, sandbox_pki)
        built.proxy.start()
        yield built
        built.api.close()
        built.proxy.stop()


def test_ciba_connect_exchange_and_send_over_mutual_tls(stack: Stack) -> None:
    session = stack.connect(binding_message="LGC")
    assert any(e.startswith("ciba request for 810101010101") for e in stack.psc.events)
    answer = stack.api.post(
        "/send/api-test/patients/recherche?nom=DUPONT",
        content=b'{"a": 1}',
        headers={SESSION_HEADER: session, "Content-Type": "application/json", "Cookie": "ne-pas-transmettre"},
    )
    assert answer.status_code == 200, answer.text
    call = answer.json()
    assert (
        call["practitioner"] == IDE and call["path"] == "/patients/recherche" and call["query"] == {"nom": ["DUPONT"]}
    )
    assert call["method"] == "POST" and call["body_length"] == 8
    assert "LGC Proxy e-sante (TEST)" in call["client_subject"]
    # A second call reuses the exchanged token: one exchange per backend and session.
    assert stack.api.get("/send/api-test/x", headers={SESSION_HEADER: session}).status_code == 200
    stack.api.get("/send/dmp/y", headers={SESSION_HEADER: session})
    info = stack.api.get("/session", headers={SESSION_HEADER: session}).json()
    assert info["praticien"] == IDE and info["services"] == ["api-test", "dmp"]
    traces = stack.api.get("/traces").json()["traces"]
    operations = [t["operation"] for t in traces]
    assert operations == ["connect", "echange", "send", "send", "echange", "send"]
    assert traces[1]["lie_au_certificat"] is True and traces[2]["statut_http"] == 200
    token = stack.proxy.engine.backend_token(session, "api-test")
    assert token not in str(traces)  # traces never carry tokens

    assert stack.api.delete("/disconnect", headers={SESSION_HEADER: session}).status_code == 204
    gone = stack.api.get("/send/api-test/x", headers={SESSION_HEADER: session})
    assert gone.status_code == 404 and "reconnectez-vous" in gone.json()["erreur"]
    assert [t["operation"] for t in stack.api.get("/traces").json()["traces"]][-1] == "disconnect"


def test_delegated_psc_token_from_the_desktop_sign_in(stack: Stack) -> None:
    client = OidcProSanteConnect(
        PscClientConfig(stack.harness.url("psc") + REALM_PATH, DESKTOP_CLIENT_ID, ca_cert=stack.pki.ca_cert_path)
    )
    redirect = "http://127.0.0.1:40000/lgc/psc/callback"
    request = client.begin(redirect)
    with httpx.Client(verify=ssl.create_default_context(cafile=str(stack.pki.ca_cert_path))) as browser:
        location = scripted_login(browser, request.url, "810101010103", follow_loopback=False)
    callback = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    psc_session = client.complete(request, callback)
    answer = stack.api.post("/connect", json={"mode": "delegue", "access_token": psc_session.tokens.access_token})
    assert answer.status_code == 201, answer.text
    session = answer.json()[SESSION_HEADER]
    call = stack.api.get("/send/insi/ping", headers={SESSION_HEADER: session}).json()
    assert call["practitioner"] == "810101010103"

    # The PSC token revoked mid-session: a new exchange is refused with a French message.
    stack.psc.revoke(psc_session.tokens.access_token)
    refused = stack.api.get("/send/dmp/ping", headers={SESSION_HEADER: session})
    assert refused.status_code == 502 and "a refusé l'échange" in refused.json()["erreur"]
    assert stack.api.get("/traces").json()["traces"][-1]["resultat"] == "refus"
    bad = stack.api.post("/connect", json={"mode": "delegue", "access_token": psc_session.tokens.access_token})
    assert bad.status_code == 401 and "n'est pas (ou plus) valide" in bad.json()["erreur"]


def test_a_certificate_bound_token_is_useless_with_another_certificate(stack: Stack, sandbox_pki: TestPki) -> None:
    session = stack.connect()
    engine = stack.proxy.engine
    token = engine.backend_token(session, "api-test")
    url = stack.harness.url("edc", "/api/api-test/x")
    context = ssl.create_default_context(cafile=str(sandbox_pki.ca_cert_path))
    thief_cert = sandbox_pki.issue_client_cert("Poste vole (TEST)")
    context.load_cert_chain(*thief_cert)
    with httpx.Client(verify=context) as thief:
        stolen = thief.get(url, headers={"Authorization": f"Bearer {token}"})
    assert stolen.status_code == 401 and "cnf" in stolen.headers["www-authenticate"]
    own = ssl.create_default_context(cafile=str(sandbox_pki.ca_cert_path))
    own.load_cert_chain(*stack.cert)
    with httpx.Client(verify=own) as legit:
        assert legit.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_proxy_certificate_from_another_ca_is_refused_at_the_tls_handshake(stack: Stack, other_pki: TestPki) -> None:
    foreign = other_pki.issue_client_cert("Proxy etranger (TEST)")
    engine = ProxyEngine(replace(stack.config, client_cert=foreign))
    session = engine.connect_ciba(IDE)
    with pytest.raises(RemoteServiceError, match="certificat") as info:
        engine.backend_token(session, "api-test")
    assert not info.value.retryable
    engine.close()


def test_bad_requests_get_clear_french_answers(stack: Stack) -> None:
    unknown = stack.api.post("/connect", json={"mode": "ciba", "login_hint": "899999999999"})
    assert unknown.status_code == 401 and "CIBA" in unknown.json()["erreur"]
    assert stack.api.post("/connect", content=b"{pas du json").status_code == 400
    assert stack.api.post("/connect", json={"mode": "telepathie"}).status_code == 400
    missing = stack.api.get("/send/api-test/x")
    assert missing.status_code == 401 and "proxy_session_id" in missing.json()["erreur"]
    session = stack.connect()
    assert stack.api.get("/send/inconnu/x", headers={SESSION_HEADER: session}).status_code == 404
    assert stack.api.get("/send/api-test/../../etc", headers={SESSION_HEADER: session}).status_code in (400, 404)
    assert stack.api.get("/traces?start=hier").status_code == 400
    later = stack.api.get("/traces?start=2100-01-01T00:00:00").json()["traces"]
    assert later == []


def test_ciba_waits_for_the_practitioner_to_approve(stack: Stack) -> None:
    stack.psc.ciba_delay_s = 1.2  # the practitioner validates on the e-CPS app after a moment
    session = stack.connect()
    assert stack.api.get("/send/api-test/x", headers={SESSION_HEADER: session}).status_code == 200
