"""Fixtures of the contract tests: the sandbox test PKI (once per session) and running stand-ins."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator

import pytest

from sandbox.ca import TestPki
from sandbox.harness import SandboxHarness
from sandbox.services.status import StatusService


@pytest.fixture(scope="session")
def sandbox_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """The test CA and loopback server certificate, created once per session."""
    return TestPki.ensure(tmp_path_factory.mktemp("sandbox") / "sandbox-pki")


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """A second, unrelated test CA: what a client or server the sandbox must not trust uses."""
    return TestPki.ensure(tmp_path_factory.mktemp("other") / "sandbox-pki")


@pytest.fixture
def trust_sandbox(sandbox_pki: TestPki) -> ssl.SSLContext:
    """A client TLS context trusting the sandbox CA only."""
    return ssl.create_default_context(cafile=str(sandbox_pki.ca_cert_path))


@pytest.fixture
def status_harness(sandbox_pki: TestPki) -> Iterator[SandboxHarness]:
    """A running harness serving the StatusService (reports version ``test``)."""
    with SandboxHarness([StatusService(version="test")], sandbox_pki) as harness:
        yield harness


@pytest.fixture
def mtls_harness(sandbox_pki: TestPki) -> Iterator[SandboxHarness]:
    """A running harness serving the StatusService behind mutual TLS."""
    with SandboxHarness([StatusService(version="test")], sandbox_pki, require_client_cert=True) as harness:
        yield harness


def _wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.01)


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """``wait_until(predicate, timeout_s=10)``: poll until true, fail the test after a generous timeout."""
    return _wait_until
