"""prescription lines: "en rapport avec l'ALD" (ordonnance bizone, eP-MED-DM ALD flag) (issue 6).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the ALD flag to prescription lines (false for the lines written before)."""
    with op.batch_alter_table("prescription_line") as batch_op:
        batch_op.add_column(sa.Column("ald", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    """Drop the ALD flag."""
    with op.batch_alter_table("prescription_line") as batch_op:
        batch_op.drop_column("ald")
