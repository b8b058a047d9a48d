"""A throw-away PostgreSQL server on 127.0.0.1 for the integration tests (./lgc test starts one)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

ENV_URL = "LGC_TEST_POSTGRES_URL"


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise RuntimeError(f"{name} introuvable : installez le paquet postgresql (./lgc install)")
    return candidates[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: use the "postgres" system account the Debian package creates.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a private PostgreSQL server; yield a SQLAlchemy URL of its ``postgres`` database."""
    base = Path(tempfile.mkdtemp(prefix="lgc-pg-"))
    data = base / "data"
    port = _free_port()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    subprocess.run(
        _as_server_user([_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        _as_server_user([_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_server_user([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)
