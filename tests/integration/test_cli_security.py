"""``lgc accounts`` and ``lgc audit`` run as a user would (subprocesses), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SYSLOG = re.compile(
    r"^<(\d{1,3})>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ lgc - \S{1,32} \[lgc@32473 [^\n]*\] \ufeff"
)


def lgc(
    *args: str, data_dir: Path, stdin: str = "", database_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "app.cli", *args, "--data-dir", str(data_dir)]
    if database_url:
        cmd += ["--database-url", database_url]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(cmd, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=300, env=env, check=False)


def test_accounts_life_cycle_and_syslog_export(database_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = lgc("accounts", "create", "m.dupont", "--nom", "Marie DUPONT", "--role", "secretaire",
              data_dir=data, stdin="court\n", database_url=database_url)  # fmt: skip
    assert out.returncode == 2 and "au moins 12 caractères" in out.stderr
    out = lgc("accounts", "create", "m.dupont", "--nom", "Marie DUPONT", "--role", "secretaire",
              data_dir=data, stdin="Secretariat-2026!\n", database_url=database_url)  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = lgc("accounts", "create", "%s%n'; DROP TABLE user_account;--", "--nom", "X", "--role", "secretaire",
              data_dir=data, stdin="Secretariat-2026!\n", database_url=database_url)  # fmt: skip
    assert out.returncode == 2 and "Identifiant invalide" in out.stderr
    assert (
        lgc("accounts", "lock", "m.dupont", "--motif", "départ", data_dir=data, database_url=database_url).returncode
        == 0
    )
    out = lgc("accounts", "list", data_dir=data, database_url=database_url)
    assert re.search(r"m\.dupont\s+Secrétaire\s+BLOQUÉ", out.stdout), out.stdout
    assert lgc("accounts", "unlock", "m.dupont", data_dir=data, database_url=database_url).returncode == 0
    out = lgc("accounts", "reset", "m.dupont", data_dir=data, stdin="Secretariat-2026!\n", database_url=database_url)
    assert out.returncode == 2 and "déjà été utilisé" in out.stderr
    out = lgc("accounts", "reset", "m.dupont", data_dir=data, stdin="Autre-Secret-2026!\n", database_url=database_url)
    assert out.returncode == 0, out.stderr
    out = lgc("accounts", "unlock", "personne", data_dir=data, database_url=database_url)
    assert out.returncode == 2 and "Aucun compte" in out.stderr

    syslog = tmp_path / "traces.log"
    out = lgc("audit", "export", str(syslog), "--format", "syslog", data_dir=data, database_url=database_url)
    assert out.returncode == 0, out.stderr
    lines = syslog.read_text(encoding="utf-8").splitlines()
    assert lines and all(SYSLOG.match(line) for line in lines), lines[:3]
    creation = next(line for line in lines if " compte.creation " in line)
    assert creation.startswith("<86>1 ")  # authpriv.info
    refused = [line for line in lines if " compte.mot_de_passe " in line and "refus_reutilisation" in line]
    assert refused and refused[0].startswith("<84>1 ")  # authpriv.warning
    out = lgc("audit", "verify", data_dir=data, database_url=database_url)
    assert out.returncode == 0 and "intègres" in out.stdout


def test_audit_verify_detects_a_truncated_tail(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert lgc("demo-data", "--patients", "5", data_dir=data).returncode == 0
    for _ in range(3):
        assert lgc("backup", str(tmp_path / "b.sqlite3"), data_dir=data).returncode == 0
    out = lgc("audit", "verify", data_dir=data)
    assert out.returncode == 0 and "intègres" in out.stdout
    conn = sqlite3.connect(data / "lgc.sqlite3")
    conn.execute("DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)")
    conn.commit()
    conn.close()
    out = lgc("traces", "verify", data_dir=data)  # the former name still works
    assert out.returncode == 1 and "supprimées à la fin" in out.stdout
    out = lgc("audit", "export", "-", "--format", "csv", data_dir=data)
    assert out.returncode == 0 and out.stdout.startswith("horodatage;acteur;action")
    out = lgc("audit", "export", "-", "--format", "xml", data_dir=data)
    assert out.returncode == 2
