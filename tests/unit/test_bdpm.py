"""The BDPM loader on small files in the real format (tab-separated, Windows-1252, CRLF, no header)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.bdpm import BdpmMedicineDatabase, decode, parse_specialities
from domain.errors import InvalidInput

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bdpm"


def test_reads_specialities_and_presentations_in_windows_1252() -> None:
    db = BdpmMedicineDatabase(FIXTURES)
    assert db.available()
    tetanus = db.by_cis("68747507")
    assert tetanus is not None
    assert tetanus.label.startswith("VACCIN TETANIQUE PASTEUR, suspension injectable en seringue préremplie")
    assert tetanus.routes == "intramusculaire;sous-cutanée" and tetanus.marketed
    assert tetanus.presentations == (("3400932857241", "1 seringue(s) préremplie(s) en verre de 0,5 ml"),)
    bcg = db.by_cis("61077869")
    assert bcg is not None and not bcg.marketed and bcg.presentations == ()
    assert db.by_cis("99999999") is None


def test_search_every_word_accents_ignored_marketed_first() -> None:
    db = BdpmMedicineDatabase(FIXTURES)
    assert [m.cis for m in db.search("paracetamol 500", 10)] == ["63107752"]
    assert [m.cis for m in db.search("vaccin", 10)] == ["61920725", "68747507", "61077869"]
    assert [m.cis for m in db.search("préremplie tétanique", 10)] == ["68747507"]
    assert db.search("  ", 10) == []


def test_utf8_files_are_accepted_too() -> None:
    line = "60234100\tDOLIPRANE 1000 mg, comprimé\tcomprimé\torale\tAutorisation active\tProcédure nationale"
    assert decode(line.encode("utf-8")) == line
    assert decode(line.encode("cp1252")) == line


def test_absent_or_foreign_files(tmp_path: Path) -> None:
    assert not BdpmMedicineDatabase(tmp_path).available()
    with pytest.raises(InvalidInput, match="format de la base publique"):
        parse_specialities("nom;prénom\nDUPONT;Marie\n")
    (tmp_path / "CIS_bdpm.txt").write_bytes(b"pas un fichier BDPM\n")
    with pytest.raises(InvalidInput, match="format de la base publique"):
        BdpmMedicineDatabase(tmp_path).search("x", 5)


def test_the_files_are_looked_for_in_the_configured_directory(tmp_path: Path) -> None:
    from app.settings import load_settings

    assert load_settings(tmp_path / "a").medicines_dir == (tmp_path / "a" / "bdpm").resolve()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "lgc.toml").write_text(f'[general]\nbdpm_dir = "{FIXTURES}"\n', encoding="utf-8")
    settings = load_settings(tmp_path / "b")
    assert settings.medicines_dir == FIXTURES and BdpmMedicineDatabase(settings.medicines_dir).available()
