"""The independent OpenID provider of the contract tests (node-oidc-provider): install it when missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

OIDC_PROVIDER_DIR = Path(__file__).resolve().parent / "contract" / "oidc_provider"


def ensure_oidc_provider() -> Path:
    """Install node-oidc-provider from the lockfile (``npm ci``) unless already there; return its directory.

    Raises:
        RuntimeError: Node.js/npm is missing or the installation failed (the message says what to do).
    """
    if (OIDC_PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        return OIDC_PROVIDER_DIR
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError(
            "Node.js 20+ and npm are needed for the OpenID provider contract test (apt install nodejs npm)"
        )
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=OIDC_PROVIDER_DIR, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"npm ci failed in {OIDC_PROVIDER_DIR}:\n{done.stdout}\n{done.stderr}")
    return OIDC_PROVIDER_DIR
