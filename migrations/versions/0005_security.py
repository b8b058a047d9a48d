"""sign-in and security — accounts, PSC links, password policy (issue 7).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

The revision number is reserved in the chain so that areas developed side by side migrate in a fixed order;
it holds the tables of that area.
"""

from __future__ import annotations

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """No table yet."""


def downgrade() -> None:
    """No table yet."""
