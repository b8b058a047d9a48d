"""Benchmark of the COG referential: cold and cached first use, search latency, memory; prints JSON."""

from __future__ import annotations

import datetime as dt
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "resources" / "cog"

QUERIES = (
    "s", "sa", "saint", "st e", "saint-étienne", "reims", "paris", "l'hay", "lyon", "marseille",
    "a", "b", "mont", "ajaccio", "alger", "maroc", "allemagne", "inconnu", "bou", "x",
    "2A", "2A0", "20", "51", "514", "51454", "99", "993", "975", "91110",
)  # fmt: skip
DATES = (None, dt.date(1935, 5, 1), dt.date(1960, 1, 1), dt.date(1980, 6, 15), dt.date(2020, 3, 1))
ROUNDS = 20


def _first_use_ms(cache_dir: Path) -> tuple[float, str]:
    """Time of a new referential's first lookup (load + index) and where it loaded from."""
    from adapters.cog.referential import CsvCogReferential

    started = time.perf_counter()
    referential = CsvCogReferential(RESOURCES, cache_dir)
    referential.get("51454", None)
    return (time.perf_counter() - started) * 1000, referential.load_source


def main() -> None:
    """Run the benchmark and print its JSON summary on stdout."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if len(sys.argv) == 3 and sys.argv[1] == "--cold":
        # Child process: a fresh interpreter builds the cache from the CSV files.
        elapsed, source = _first_use_ms(Path(sys.argv[2]))
        print(json.dumps({"ms": elapsed, "source": source}))
        return

    import psutil

    from adapters.cog.referential import CsvCogReferential

    with tempfile.TemporaryDirectory(prefix="lgc-bench-cog-") as tmp:
        cache_dir = Path(tmp)
        child = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--cold", str(cache_dir)],
            check=True,
            capture_output=True,
            text=True,
        )
        cold = json.loads(child.stdout)

        process = psutil.Process()
        gc.collect()
        rss_before = process.memory_info().rss
        started = time.perf_counter()
        referential = CsvCogReferential(RESOURCES, cache_dir)
        referential.get("51454", None)
        cached_ms = (time.perf_counter() - started) * 1000
        cached_source = referential.load_source
        gc.collect()
        rss_after = process.memory_info().rss

        timings: list[float] = []
        for _ in range(ROUNDS):
            for query in QUERIES:
                for day in DATES:
                    started = time.perf_counter()
                    referential.search(query, day, 20)
                    timings.append((time.perf_counter() - started) * 1000)
        for _ in range(ROUNDS):
            for code in ("51454", "2A004", "20004", "01340", "99350", "91110", "00000"):
                for day in DATES:
                    started = time.perf_counter()
                    referential.get(code, day)
                    timings.append((time.perf_counter() - started) * 1000)
        timings.sort()

    print(
        json.dumps(
            {
                "load_ms": round(cold["ms"], 1),
                "cached_load_ms": round(cached_ms, 1),
                "search_p95_ms": round(timings[int(len(timings) * 0.95)], 3),
                "rss_delta_mb": round((rss_after - rss_before) / 2**20, 1),
                "search_max_ms": round(timings[-1], 3),
                "load_sources": [cold["source"], cached_source],
            }
        )
    )


if __name__ == "__main__":
    main()
