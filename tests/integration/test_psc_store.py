"""PSC sign-in end to end on SQLite and PostgreSQL: real client, stand-in, loopback, links and traces in SQL."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.db.database import open_database
from adapters.db.repositories import SqlUnitOfWorkFactory
from adapters.psc.client import OidcProSanteConnect, PscClientConfig
from adapters.psc.loopback import LoopbackRedirectReceiver
from app.clock import SystemClock
from app.demo import install_demo_practice
from app.services.signin_psc import PscSignInService
from app.session import CurrentUser
from domain.audit import AuditAction
from domain.psc import PscSignInRefused
from sandbox.ca import TestPki
from sandbox.harness import SandboxHarness
from sandbox.services.psc import DESKTOP_CLIENT_ID, REALM_PATH, PscService, scripted_login


class ScriptedBrowser:
    """A ``Browser`` that plays the user on the stand-in's page in a thread (picks ``who``)."""

    def __init__(self, pki: TestPki, who: str) -> None:
        self.pki, self.who = pki, who

    def open(self, url: str) -> None:
        def run() -> None:
            with httpx.Client(verify=ssl.create_default_context(cafile=str(self.pki.ca_cert_path))) as client:
                scripted_login(client, url, self.who)

        threading.Thread(target=run, daemon=True).start()


@pytest.fixture
def stack(database_url: str, tmp_path: Path) -> Iterator[tuple[PscSignInService, SqlUnitOfWorkFactory, TestPki]]:
    pki = TestPki.ensure(tmp_path / "pki")
    engine, _ = open_database(database_url)
    uow = SqlUnitOfWorkFactory(engine)
    install_demo_practice(uow)
    with SandboxHarness([PscService()], pki) as harness:
        config = PscClientConfig(harness.url("psc") + REALM_PATH, DESKTOP_CLIENT_ID, ca_cert=pki.ca_cert_path)
        service = PscSignInService(
            lambda: OidcProSanteConnect(config),
            LoopbackRedirectReceiver,
            uow,
            SystemClock(),
            CurrentUser(),
            timeout_s=20,
        )
        yield service, uow, pki
    engine.dispose()


def test_sign_in_links_creates_and_traces_in_sql(stack: tuple) -> None:
    service, uow, pki = stack
    first = service.finish(service.authenticate(ScriptedBrowser(pki, "810101010101")))
    assert (first.user.login, first.link) == ("ide", "rpps")
    again = service.finish(service.authenticate(ScriptedBrowser(pki, "810101010101")))
    assert again.link == "existante" and again.user.id == first.user.id
    pending = service.authenticate(ScriptedBrowser(pki, "810101010199"))
    created = service.finish(pending)
    assert created.link == "creation" and created.user.login == "psc-10101010199"
    service.sign_out()
    with pytest.raises(PscSignInRefused) as info:
        service.authenticate(ScriptedBrowser(pki, "0512345678"))
    assert info.value.reason == "no_rpps"
    with uow() as work:
        assert work.psc_links.by_national_id("810101010101").user_id == first.user.id
        assert work.psc_links.by_user(created.user.id).national_id == "810101010199"
        events = work.audit.list(limit=50)
        assert work.audit.verify_chain() is None
    sign_ins = [e for e in events if e.action is AuditAction.SIGN_IN]
    assert [e.outcome for e in reversed(sign_ins)] == ["ok", "ok", "ok", "echec"]
    assert any(e.action is AuditAction.ACCOUNT_CREATE for e in events)
    assert any(e.action is AuditAction.SIGN_OUT for e in events)
