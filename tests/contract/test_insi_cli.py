"""``lgc ins search`` run as support staff would (a subprocess), against the demo stand-in and an explicit endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.ca import TestPki
from sandbox.harness import SandboxHarness
from sandbox.services.insi import InsiService

ROOT = Path(__file__).resolve().parents[2]


def lgc(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m app.cli`` with a small demo data directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = data_dir / "lgc.toml"
    if not settings.exists():
        settings.write_text('[general]\nmode = "demo"\ndemo_patients = 40\n', encoding="utf-8")
    cmd = [sys.executable, "-m", "app.cli", *args, "--data-dir", str(data_dir)]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False)


def test_search_against_the_demo_stand_in_retries_with_the_cog(tmp_path: Path) -> None:
    out = lgc(
        "ins", "search", "--nom", "Lefèvre", "--prenoms", "Marie", "--sexe", "F", "--naissance", "1988-09-17",
        "--lieu", "51230", "--json", data_dir=tmp_path,
    )  # fmt: skip

    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["code"] == "00"
    assert (result["matricule"], result["cle"]) == ("2880951230102", "60")
    assert result["oid"] == "1.2.250.1.213.1.4.8"
    assert result["traits"]["lieu_naissance"] == "51230"
    assert [(c["code"], c["avec_lieu_naissance"]) for c in result["appels"]] == [("02", False), ("00", True)]
    assert result["historique"] == []


def test_search_shows_history_and_one_query_per_first_name(tmp_path: Path) -> None:
    out = lgc(
        "ins", "search", "--nom", "ECETINSI", "--prenoms", "ALAIN PIERRE-ALAIN", "--sexe", "M",
        "--naissance", "2009-07-14", "--json", data_dir=tmp_path,
    )  # fmt: skip

    result = json.loads(out.stdout)
    assert result["code"] == "00"
    assert [h["matricule"] for h in result["historique"]] == ["209076322083439", "209066322012355"]
    assert [c["prenom"] for c in result["appels"]] == ["ALAIN", "PIERRE-ALAIN"]


def test_not_found_prints_advice_and_exits_1(tmp_path: Path) -> None:
    out = lgc(
        "ins", "search", "--nom", "INCONNU", "--prenoms", "PERSONNE", "--sexe", "M", "--naissance", "1970-01-01",
        data_dir=tmp_path,
    )  # fmt: skip

    assert out.returncode == 1, out.stderr
    assert "Code 01" in out.stdout and "carte Vitale" in out.stdout
    assert "https://esante.gouv.fr/" in out.stdout


def test_bad_date_is_a_french_error(tmp_path: Path) -> None:
    out = lgc(
        "ins", "search", "--nom", "A", "--prenoms", "B", "--sexe", "F", "--naissance", "31/12/1975",
        data_dir=tmp_path,
    )  # fmt: skip

    assert out.returncode == 2
    assert "--naissance : date AAAA-MM-JJ attendue" in out.stderr


@pytest.fixture
def mtls_insi(sandbox_pki: TestPki) -> Iterator[SandboxHarness]:
    """The organisation-certificate stand-in, behind mutual TLS."""
    with SandboxHarness([InsiService("insi-mtls", mutual_tls=True)], sandbox_pki, require_client_cert=True) as h:
        yield h


def test_explicit_endpoint_with_an_organisation_certificate(
    tmp_path: Path, mtls_insi: SandboxHarness, sandbox_pki: TestPki
) -> None:
    cert, key = sandbox_pki.issue_client_cert("INSI-AUTO")
    common = [
        "ins", "search", "--nom", "GARCIA", "--prenoms", "LUCIA", "--sexe", "F", "--naissance", "1985-04-12",
        "--endpoint", mtls_insi.url("insi-mtls", "/lps"), "--ca-cert", str(sandbox_pki.ca_cert_path),
        "--timeout", "5", "--json",
    ]  # fmt: skip

    accepted = lgc(*common, "--client-cert", str(cert), "--client-key", str(key), data_dir=tmp_path)
    refused = lgc(*common, data_dir=tmp_path)

    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["traits"]["lieu_naissance"] == "99134"
    assert refused.returncode == 2
    assert "refusé le certificat" in refused.stderr
