"""``lgc carte …`` and ``lgc ins vitale`` end to end: control socket, pcscd, the virtual card, the INSi stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from sandbox.test_identities import VITALE_CARDS
from tests.contract.pcsc.conftest import PcscStack


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    (directory / "lgc.toml").write_text('[general]\nmode = "demo"\ndemo_patients = 5\n', encoding="utf-8")
    return directory


def test_insert_list_remove_through_the_control_socket(
    pcsc: PcscStack, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pcsc.deck.serve(data_dir)
    try:
        assert main(["carte", "insert", "vitale:famille", "--lecteur", "1", "--data-dir", str(data_dir)]) == 0
        assert "insérée dans le lecteur virtuel 1" in capsys.readouterr().out
        assert main(["carte", "list", "--json", "--data-dir", str(data_dir)]) == 0
        listing = json.loads(capsys.readouterr().out)
        assert listing["slots"] == {"1": "vitale:famille"}
        assert main(["carte", "insert", "vitale:personne", "--data-dir", str(data_dir)]) == 2
        assert "Carte de test inconnue" in capsys.readouterr().err
        assert main(["carte", "remove", "--lecteur", "1", "--data-dir", str(data_dir)]) == 0
        assert "Carte retirée" in capsys.readouterr().out
    finally:
        pcsc.deck.close()
    assert not (data_dir / "sandbox-cartes.json").exists()
    assert main(["carte", "list", "--data-dir", str(data_dir)]) == 2
    assert "Aucun bac à sable" in capsys.readouterr().err


def test_read_the_card_then_insi_per_beneficiary(
    pcsc: PcscStack, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pcsc.insert("vitale:famille")
    assert main(["carte", "vitale", "--json", "--data-dir", str(data_dir)]) == 0
    people = json.loads(capsys.readouterr().out)["beneficiaires"]
    assert [(p["nom_naissance"], p["prenom"], p["rang_naissance"]) for p in people] == [
        (b.birth_name, b.given_name, b.birth_rank) for b in VITALE_CARDS["famille"]
    ]
    assert main(["ins", "vitale", "--json", "--data-dir", str(data_dir)]) == 0
    answers = json.loads(capsys.readouterr().out)["beneficiaires"]
    assert [a["insi"]["code"] for a in answers] == ["00"] * 5
    assert [a["insi"]["matricule_ins"] for a in answers] == [b.nir + b.nir_key for b in VITALE_CARDS["famille"]]


def test_no_card_is_a_french_error(pcsc: PcscStack, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ins", "vitale", "--data-dir", str(data_dir)]) == 2
    assert "Aucune carte Vitale n'est insérée" in capsys.readouterr().err
