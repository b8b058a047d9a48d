"""Our PSC client against an independent OpenID provider (node-oidc-provider), so it is not tuned to our stand-in.

The provider runs on 127.0.0.1 over TLS (sandbox test certificate) with a native public client (PKCE required,
loopback redirect on any port), PSC-shaped claims and acr ``eidas1``; httpx plays the browser on its
interaction pages, and the real loopback listener receives the redirect.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from urllib.parse import urljoin

import httpx
import pytest

from adapters.psc.client import OidcProSanteConnect, PscClientConfig
from adapters.psc.loopback import LoopbackRedirectReceiver
from domain.psc import AuthorizationRequest, PscCancelled, PscSession, PscSignInRefused
from sandbox.ca import TestPki
from tests.node_oidc import ensure_oidc_provider


@pytest.fixture(scope="module")
def node_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TestPki]]:
    """node-oidc-provider running on 127.0.0.1 (installed with ``npm ci`` when missing)."""
    pki = TestPki.ensure(tmp_path_factory.mktemp("node-oidc") / "sandbox-pki")
    directory = ensure_oidc_provider()
    process = subprocess.Popen(
        ["node", "server.mjs", str(pki.server_cert_path), str(pki.server_key_path)],
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        port = None
        while port is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("LISTENING "):
                port = int(line.split()[1])
        assert port is not None, "node-oidc-provider did not start"
        threading.Thread(target=process.stdout.read, daemon=True).start()  # keep draining its output
        yield f"https://127.0.0.1:{port}", pki
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


def client_for(issuer: str, pki: TestPki, **options: object) -> OidcProSanteConnect:
    return OidcProSanteConnect(
        PscClientConfig(issuer=issuer, client_id="lgc-desktop", ca_cert=pki.ca_cert_path, timeout_s=10, **options)  # type: ignore[arg-type]
    )


def play_browser(pki: TestPki, url: str, login: str, redirect_prefix: str) -> str:
    """Follow the provider's redirects and interaction page like a browser; stop at our loopback redirect."""
    with httpx.Client(verify=ssl.create_default_context(cafile=str(pki.ca_cert_path)), timeout=10) as browser:
        response = browser.get(url)
        for _ in range(10):
            if response.status_code in (302, 303):
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(redirect_prefix):
                    browser.get(location)  # what the browser does: the loopback listener answers
                    return location
                response = browser.get(location)
                continue
            assert response.status_code == 200, response.text[:300]
            assert 'method="post"' in response.text
            action = response.text.split('action="', 1)[1].split('"', 1)[0]
            response = browser.post(urljoin(str(response.url), action), data={"login": login})
        raise AssertionError("the provider never redirected back")


def sign_in(issuer: str, pki: TestPki, login: str = "810101010101") -> tuple[OidcProSanteConnect, PscSession]:
    client = client_for(issuer, pki)
    receiver = LoopbackRedirectReceiver()
    request = client.begin(receiver.redirect_uri)
    user = threading.Thread(target=play_browser, args=(pki, request.url, login, receiver.redirect_uri))
    user.start()
    callback = receiver.wait(20)
    user.join(20)
    return client, client.complete(request, callback)


def test_sign_in_refresh_and_logout_against_node_oidc_provider(node_provider: tuple[str, TestPki]) -> None:
    issuer, pki = node_provider
    client, session = sign_in(issuer, pki)
    identity = session.identity
    assert identity.national_id == "810101010101" and identity.rpps == "10101010101"
    assert identity.display_name == "Camille DURAND"
    assert [s.structure_name for s in identity.situations] == ["Cabinet paramédical des Tilleuls"]
    assert session.id_token_claims["acr"] == "eidas1" and session.id_token_claims["aud"] == "lgc-desktop"
    assert session.tokens.refresh_token

    renewed = client.refresh(session)
    assert renewed.tokens.access_token != session.tokens.access_token
    assert renewed.identity == identity

    client.logout(renewed)  # end_session with id_token_hint, then revocation of the refresh token
    with pytest.raises(PscSignInRefused) as info:
        client.refresh(renewed)
    assert info.value.reason == "refresh_revoked"


def test_state_replay_and_nonce_checks_against_node_oidc_provider(node_provider: tuple[str, TestPki]) -> None:
    issuer, pki = node_provider
    client = client_for(issuer, pki)
    receiver = LoopbackRedirectReceiver()
    request = client.begin(receiver.redirect_uri)
    user = threading.Thread(target=play_browser, args=(pki, request.url, "810101010103", receiver.redirect_uri))
    user.start()
    callback = receiver.wait(20)
    user.join(20)
    assert callback.get("iss") == issuer  # RFC 9207 parameter, ignored but harmless

    with pytest.raises(PscSignInRefused) as wrong_state:
        client.complete(request, {**callback, "state": "autre"})
    assert wrong_state.value.reason == "state"

    other_nonce = AuthorizationRequest(
        request.url, request.state, "un-autre-nonce", request.code_verifier, request.redirect_uri
    )
    with pytest.raises(PscSignInRefused) as wrong_nonce:
        client.complete(other_nonce, callback)  # the code is spent by this attempt
    assert wrong_nonce.value.reason == "nonce"

    with pytest.raises(PscSignInRefused) as replay:
        client.complete(request, callback)
    assert replay.value.reason == "invalid_grant"


def test_an_unknown_login_comes_back_as_an_error_answer(node_provider: tuple[str, TestPki]) -> None:
    issuer, pki = node_provider
    client = client_for(issuer, pki)
    receiver = LoopbackRedirectReceiver()
    request = client.begin(receiver.redirect_uri)
    user = threading.Thread(target=play_browser, args=(pki, request.url, "inconnu", receiver.redirect_uri))
    user.start()
    callback = receiver.wait(20)
    user.join(20)
    assert callback["error"] == "access_denied"
    with pytest.raises(PscCancelled):
        client.complete(request, callback)


def test_an_id_token_for_another_client_is_refused(node_provider: tuple[str, TestPki]) -> None:
    issuer, pki = node_provider
    _, session = sign_in(issuer, pki)
    stranger = OidcProSanteConnect(
        PscClientConfig(issuer=issuer, client_id="un-autre-logiciel", ca_cert=pki.ca_cert_path, timeout_s=10)
    )
    with pytest.raises(PscSignInRefused) as info:
        stranger.verify_id_token(session.tokens.id_token, nonce=None)
    assert info.value.reason == "audience"
