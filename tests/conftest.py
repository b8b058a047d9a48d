"""Shared fixtures: a fixed clock, SQLite and PostgreSQL stores, an in-memory keyring."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pgserver import ENV_URL, postgres_server


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """URL of a PostgreSQL server: the one ./lgc test started, or a private one started here."""
    url = os.environ.get(ENV_URL)
    if url:
        yield url
        return
    with postgres_server() as started:
        yield started


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    from sqlalchemy import create_engine, text

    name = f"lgc_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded SQLite store and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lgc.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def fixed_now() -> dt.datetime:
    """A fixed instant for tests that build services."""
    return dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)
