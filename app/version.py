"""The product version, and the technical version (with the source revision) shown in Aide > À propos."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

__version__ = "0.1.0"

_REPO_ROOT = Path(__file__).resolve().parents[1]
_BUILD_FILE = "BUILD_REVISION"
"""File an installer may write next to the package with the revision it was built from."""


@functools.cache
def technical_version() -> str:
    """The version with its source revision, e.g. "0.1.0+3f2a9c1" (DSR §4.1 "numéro de version technique").

    Computed on first call, never at import: a packaged build reads ``BUILD_REVISION`` (written by the
    installer), a source checkout asks git; otherwise "dev".

    Returns:
        ``"<version>+<short revision or 'dev'>"``.
    """
    return f"{__version__}+{_revision()}"


def _revision() -> str:
    build_file = _REPO_ROOT / _BUILD_FILE
    if build_file.is_file():
        text = build_file.read_text(encoding="utf-8").strip()
        if text:
            return text[:40]
    if not (_REPO_ROOT / ".git").exists():
        return "dev"
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=_REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "dev"
    revision = done.stdout.strip()
    return revision if done.returncode == 0 and revision else "dev"
