"""The Pro Santé Connect client against the PSC stand-in over real TLS: the flow, rotation, and attacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adapters.psc.client import OidcProSanteConnect, PscClientConfig
from adapters.psc.loopback import LoopbackRedirectReceiver
from domain.errors import RemoteServiceError
from domain.psc import AuthorizationRequest, PscCancelled, PscSession, PscSignInRefused
from sandbox.ca import TestPki
from sandbox.harness import Fault, SandboxHarness
from sandbox.services.psc import DESKTOP_CLIENT_ID, REALM_PATH, PscService, scripted_login

IDE = "810101010101"
REDIRECT = "http://127.0.0.1:45678/lgc/psc/test"


@pytest.fixture
def psc(sandbox_pki: TestPki) -> Iterator[tuple[PscService, SandboxHarness]]:
    service = PscService()
    with SandboxHarness([service], sandbox_pki) as harness:
        yield service, harness


def make_client(
    harness: SandboxHarness, pki: TestPki, *, now: float | None = None, **options: object
) -> OidcProSanteConnect:
    config = PscClientConfig(
        issuer=harness.url("psc") + REALM_PATH,
        client_id=DESKTOP_CLIENT_ID,
        ca_cert=pki.ca_cert_path,
        timeout_s=5.0,
        **options,  # type: ignore[arg-type]
    )
    offset = 0.0 if now is None else now
    return OidcProSanteConnect(config, now=lambda: time.time() + offset)


def browser(pki: TestPki) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(pki.ca_cert_path)), timeout=5.0)


def authorize(client: OidcProSanteConnect, pki: TestPki, who: str = IDE) -> tuple[AuthorizationRequest, dict[str, str]]:
    request = client.begin(REDIRECT)
    with browser(pki) as b:
        location = scripted_login(b, request.url, who, follow_loopback=False)
    return request, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_the_authorize_url_carries_pkce_acr_and_scopes(psc: tuple, sandbox_pki: TestPki) -> None:
    _, harness = psc
    request = make_client(harness, sandbox_pki).begin(REDIRECT)
    query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
    assert query["scope"] == "openid scope_all" and query["acr_values"] == "eidas1"
    assert query["code_challenge_method"] == "S256" and query["response_type"] == "code"
    expected = base64.urlsafe_b64encode(hashlib.sha256(request.code_verifier.encode()).digest()).rstrip(b"=")
    assert query["code_challenge"] == expected.decode()
    assert query["state"] == request.state and query["nonce"] == request.nonce and query["redirect_uri"] == REDIRECT


def test_full_flow_through_the_loopback_listener(psc: tuple, sandbox_pki: TestPki) -> None:
    service, harness = psc
    client = make_client(harness, sandbox_pki)
    receiver = LoopbackRedirectReceiver()
    assert receiver.redirect_uri.startswith("http://127.0.0.1:")
    request = client.begin(receiver.redirect_uri)
    with browser(sandbox_pki) as b:
        user = threading.Thread(target=lambda: scripted_login(b, request.url, "810101010108", "cps"))
        user.start()
        callback = receiver.wait(10)
        user.join()
    session = client.complete(request, callback)
    identity = session.identity
    assert (identity.rpps, identity.display_name) == ("10101010108", "Paul MERCIER")
    assert len(identity.situations) == 2
    assert session.id_token_claims["acr"] == "eidas1"
    assert "login 810101010108 cps" in service.events


def test_refresh_then_key_rotation_then_logout_with_id_token_hint(psc: tuple, sandbox_pki: TestPki) -> None:
    service, harness = psc
    client = make_client(harness, sandbox_pki)
    session = client.complete(*authorize(client, sandbox_pki))
    renewed = client.refresh(session)
    assert renewed.tokens.access_token != session.tokens.access_token
    service.rotate_keys()
    rotated = client.refresh(renewed)  # the new ID token is signed with a key the client must fetch
    assert rotated.identity == session.identity
    # a sign-in after the rotation works too
    client.complete(*authorize(client, sandbox_pki))
    client.logout(rotated)
    assert any(e.startswith("logout ") for e in service.events)
    with pytest.raises(PscSignInRefused) as info:
        client.refresh(rotated)
    assert info.value.reason == "refresh_revoked"


def test_a_refresh_token_revoked_mid_session_is_refused(psc: tuple, sandbox_pki: TestPki) -> None:
    service, harness = psc
    client = make_client(harness, sandbox_pki)
    session = client.complete(*authorize(client, sandbox_pki))
    assert service.revoke_all_refresh_tokens() >= 1
    with pytest.raises(PscSignInRefused, match="reconnectez-vous") as info:
        client.refresh(session)
    assert info.value.reason == "refresh_revoked"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("alg_none", "algorithm"),
        ("wrong_key", "signature"),
        ("wrong_audience", "audience"),
        ("wrong_issuer", "issuer"),
        ("expired", "expired"),
        ("future", "clock"),
        ("wrong_nonce", "nonce"),
        ("low_acr", "acr"),
    ],
)
def test_forged_or_wrong_id_tokens_are_refused(psc: tuple, sandbox_pki: TestPki, tamper: str, reason: str) -> None:
    service, harness = psc
    client = make_client(harness, sandbox_pki)
    service.tamper_id_token = tamper
    with pytest.raises(PscSignInRefused) as info:
        client.complete(*authorize(client, sandbox_pki))
    assert info.value.reason == reason
    assert info.value.message_fr.startswith(("Le ", "La ")) and info.value.message_fr.endswith(".")


def test_an_hmac_token_signed_with_the_public_key_is_refused(psc: tuple, sandbox_pki: TestPki) -> None:
    _, harness = psc
    client = make_client(harness, sandbox_pki)
    client.metadata()
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps({"sub": "x"}).encode()).rstrip(b"=")
    signature = hmac.new(b"public-key", header + b"." + body, hashlib.sha256).digest()
    token = b".".join([header, body, base64.urlsafe_b64encode(signature).rstrip(b"=")]).decode()
    with pytest.raises(PscSignInRefused) as info:
        client.verify_id_token(token, nonce=None)
    assert info.value.reason == "algorithm"


def test_wrong_state_is_refused_before_any_network_call(psc: tuple, sandbox_pki: TestPki) -> None:
    _, harness = psc
    client = make_client(harness, sandbox_pki)
    request, callback = authorize(client, sandbox_pki)
    with pytest.raises(PscSignInRefused, match="state") as info:
        client.complete(request, {**callback, "state": "forged"})
    assert info.value.reason == "state"


def test_a_replayed_code_is_refused_and_revokes_the_first_tokens(psc: tuple, sandbox_pki: TestPki) -> None:
    _, harness = psc
    client = make_client(harness, sandbox_pki)
    request, callback = authorize(client, sandbox_pki)
    first = client.complete(request, callback)
    with pytest.raises(PscSignInRefused, match="déjà été utilisé") as info:
        client.complete(request, callback)
    assert info.value.reason == "invalid_grant"
    with pytest.raises(PscSignInRefused):
        client.refresh(first)


def test_a_wrong_pkce_verifier_is_refused(psc: tuple, sandbox_pki: TestPki) -> None:
    _, harness = psc
    client = make_client(harness, sandbox_pki)
    request, callback = authorize(client, sandbox_pki)
    forged = AuthorizationRequest(request.url, request.state, request.nonce, "x" * 64, request.redirect_uri)
    with pytest.raises(PscSignInRefused) as info:
        client.complete(forged, callback)
    assert info.value.reason == "invalid_grant"


@pytest.mark.parametrize(("offset", "reason"), [(90.0, None), (-90.0, None), (4000.0, "expired"), (-4000.0, "clock")])
def test_clock_skew_is_tolerated_within_limits(
    psc: tuple, sandbox_pki: TestPki, offset: float, reason: str | None
) -> None:
    _, harness = psc
    client = make_client(harness, sandbox_pki, now=offset)
    if reason is None:
        assert isinstance(client.complete(*authorize(client, sandbox_pki)), PscSession)
        return
    with pytest.raises(PscSignInRefused) as info:
        client.complete(*authorize(client, sandbox_pki))
    assert info.value.reason == reason


def test_user_cancel_and_errors_in_the_redirect(psc: tuple, sandbox_pki: TestPki) -> None:
    _, harness = psc
    client = make_client(harness, sandbox_pki)
    request, callback = authorize(client, sandbox_pki, who="cancel")
    with pytest.raises(PscCancelled):
        client.complete(request, callback)
    with pytest.raises(PscSignInRefused) as info:
        client.complete(request, {"state": request.state, "error": "server_error"})
    assert info.value.reason == "authorize_error"


def test_discovery_of_another_issuer_is_refused(psc: tuple, sandbox_pki: TestPki) -> None:
    _, harness = psc
    config = PscClientConfig(
        issuer="https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet",
        client_id=DESKTOP_CLIENT_ID,
        discovery_url=harness.url("psc") + REALM_PATH + "/.well-known/wallet-openid-configuration",
        ca_cert=sandbox_pki.ca_cert_path,
    )
    with pytest.raises(RemoteServiceError, match="autre émetteur"):
        OidcProSanteConnect(config).begin(REDIRECT)


def test_unreachable_or_failing_psc_gives_a_french_retryable_error(psc: tuple, sandbox_pki: TestPki) -> None:
    _, harness = psc
    harness.set_fault("psc", Fault.http_5xx(503))
    with pytest.raises(RemoteServiceError, match="difficulté") as info:
        make_client(harness, sandbox_pki).begin(REDIRECT)
    assert info.value.retryable
    harness.set_fault("psc", Fault.connection_reset())
    with pytest.raises(RemoteServiceError) as info:
        make_client(harness, sandbox_pki).begin(REDIRECT)
    assert info.value.retryable


def test_loopback_receiver_ignores_other_paths_and_gives_up_on_cancel() -> None:
    receiver = LoopbackRedirectReceiver()
    base = receiver.redirect_uri.removesuffix("/lgc/psc/callback")
    result: dict[str, object] = {}

    def wait() -> None:
        try:
            result["answer"] = receiver.wait(10)
        except PscCancelled as exc:
            result["error"] = exc

    waiter = threading.Thread(target=wait)
    waiter.start()
    assert httpx.get(base + "/favicon.ico", timeout=5).status_code == 404
    receiver.cancel()
    waiter.join(5)
    assert isinstance(result.get("error"), PscCancelled)
    with pytest.raises(httpx.ConnectError):
        httpx.get(receiver.redirect_uri, timeout=2)
