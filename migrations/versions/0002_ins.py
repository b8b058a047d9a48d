"""INS — INSi calls, identity verification, INS history (issue 3).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

The revision number is reserved in the chain so that areas developed side by side migrate in a fixed order;
it holds the tables of that area.
"""

from __future__ import annotations

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """No table yet."""


def downgrade() -> None:
    """No table yet."""
