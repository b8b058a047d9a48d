"""Command-line groups added by each area (``lgc ins …``, ``lgc documents …``…), registered in ``app.cli``.

A group module defines ``COMMANDS`` (the top-level names it adds), ``register(sub, common)`` to declare its
arguments, and ``run(args, services) -> int`` to execute them with the built services.
"""

from __future__ import annotations

import importlib
from types import ModuleType

GROUP_MODULES: tuple[str, ...] = (
    "app.commands.agenda",
    "app.commands.accounts",
    "app.commands.audit",
    "app.commands.db",
    "app.commands.ins",
    "app.commands.card",
    "app.commands.documents",
    "app.commands.proxy",
)
"""Dotted names of the group modules, e.g. ``"app.commands.ins"``."""


def groups() -> list[ModuleType]:
    """The group modules, imported on demand (the command line stays quick to start)."""
    return [importlib.import_module(name) for name in GROUP_MODULES]
