"""The lgc command line, run as a user would (a subprocess), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def lgc(*args: str, data_dir: Path, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "app.cli", *args, "--data-dir", str(data_dir)]
    if database_url:
        cmd += ["--database-url", database_url]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False)


def test_version(tmp_path: Path) -> None:
    out = lgc("--version", data_dir=tmp_path)
    assert out.returncode == 0
    assert out.stdout.startswith("lgc 0.1.0")


def test_selftest(tmp_path: Path) -> None:
    out = lgc("selftest", data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "selftest OK" in out.stdout


def test_demo_data_search_backup_restore(database_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = lgc("demo-data", "--patients", "150", data_dir=data, database_url=database_url)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"added": 150}
    out = lgc("patients", "search", "ma", "--json", data_dir=data, database_url=database_url)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)["patients"]
    assert found and all({"id", "birth_name", "status", "birth_date"} <= set(p) for p in found)

    backup = tmp_path / "sauvegarde.bin"
    out = lgc("backup", str(backup), data_dir=data, database_url=database_url)
    assert out.returncode == 0, out.stderr
    assert backup.stat().st_size > 0
    out = lgc("demo-data", "--patients", "25", "--seed", "5", data_dir=data, database_url=database_url)
    assert out.returncode == 0, out.stderr
    out = lgc("restore", str(backup), data_dir=data, database_url=database_url)
    assert out.returncode == 0, out.stderr
    out = lgc("patients", "search", "", "--json", "--limit", "1000", data_dir=data, database_url=database_url)
    assert len(json.loads(out.stdout)["patients"]) == 150


def test_bad_input_gets_french_messages_and_exit_2(tmp_path: Path) -> None:
    out = lgc("patients", "search", "31/02/1990", data_dir=tmp_path)
    assert out.returncode == 2 and "Date impossible" in out.stderr
    not_a_backup = tmp_path / "faux.sqlite3"
    not_a_backup.write_text("bonjour")
    out = lgc("restore", str(not_a_backup), data_dir=tmp_path)
    assert out.returncode == 2 and "sauvegarde" in out.stderr
    out = lgc("bench", "inexistant", data_dir=tmp_path)
    assert out.returncode == 2 and "Banc d'essai inconnu" in out.stderr
    out = lgc("demo-data", "--patients", "-3", data_dir=tmp_path)
    assert out.returncode == 2 and "--patients" in out.stderr


def test_corrupt_store_message(tmp_path: Path) -> None:
    (tmp_path / "lgc.sqlite3").write_bytes(b"garbage" * 50)
    out = lgc("patients", "search", "ma", data_dir=tmp_path)
    assert out.returncode == 2
    assert "n'est pas une base LGC" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("bad", ["mode = 'cloud'", "[general]\nmode = 3", "[general\n"])
def test_bad_settings_file(tmp_path: Path, bad: str) -> None:
    (tmp_path / "lgc.toml").write_text(bad if bad.startswith("[") else f"[general]\n{bad}", encoding="utf-8")
    out = lgc("patients", "search", "ma", data_dir=tmp_path)
    assert out.returncode == 2
    assert "configuration" in out.stderr or "lgc.toml" in out.stderr


def test_sandbox_command_serves_the_stand_ins_until_stopped(tmp_path: Path) -> None:
    import signal
    import socket
    import ssl
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "app.cli", "sandbox", "--data-dir", str(tmp_path), "--port", f"status={port}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ca = tmp_path / "sandbox-pki"
        deadline = time.monotonic() + 60
        answer = None
        while time.monotonic() < deadline and answer is None:
            try:
                ca_file = ca / "ca.cert.pem"
                if ca_file.exists():
                    context = ssl.create_default_context(cafile=str(ca_file))
                    answer = httpx.get(f"https://127.0.0.1:{port}/status", verify=context, timeout=2).json()
            except (httpx.HTTPError, OSError, ssl.SSLError):
                time.sleep(0.2)
        assert answer is not None and answer["service"] == "status"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"https://127.0.0.1:{port}" in out


def test_traces_export_and_tamper_check(tmp_path: Path) -> None:
    import csv
    import sqlite3

    data = tmp_path / "data"
    assert lgc("demo-data", "--patients", "10", data_dir=data).returncode == 0
    # a backup is a traced action
    assert lgc("backup", str(tmp_path / "b.sqlite3"), data_dir=data).returncode == 0
    assert lgc("backup", str(tmp_path / "c.sqlite3"), data_dir=data).returncode == 0
    out = lgc("traces", "verify", data_dir=data)
    assert out.returncode == 0 and "intègres" in out.stdout
    export = tmp_path / "traces.csv"
    out = lgc("traces", "export", str(export), data_dir=data)
    assert out.returncode == 0, out.stderr
    rows = list(csv.reader(export.open(encoding="utf-8"), delimiter=";"))
    assert rows[0] == ["horodatage", "acteur", "action", "resultat", "patient", "detail"]
    assert any(r[2] == "base.sauvegarde" for r in rows[1:])
    conn = sqlite3.connect(data / "lgc.sqlite3")
    conn.execute("DELETE FROM audit_event WHERE id = (SELECT min(id) FROM audit_event)")
    conn.commit()
    conn.close()
    out = lgc("traces", "verify", data_dir=data)
    assert out.returncode == 1 and "ALERTE" in out.stdout
