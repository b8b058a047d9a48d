"""Shared bench helpers: a populated store reused between runs, percentiles, JSON output."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def cache_root() -> Path:
    """Where populated bench stores are kept between runs (LGC_BENCH_CACHE, else ~/.cache/lgc-bench)."""
    return Path(os.environ.get("LGC_BENCH_CACHE", Path.home() / ".cache" / "lgc-bench"))


def populated_data_dir(patients: int, seed: int = 2024) -> tuple[Path, float]:
    """A data directory whose store holds the demo practice and ``patients`` patients.

    Built once (and kept, keyed by size and schema revision); returns the directory and the seconds spent
    building it now (0 when reused).
    """
    from adapters.db.database import head_revision

    directory = cache_root() / f"patients-{patients}-{seed}-{head_revision()}"
    marker = directory / ".complete"
    if marker.exists():
        return directory, 0.0
    from app.bootstrap import build
    from app.settings import load_settings

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "lgc.sqlite3").unlink(missing_ok=True)
    started = time.perf_counter()
    services = build(load_settings(directory))
    try:
        services.demo.install_practice()
        services.demo.add_patients(patients, seed=seed)
    finally:
        services.close()
    marker.write_text("ok")
    return directory, time.perf_counter() - started


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def emit(result: dict[str, object]) -> None:
    """Print the bench result as one JSON object on stdout."""
    print(json.dumps(result, ensure_ascii=False, sort_keys=True))


def median(values: list[float]) -> float:
    """Median of ``values``."""
    return statistics.median(values) if values else 0.0
