"""Pro Santé Connect — links between PSC identities and accounts, sessions (issue 7, PSC part).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

The revision number is reserved in the chain so that areas developed side by side migrate in a fixed order;
it holds the tables of that area: ``psc_link``, one PSC identity (``SubjectNameID``) per local account.
Tokens are never stored: they stay in memory.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``psc_link``."""
    op.create_table(
        "psc_link",
        sa.Column("national_id", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_psc_link_user_id_user_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("national_id", name=op.f("pk_psc_link")),
        sa.UniqueConstraint("user_id", name=op.f("uq_psc_link_user_id")),
    )


def downgrade() -> None:
    """Drop ``psc_link``."""
    op.drop_table("psc_link")
