"""Type-ahead search over 100,000 patients: service layer vs the same SQL run raw; prints JSON."""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, median, percentile, populated_data_dir


def realistic_queries(data_dir: Path, count: int, seed: int = 7) -> list[str]:
    """What people type in the search box, drawn from the stored patients.

    Name prefixes of 2 to 6 letters (birth or used name), name + start of first name, a full birth date,
    a name + birth date, a first-name prefix, a birth year with a name.
    """
    rng = random.Random(seed)
    conn = sqlite3.connect(f"file:{data_dir / 'lgc.sqlite3'}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT birth_name, used_name, first_given_name, birth_date FROM patient ORDER BY random() LIMIT ?",
            (count,),
        ).fetchall()
    finally:
        conn.close()
    queries: list[str] = []
    for i, (birth_name, used_name, given, born) in enumerate(rows):
        name = (used_name or birth_name).lower()
        year, month, day = born.split("-")
        date_fr = f"{day}/{month}/{year}"
        kind = i % 8
        if kind in (0, 1):
            queries.append(name[: rng.randint(2, 6)])
        elif kind == 2:
            queries.append(f"{name[: rng.randint(3, 8)]} {given.lower()[: rng.randint(1, 3)]}")
        elif kind == 3:
            queries.append(date_fr)
        elif kind == 4:
            queries.append(f"{name[:4]} {date_fr}")
        elif kind == 5:
            queries.append(given.lower()[: rng.randint(2, 5)])
        elif kind == 6:
            queries.append(birth_name.title()[: rng.randint(3, 10)])
        else:
            queries.append(f"{name[:3]} {year}")
    return queries


def main() -> None:
    """Run the bench and print {p50_ms, p95_ms, raw_p50_ms, raw_p95_ms, ratio_p95, ...}."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    from sqlalchemy.orm import Session

    from adapters.db.repositories import build_search
    from app.bootstrap import build
    from app.settings import load_settings
    from domain.search import parse_query

    data_dir, built_s = populated_data_dir(args.patients)
    queries = realistic_queries(data_dir, args.queries)
    services = build(load_settings(data_dir))
    services.practice.sign_in("ide")
    from sqlalchemy import create_engine

    url = services.settings.effective_database_url
    raw = sqlite3.connect(f"file:{data_dir / 'lgc.sqlite3'}?mode=ro", uri=True)
    compile_engine = create_engine(url)
    try:
        # Warm both paths once (page cache, statement caches), as a practice running all day would be.
        for q in queries:
            services.patients.search(q)
        service_ms: list[float] = []
        raw_ms: list[float] = []
        rows_found: list[int] = []
        for q in queries:
            started = time.perf_counter()
            result = services.patients.search(q)
            service_ms.append((time.perf_counter() - started) * 1000)
            rows_found.append(len(result.rows))
            # The same final SQL statement, run through the bare DB-API driver: the floor for this query.
            with Session(compile_engine) as session:
                stmt = build_search(session, parse_query(q), services.settings.search_limit + 1)
                sql = str(stmt.compile(compile_engine, compile_kwargs={"literal_binds": True}))
            started = time.perf_counter()
            raw.execute(sql).fetchall()
            raw_ms.append((time.perf_counter() - started) * 1000)
    finally:
        raw.close()
        compile_engine.dispose()
        services.close()
    p95 = percentile(service_ms, 95)
    raw_p95 = percentile(raw_ms, 95)
    emit(
        {
            "bench": "search",
            "patients": args.patients,
            "queries": len(queries),
            "p50_ms": round(median(service_ms), 3),
            "p95_ms": round(p95, 3),
            "max_ms": round(max(service_ms), 3),
            "raw_p50_ms": round(median(raw_ms), 3),
            "raw_p95_ms": round(raw_p95, 3),
            "ratio_p95": round(p95 / raw_p95, 2) if raw_p95 else None,
            "median_rows": median([float(n) for n in rows_found]),
            "store_build_s": round(built_s, 1),
            "targets": {"p95_ms": 20, "ratio_p95": 2.0},
        }
    )


if __name__ == "__main__":
    main()
