"""clinical record — observations, forms, macros, prescriptions, letters (issue 6).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27

The revision number is reserved in the chain so that areas developed side by side migrate in a fixed order;
it holds the tables of that area.
"""

from __future__ import annotations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """No table yet."""


def downgrade() -> None:
    """No table yet."""
