"""prescriptions — structured lines within the professional scopes (issue 6).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27

The revision number is reserved in the chain so that areas developed side by side migrate in a fixed order;
it holds the tables of that area: one row per prescription (draft or validated, with the health document produced
from it) and its structured lines.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the prescription tables."""
    op.create_table(
        "prescription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("author_login", sa.String(length=80), nullable=False),
        sa.Column("author", sa.String(length=300), nullable=False),
        sa.Column("profession", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mentions", sa.Text(), nullable=False),
        sa.Column("document_row_id", sa.Integer(), nullable=True),
        sa.Column("renews_id", sa.Integer(), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_prescription_patient_id_patient"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["document_row_id"],
            ["health_document.id"],
            name=op.f("fk_prescription_document_row_id_health_document"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["renews_id"], ["prescription.id"], name=op.f("fk_prescription_renews_id_prescription"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescription")),
    )
    with op.batch_alter_table("prescription", schema=None) as batch_op:
        batch_op.create_index("ix_prescription_patient_created", ["patient_id", "created_at"], unique=False)
    op.create_table(
        "prescription_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prescription_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("item_key", sa.String(length=80), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("cis", sa.String(length=8), nullable=False),
        sa.Column("cip13", sa.String(length=13), nullable=False),
        sa.Column("atc", sa.String(length=10), nullable=False),
        sa.Column("lpp", sa.String(length=13), nullable=False),
        sa.Column("dosage", sa.Text(), nullable=False),
        sa.Column("duration_days", sa.Integer(), nullable=True),
        sa.Column("quantity", sa.String(length=100), nullable=False),
        sa.Column("renewals", sa.Integer(), nullable=False),
        sa.Column("non_substitutable", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prescription_id"],
            ["prescription.id"],
            name=op.f("fk_prescription_line_prescription_id_prescription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescription_line")),
        sa.UniqueConstraint("prescription_id", "position", name="uq_prescription_line_position"),
    )


def downgrade() -> None:
    """Drop the prescription tables."""
    op.drop_table("prescription_line")
    with op.batch_alter_table("prescription", schema=None) as batch_op:
        batch_op.drop_index("ix_prescription_patient_created")
    op.drop_table("prescription")
