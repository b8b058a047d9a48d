"""letters and correspondents book (issue 6).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27

The revision number is reserved in the chain so that areas developed side by side migrate in a fixed order;
it holds the tables of that area.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SEARCH_KEY = sa.String(length=120).with_variant(sa.String(length=120, collation="C"), "postgresql")


def upgrade() -> None:
    """Create the correspondents book, its links to patients, letters and letter templates."""
    op.create_table(
        "letter_correspondent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("civility", sa.String(length=10), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("profession", sa.String(length=100), nullable=False),
        sa.Column("rpps", sa.String(length=11), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("mssante_address", sa.String(length=320), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sort_key", SEARCH_KEY, nullable=False),
        sa.Column("search_text", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_correspondent")),
    )
    with op.batch_alter_table("letter_correspondent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_letter_correspondent_sort_key"), ["sort_key"], unique=False)

    op.create_table(
        "letter_patient_correspondent",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("correspondent_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(
            ["correspondent_id"],
            ["letter_correspondent.id"],
            name=op.f("fk_letter_patient_correspondent_correspondent_id_letter_correspondent"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_letter_patient_correspondent_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "correspondent_id", name=op.f("pk_letter_patient_correspondent")),
    )
    with op.batch_alter_table("letter_patient_correspondent", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_letter_patient_correspondent_correspondent_id"), ["correspondent_id"], unique=False
        )

    op.create_table(
        "letter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("author_login", sa.String(length=80), nullable=False),
        sa.Column("author", sa.String(length=300), nullable=False),
        sa.Column("template_key", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("correspondent_id", sa.Integer(), nullable=True),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("document_row_id", sa.Integer(), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["correspondent_id"],
            ["letter_correspondent.id"],
            name=op.f("fk_letter_correspondent_id_letter_correspondent"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["document_row_id"],
            ["health_document.id"],
            name=op.f("fk_letter_document_row_id_health_document"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_letter_patient_id_patient"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter")),
    )
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.create_index("ix_letter_patient_updated", ["patient_id", "updated_at"], unique=False)

    op.create_table(
        "letter_template",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("key", "version", name=op.f("pk_letter_template")),
    )


def downgrade() -> None:
    """Drop the tables of this area."""
    op.drop_table("letter_template")
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_index("ix_letter_patient_updated")
    op.drop_table("letter")
    with op.batch_alter_table("letter_patient_correspondent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_letter_patient_correspondent_correspondent_id"))
    op.drop_table("letter_patient_correspondent")
    with op.batch_alter_table("letter_correspondent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_letter_correspondent_sort_key"))
    op.drop_table("letter_correspondent")
