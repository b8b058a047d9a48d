"""Layering promises checked at run time: the domain loads no technology, importing does no work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys, threading
import domain.identity, domain.patient, domain.search, domain.cog, domain.ports, domain.audit, domain.practice
heavy = sorted(m for m in ("PySide6", "sqlalchemy", "httpx", "lxml", "smartcard", "cv2", "authlib") if m in sys.modules)
print("domain:", heavy)
import app.bootstrap, app.cli, app.services.patients, adapters.db.repositories, adapters.cog.referential
import sandbox.harness, adapters.status_probe
print("gui:", "PySide6" in sys.modules)
print("threads:", threading.active_count())
"""


def test_domain_imports_no_technology_and_imports_start_nothing() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    ).stdout.splitlines()
    assert out[0] == "domain: []"
    # the application layer, the store and the stand-ins do not pull Qt in, and importing starts no thread
    assert out[1] == "gui: False"
    assert out[2] == "threads: 1"
