"""health documents — CDA, PDF/A, XDM (issue 4).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

The revision number is reserved in the chain so that areas developed side by side migrate in a fixed order;
it holds the tables of that area.
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """No table yet."""


def downgrade() -> None:
    """No table yet."""
