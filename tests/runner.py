"""What ``./lgc test`` runs: static checks, then the whole pytest suite with a PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.pgserver import ENV_URL, postgres_server

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _step(title: str, cmd: list[str], *, last: bool = False) -> bool:
    print(f"\n=== {title}: {' '.join(cmd)}", flush=True)
    ok = subprocess.run(cmd, cwd=ROOT, check=False).returncode == 0
    if not (last and ok):
        # pytest's own closing line stays the last line of a successful run (CI reads it).
        print(f"=== {title}: {'OK' if ok else 'ÉCHEC'}", flush=True)
    return ok


def main(argv: list[str]) -> int:
    """Run ruff, mypy, import-linter, then pytest; non-zero if anything failed."""
    failures: list[str] = []
    if not argv:
        checks = [
            ("ruff", [str(BIN / "ruff"), "check", "."]),
            ("mypy strict (domain, app)", [str(BIN / "mypy"), "domain", "app"]),
            ("mypy (adapters, ui, sandbox, bench)", [str(BIN / "mypy"), "adapters", "ui", "sandbox", "bench"]),
            ("import-linter", [str(BIN / "lint-imports")]),
        ]
        for title, cmd in checks:
            if not _step(title, cmd):
                failures.append(title)
    # The independent OpenID provider of the PSC contract test (node-oidc-provider), from its lockfile.
    from tests.node_oidc import ensure_oidc_provider

    ensure_oidc_provider()
    env_url = os.environ.get(ENV_URL)
    pytest_cmd = [sys.executable, "-m", "pytest", *(argv or ["tests"])]
    if env_url:
        ok = _step("pytest", pytest_cmd, last=not failures)
    else:
        with postgres_server() as url:
            os.environ[ENV_URL] = url
            print(f"PostgreSQL de test : {url}", flush=True)
            ok = _step("pytest", pytest_cmd, last=not failures)
    if not ok:
        failures.append("pytest")
    if failures:
        print(f"\nÉchecs : {', '.join(failures)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
