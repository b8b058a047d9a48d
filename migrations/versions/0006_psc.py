"""Pro Santé Connect — links between PSC identities and accounts, sessions (issue 7, PSC part).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

The revision number is reserved in the chain so that areas developed side by side migrate in a fixed order;
it holds the tables of that area.
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """No table yet."""


def downgrade() -> None:
    """No table yet."""
