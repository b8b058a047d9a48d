"""letters and correspondents book (issue 6).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27

The revision number is reserved in the chain so that areas developed side by side migrate in a fixed order;
it holds the tables of that area.
"""

from __future__ import annotations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tables of this area (filled in by the area's work)."""


def downgrade() -> None:
    """Drop the tables of this area."""
