"""health documents — CDA, PDF/A, XDM (issue 4).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

The revision number is reserved in the chain so that areas developed side by side migrate in a fixed order;
it holds the tables of that area: one row per document version (metadata, duplicate keys, the JSON source of
data) and its content (CDA and PDF bytes) in a separate table so that the list never reads the bytes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the document tables."""
    op.create_table(
        "health_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.String(length=200), nullable=False),
        sa.Column("set_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("type_system", sa.String(length=64), nullable=False),
        sa.Column("type_display", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=250), nullable=False),
        sa.Column("act_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_name", sa.String(length=250), nullable=False),
        sa.Column("provenance", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("confidentiality", sa.String(length=2), nullable=False),
        sa.Column("flags", sa.String(length=200), nullable=False),
        sa.Column("source_format", sa.String(length=10), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("structured", sa.Boolean(), nullable=False),
        sa.Column("replaces_document_id", sa.String(length=200), nullable=False),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("sent_dmp", sa.Boolean(), nullable=False),
        sa.Column("sent_mss", sa.Boolean(), nullable=False),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("validated_by", sa.String(length=300), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_health_document_patient_id_patient"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_document")),
        sa.UniqueConstraint("patient_id", "document_id", name="uq_health_document_patient_document"),
    )
    with op.batch_alter_table("health_document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_health_document_set_id"), ["set_id"], unique=False)
        batch_op.create_index("ix_health_document_patient_act", ["patient_id", "act_date"], unique=False)

    op.create_table(
        "health_document_content",
        sa.Column("document_pk", sa.Integer(), nullable=False),
        sa.Column("cda", sa.LargeBinary(), nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_pk"],
            ["health_document.id"],
            name=op.f("fk_health_document_content_document_pk_health_document"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_pk", name=op.f("pk_health_document_content")),
    )


def downgrade() -> None:
    """Drop the document tables."""
    op.drop_table("health_document_content")
    with op.batch_alter_table("health_document", schema=None) as batch_op:
        batch_op.drop_index("ix_health_document_patient_act")
        batch_op.drop_index(batch_op.f("ix_health_document_set_id"))
    op.drop_table("health_document")
