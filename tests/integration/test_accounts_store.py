"""Local accounts and traces on the SQL store (SQLite and PostgreSQL): argon2id hashes, lockout, password
history, the traces' anchor that reveals removed traces at the end of the chain."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.db.audit_anchor import FileAuditAnchor, anchor_path_for
from adapters.db.database import open_database
from adapters.db.repositories import SqlUnitOfWorkFactory
from adapters.security.argon2_hasher import Argon2PasswordHasher
from app.services.accounts import AccountService
from app.services.traces import TraceService
from app.session import CurrentUser
from domain.audit import AuditAction, ChainAnchor
from domain.errors import InvalidInput, StorageError
from domain.practice import UserRole
from domain.security import SignInOutcome, SignInRefused
from tests.fakes import MutableClock

CLI = "ligne de commande (test)"
FAST = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}


class MemorySecrets:
    def __init__(self) -> None:
        self.items: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.items.get(name)

    def set(self, name: str, value: str) -> None:
        self.items[name] = value

    def delete(self, name: str) -> None:
        self.items.pop(name, None)


@pytest.fixture
def stack(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    engine, _ = open_database(database_url)
    anchor = FileAuditAnchor(anchor_path_for(database_url, tmp_path), MemorySecrets())
    uow = SqlUnitOfWorkFactory(engine, anchor)
    clock = MutableClock(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC))
    current = CurrentUser()
    accounts = AccountService(uow, Argon2PasswordHasher(**FAST), clock, current)
    yield accounts, TraceService(uow, anchor, clock), uow, engine, clock, anchor
    engine.dispose()


def test_accounts_lockout_history_and_traces_on_sql(stack) -> None:  # type: ignore[no-untyped-def]
    accounts, traces, uow, engine, _clock, _anchor = stack
    accounts.create_account("admin", "Administrateur", UserRole.ADMINISTRATOR, "Adm1n-Tres-Solide!", by=CLI)
    result = accounts.sign_in("admin", "Adm1n-Tres-Solide!")
    assert result.must_change_password  # a first password set by someone else
    accounts.change_password("admin", "Adm1n-Tres-Solide!", "Deuxieme-Secret-2026!", "Deuxieme-Secret-2026!")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM account_credential")).scalar()
        history = conn.execute(text("SELECT count(*) FROM password_history")).scalar()
    assert str(stored).startswith("$argon2id$") and "Deuxieme" not in str(stored)
    assert history == 1
    with pytest.raises(InvalidInput):
        accounts.change_password(
            "admin", "Deuxieme-Secret-2026!", "Adm1n-Tres-Solide!", "Adm1n-Tres-Solide!"
        )  # reuse refused
    for _ in range(5):
        with pytest.raises(SignInRefused):
            accounts.sign_in("admin", "devine")
    with pytest.raises(SignInRefused) as err:
        accounts.sign_in("admin", "Deuxieme-Secret-2026!")
    assert err.value.outcome is SignInOutcome.LOCKED
    accounts.unlock_account("admin", by=CLI)
    assert accounts.sign_in("admin", "Deuxieme-Secret-2026!").user.login == "admin"
    with uow() as work:
        events = work.audit.list(limit=100)
    actions = [e.action for e in events]
    assert actions.count(AuditAction.SIGN_IN) >= 8 and AuditAction.PASSWORD_CHANGE in actions
    assert traces.check().intact


def test_hostile_login_does_not_reach_sql(stack) -> None:  # type: ignore[no-untyped-def]
    accounts, _traces, uow, engine, _clock, _anchor = stack
    with pytest.raises(SignInRefused):
        accounts.sign_in("x' OR '1'='1'; DROP TABLE user_account;--%s%n", "' OR '1'='1")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM user_account")).scalar() == 0
    with uow() as work:
        assert work.audit.list(limit=1)[0].outcome == SignInOutcome.UNKNOWN_ACCOUNT.value


def test_truncating_the_end_of_the_chain_is_detected(stack) -> None:  # type: ignore[no-untyped-def]
    accounts, traces, _uow, engine, _clock, anchor = stack
    accounts.create_account("sec", "Martine LEROY", UserRole.SECRETARY, "Secretariat-2026!", by=CLI)
    for _ in range(3):
        with pytest.raises(SignInRefused):
            accounts.sign_in("sec", "faux")
    report = traces.check()
    assert report.intact and report.anchor is not None and report.anchor == report.last
    with engine.begin() as conn:  # an intruder removes the newest traces: the chain itself stays intact
        conn.execute(text("DELETE FROM audit_event WHERE id > (SELECT min(id) FROM audit_event)"))
    report = traces.check()
    assert report.broken_id is None
    assert report.anchor_problem is not None and "supprimées à la fin" in report.anchor_problem
    # later traces do not hide it: the anchor only moves forward
    with pytest.raises(SignInRefused):
        accounts.sign_in("sec", "faux")
    assert traces.check().anchor_problem is not None
    # a restore re-anchors explicitly
    traces.reanchor()
    assert traces.check().intact
    # editing the anchor file is detected through its seal
    data = json.loads(anchor.path.read_text())
    data["dernier_id"] = 1
    anchor.path.write_text(json.dumps(data))
    report = traces.check()
    assert report.anchor_problem is not None and "modifié" in report.anchor_problem


def test_anchor_without_credential_store_still_works(tmp_path: Path) -> None:
    anchor = FileAuditAnchor(tmp_path / "a.json", None)
    assert anchor.read() is None
    anchor.advance(ChainAnchor(5, "a" * 64))
    anchor.advance(ChainAnchor(3, "b" * 64))  # never backwards
    assert anchor.read() == ChainAnchor(5, "a" * 64)
    assert "sceau" not in json.loads((tmp_path / "a.json").read_text())
    (tmp_path / "a.json").write_text("{pas du json")
    with pytest.raises(StorageError):
        anchor.read()


def test_migration_0005_adds_titulaire_and_credentials(database_url: str) -> None:
    from sqlalchemy import inspect

    engine, _ = open_database(database_url)
    try:
        inspector = inspect(engine)
        assert "titulaire_id" in {c["name"] for c in inspector.get_columns("user_account")}
        assert {"account_credential", "password_history"} <= set(inspector.get_table_names())
    finally:
        engine.dispose()
