"""CsvCogReferential on the real INSEE COG 2026 files: dates, Corsica, overseas, countries, search, cache."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from adapters.cog import referential as referential_module
from adapters.cog.referential import CsvCogReferential
from domain.cog import UNKNOWN_PLACE, CogReferential, PlaceKind, cog_problem

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "cog"
SOURCES = (
    "v_commune_depuis_1943.csv",
    "v_commune_outremer_depuis_1943.csv",
    "v_tom_depuis_1943.csv",
    "v_pays_et_territoire_depuis_1943.csv",
    "v_mvt_commune_2026.csv",
)


@pytest.fixture(scope="module")
def cog(tmp_path_factory: pytest.TempPathFactory) -> CsvCogReferential:
    return CsvCogReferential(RESOURCES, tmp_path_factory.mktemp("cog-cache"))


def codes(places: list[Any]) -> list[str]:
    return [p.code for p in places]


def test_implements_the_port(cog: CsvCogReferential) -> None:
    port: CogReferential = cog
    assert port.get("51454", None) is not None


def test_current_commune(cog: CsvCogReferential) -> None:
    reims = cog.get("51454", dt.date(2024, 5, 1))
    assert reims is not None
    assert reims.label == "Reims"
    assert reims.kind is PlaceKind.COMMUNE
    assert reims.department == "51"
    assert reims.valid_to is None
    assert reims.display == "Reims (51) — 51454"
    assert cog.search("Reims", dt.date(2024, 5, 1))[0].display == "Reims (51) — 51454"


def test_history_starting_1943_is_open_ended_backwards(cog: CsvCogReferential) -> None:
    # 1943-01-01 is the start of INSEE's history, not a creation date: births before 1943 are found.
    reims = cog.get("51454", dt.date(1925, 3, 1))
    assert reims is not None and reims.valid_from is None


def test_commune_merged_in_2016(cog: CsvCogReferential) -> None:
    # 01340 Saint-Bois: 1943-01-01 → 2016-01-01, merged into Arboys en Bugey (01015).
    old = cog.get("01340", dt.date(1970, 6, 1))
    assert old is not None and old.label == "Saint-Bois"
    assert old.valid_to == dt.date(2016, 1, 1)
    assert cog.get("01340", dt.date(2015, 12, 31)) is not None
    assert cog.get("01340", dt.date(2016, 1, 1)) is None  # DATE_FIN is exclusive
    assert cog.get("01340", dt.date(2020, 6, 1)) is None
    assert "01340" in codes(cog.search("saint-bois", dt.date(1970, 6, 1)))
    assert "01340" not in codes(cog.search("saint-bois", dt.date(2020, 6, 1)))
    problem = cog_problem(cog, "01340", dt.date(2020, 6, 1))
    assert problem is not None and "Saint-Bois" in problem


def test_code_kept_with_a_new_name_in_2016(cog: CsvCogReferential) -> None:
    # 01015 Arbignieu became the commune nouvelle Arboys en Bugey on 2016-01-01, same code.
    periods = cog.periods("01015")
    assert [p.label for p in periods] == ["Arbignieu", "Arboys en Bugey"]
    assert periods[0].valid_to == periods[1].valid_from == dt.date(2016, 1, 1)
    at_1970 = cog.get("01015", dt.date(1970, 1, 1))
    assert at_1970 is not None and at_1970.label == "Arbignieu"
    current = cog.get("01015", None)
    assert current is not None and current.label == "Arboys en Bugey"
    assert codes(cog.search("arbignieu", dt.date(1970, 1, 1))) == ["01015"]
    assert cog.search("arbignieu", dt.date(2020, 1, 1)) == []


def test_commune_merged_in_2019(cog: CsvCogReferential) -> None:
    # 01059 Brénaz merged into Arvière-en-Valromey (01453) on 2019-01-01.
    assert "01059" in codes(cog.search("Brenaz", dt.date(1970, 1, 1)))
    assert "01059" not in codes(cog.search("Brenaz", dt.date(2020, 1, 1)))
    assert cog.get("01059", dt.date(2018, 12, 31)) is not None
    assert cog.get("01059", dt.date(2019, 1, 1)) is None


def test_corsica_before_and_after_1976(cog: CsvCogReferential) -> None:
    before = cog.get("20004", dt.date(1960, 1, 1))
    assert before is not None and before.label == "Ajaccio" and before.department == "20"
    assert cog.get("20004", dt.date(1980, 1, 1)) is None
    assert cog.get("2A004", dt.date(1960, 1, 1)) is None
    after = cog.get("2a004", dt.date(1980, 1, 1))
    assert after is not None and after.code == "2A004" and after.display == "Ajaccio (2A) — 2A004"
    assert codes(cog.search("ajaccio", dt.date(1960, 1, 1))) == ["20004"]
    assert codes(cog.search("ajaccio", dt.date(1990, 1, 1))) == ["2A004"]
    assert "2A004" in codes(cog.search("2A0", dt.date(1990, 1, 1), limit=50))
    assert all(p.code.startswith("2A0") for p in cog.search("2a0", None, limit=50))
    assert all(p.code.startswith("20") for p in cog.search("20", dt.date(1960, 1, 1), limit=50))


def test_algeria_before_1962(cog: CsvCogReferential) -> None:
    alger = cog.get("91110", dt.date(1955, 1, 1))
    assert alger is not None and alger.label == "Alger" and alger.kind is PlaceKind.OVERSEAS
    assert alger.valid_to == dt.date(1962, 7, 5)
    assert cog.get("91110", dt.date(1965, 1, 1)) is None
    assert "91110" in codes(cog.search("alger", dt.date(1955, 1, 1)))
    algeria = cog.get("99352", dt.date(1965, 1, 1))
    assert algeria is not None and algeria.kind is PlaceKind.COUNTRY and algeria.label == "Algérie"
    assert cog.get("99352", dt.date(1955, 1, 1)) is None


def test_code_reused_algeria_then_essonne(cog: CsvCogReferential) -> None:
    periods = cog.periods("91103")
    assert [p.kind for p in periods] == [PlaceKind.OVERSEAS, PlaceKind.COMMUNE]
    assert periods[0].valid_to == dt.date(1962, 7, 5)
    at_1990 = cog.get("91103", dt.date(1990, 1, 1))
    assert at_1990 is not None and at_1990.label == "Brétigny-sur-Orge"


def test_overseas(cog: CsvCogReferential) -> None:
    basse_terre = cog.get("97105", dt.date(2000, 1, 1))
    assert basse_terre is not None and basse_terre.kind is PlaceKind.COMMUNE
    assert basse_terre.display == "Basse-Terre (971) — 97105"
    noumea = cog.get("98818", dt.date(2000, 1, 1))
    assert noumea is not None and noumea.kind is PlaceKind.OVERSEAS and noumea.display == "Nouméa — 98818"
    # Guadeloupe before it became a department (v_tom_depuis_1943).
    guadeloupe = cog.get("98702", dt.date(1944, 1, 1))
    assert guadeloupe is not None and guadeloupe.label == "Guadeloupe"
    assert cog.get("97105", dt.date(1944, 1, 1)) is None
    # Mayotte: 985xx, then 976xx as a collectivity, then a department commune since 2011-03-31.
    assert [p.kind for p in cog.periods("97601")] == [PlaceKind.OVERSEAS, PlaceKind.COMMUNE]
    acoua_1990 = cog.get("98501", dt.date(1990, 1, 1))
    assert acoua_1990 is not None and acoua_1990.label == "Acoua"


def test_countries_with_periods(cog: CsvCogReferential) -> None:
    west = cog.get("99142", dt.date(1960, 1, 1))
    assert west is not None and west.label == "Allemagne de l’Ouest" and west.kind is PlaceKind.COUNTRY
    assert west.valid_to == dt.date(1990, 10, 3)
    assert cog.get("99142", dt.date(1995, 1, 1)) is None
    assert cog.get("99109", dt.date(1960, 1, 1)) is None  # Allemagne: gap 1949–1990
    germany = cog.get("99109", dt.date(1995, 1, 1))
    assert germany is not None and germany.label == "Allemagne"
    assert cog.search("maroc", dt.date(2000, 1, 1))[0].display == "Maroc — 99350"


def test_france_is_not_a_birth_place(cog: CsvCogReferential) -> None:
    assert cog.get("99100", None) is None
    assert cog.periods("99100") == []
    assert "99100" not in codes(cog.search("france", None, limit=100))
    assert "99100" not in codes(cog.search("991", None, limit=100))


def test_unknown_place_only_on_request(cog: CsvCogReferential) -> None:
    assert cog.search("99999", None) == [UNKNOWN_PLACE]
    assert cog.search("inconnu", dt.date(1980, 1, 1))[0] == UNKNOWN_PLACE
    assert cog.search("Inconnu", None)[0].display == "Lieu de naissance inconnu — 99999"
    assert UNKNOWN_PLACE not in cog.search("99", None, limit=500)
    assert UNKNOWN_PLACE not in cog.search("in", None, limit=500)
    assert cog.get("99999", dt.date(1980, 1, 1)) == UNKNOWN_PLACE
    assert cog.periods("99999") == [UNKNOWN_PLACE]


@pytest.mark.parametrize(
    "query", ["saint etienne", "Saint-Étienne", "SAINT-ETIENNE", "st etienne", "St-Étienne", "saintetienne"]
)
def test_accent_case_hyphen_insensitive(cog: CsvCogReferential, query: str) -> None:
    found = cog.search(query, dt.date(1990, 1, 1))
    assert found[0].label == "Saint-Étienne"
    assert "42218" in codes(found)


@pytest.mark.parametrize("query", ["l'hay", "L’Haÿ", "lhay", "l hay les roses", "hay-les"])
def test_apostrophe_and_article(cog: CsvCogReferential, query: str) -> None:
    assert codes(cog.search(query, dt.date(2000, 1, 1)))[0] == "94038"
    assert codes(cog.search(query, dt.date(1960, 1, 1)))[0] == "75038"


def test_st_alone_is_a_prefix_not_an_abbreviation(cog: CsvCogReferential) -> None:
    assert "67482" in codes(cog.search("st", dt.date(2000, 1, 1), limit=100))  # Strasbourg
    assert "67482" in codes(cog.search("stras", dt.date(2000, 1, 1)))


def test_ranking_exact_then_prefix_then_inner_word(cog: CsvCogReferential) -> None:
    found = cog.search("reims", dt.date(2000, 1, 1), limit=50)
    labels = [p.label for p in found]
    assert labels[0] == "Reims"
    assert labels.index("Reims-la-Brûlée") < labels.index("Cernay-lès-Reims")
    inner = cog.search("rouvray", dt.date(2000, 1, 1), limit=100)
    assert "76575" in codes(inner)  # Saint-Étienne-du-Rouvray, found by an inner word


def test_code_prefix_search(cog: CsvCogReferential) -> None:
    found = cog.search("514", dt.date(2000, 1, 1), limit=200)
    assert found and all(p.code.startswith("514") for p in found)
    assert "51454" in codes(found)
    assert codes(found) == sorted(codes(found))
    assert codes(cog.search("51454", None)) == ["51454"]


def test_limit(cog: CsvCogReferential) -> None:
    assert len(cog.search("sa", None, limit=7)) == 7
    assert len(cog.search("51", dt.date(2000, 1, 1), limit=3)) == 3
    assert cog.search("sa", None, limit=0) == []
    assert len(cog.search("inconnu", None, limit=1)) == 1


def test_search_without_date_gives_each_name_once(cog: CsvCogReferential) -> None:
    # 42218 was "Saint-Étienne" twice (before 1969 and since 1970): one result, the current period.
    found = [p for p in cog.search("saint-etienne", None, limit=50) if p.code == "42218"]
    assert len(found) == 1 and found[0].valid_to is None


def test_unknown_code(cog: CsvCogReferential) -> None:
    assert cog.get("00000", None) is None
    assert cog.get("00000", dt.date(2000, 1, 1)) is None
    assert cog.periods("00000") == []
    assert cog.search("zzzzzz", None) == []
    assert cog.search("   ", None) == []


def test_zero_length_periods_listed_but_never_valid(cog: CsvCogReferential) -> None:
    periods = cog.periods("99209")  # Sibérie: 1943-01-01 → 1943-01-01
    assert len(periods) == 1 and periods[0].valid_from == periods[0].valid_to == dt.date(1943, 1, 1)
    assert cog.get("99209", dt.date(1930, 1, 1)) is None
    assert "99209" not in codes(cog.search("siberie", None))


def test_demo_places(cog: CsvCogReferential) -> None:
    demo = cog.demo_places()
    assert len(demo.current_communes) > 34_000
    assert all(p.kind is PlaceKind.COMMUNE and p.valid_to is None for p in demo.current_communes)
    merged = {p.code: p for p in demo.merged_communes}
    assert merged["01340"].valid_to == dt.date(2016, 1, 1)
    assert merged["01059"].valid_to == dt.date(2019, 1, 1)
    assert "01015" not in merged  # its code lives on
    assert all(cog.get(p.code, dt.date(2026, 1, 1)) is None for p in demo.merged_communes)
    overseas = {p.code[:3] for p in demo.overseas}
    assert {"971", "972", "973", "974", "976", "975", "977", "978", "988", "987"} <= overseas
    assert not overseas & {"981", "984", "989"}
    assert "99100" not in codes(list(demo.countries))
    assert all(p.kind is PlaceKind.COUNTRY and p.valid_to is None for p in demo.countries)
    assert demo.corsica and all(p.code[:2] in {"2A", "2B"} for p in demo.corsica)
    assert demo.corsica_before_1976 and all(
        p.code.startswith("20") and p.valid_to is not None and p.valid_to <= dt.date(1976, 1, 1)
        for p in demo.corsica_before_1976
    )
    assert "20004" in codes(list(demo.corsica_before_1976))


# -- cache ------------------------------------------------------------------------------------------------


def _copy_sources(target: Path) -> Path:
    target.mkdir()
    for name in SOURCES:
        shutil.copy2(RESOURCES / name, target / name)
    return target


def test_cache_reused_then_rebuilt_when_a_csv_changes(tmp_path: Path) -> None:
    resources = _copy_sources(tmp_path / "cog")
    cache = tmp_path / "cache"
    first = CsvCogReferential(resources, cache)
    assert first.load_source == ""  # nothing done before the first call
    assert first.get("51454", None) is not None
    assert first.load_source == "csv"
    files = list(cache.glob("*.json"))
    assert len(files) == 1

    second = CsvCogReferential(resources, cache)
    assert second.search("reims", None)[0].code == "51454"
    assert second.load_source == "cache"
    assert list(cache.glob("*.json")) == files

    with (resources / "v_commune_depuis_1943.csv").open("a", encoding="utf-8") as handle:
        handle.write('"COM","01999","0","TESTVILLE","Testville","Testville","2020-01-01",""\n')
    third = CsvCogReferential(resources, cache)
    assert codes(third.search("testville", dt.date(2021, 1, 1))) == ["01999"]
    assert third.load_source == "csv"
    assert len(list(cache.glob("*.json"))) == 1  # the stale cache was removed
    assert list(cache.glob("*.json")) != files


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    resources = _copy_sources(tmp_path / "cog")
    cache = tmp_path / "cache"
    CsvCogReferential(resources, cache).get("51454", None)
    (cache_file,) = cache.glob("*.json")
    cache_file.write_text("{not json", encoding="utf-8")
    again = CsvCogReferential(resources, cache)
    assert again.get("51454", None) is not None
    assert again.load_source == "csv"
    assert CsvCogReferential(resources, cache).get("2A004", None) is not None


def test_without_cache_dir(tmp_path: Path) -> None:
    referential = CsvCogReferential(RESOURCES)
    assert referential.get("51454", None) is not None
    assert referential.load_source == "csv"


def test_unwritable_cache_dir_still_works(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    referential = CsvCogReferential(RESOURCES, blocker / "cache")  # parent is a file: mkdir fails
    assert referential.get("51454", None) is not None


def test_two_threads_first_use_load_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_build = referential_module._build_payload

    def slow_build(resource_dir: Path) -> dict[str, Any]:
        calls.append(1)
        threading.Event().wait(0.05)
        return real_build(resource_dir)

    monkeypatch.setattr(referential_module, "_build_payload", slow_build)
    referential = CsvCogReferential(RESOURCES, tmp_path / "cache")
    barrier = threading.Barrier(2)
    results: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            barrier.wait()
            results[name] = codes(referential.search("ajaccio", dt.date(1990, 1, 1)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert calls == [1]
    assert results == {"a": ["2A004"], "b": ["2A004"]}
