"""clinical record — observations, forms, macros, prescriptions, letters (issue 6).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27

The revision number is reserved in the chain so that areas developed side by side migrate in a fixed order;
it holds the tables of that area.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the clinical-record tables."""
    op.create_table(
        "record_form_template",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("key", "version", name=op.f("pk_record_form_template")),
    )
    op.create_table(
        "record_macro",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("trigger", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_macro")),
        sa.UniqueConstraint("owner", "trigger", name="uq_record_macro_owner_trigger"),
    )
    op.create_table(
        "record_alert_dismissal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("alert_key", sa.String(length=300), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_record_alert_dismissal_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_alert_dismissal")),
    )
    with op.batch_alter_table("record_alert_dismissal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_record_alert_dismissal_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "record_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("author_login", sa.String(length=80), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("template_key", sa.String(length=80), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("values_json", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_record_draft_patient_id_patient"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_draft")),
        sa.UniqueConstraint("patient_id", "author_login", name="uq_record_draft_patient_author"),
    )
    op.create_table(
        "record_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=120), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("start", sa.Date(), nullable=True),
        sa.Column("end", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_record_entry_patient_id_patient"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_entry")),
    )
    with op.batch_alter_table("record_entry", schema=None) as batch_op:
        batch_op.create_index(
            "ix_record_entry_kind_patient", ["kind", "patient_id", "start", "code", "active"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_record_entry_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "record_observation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_login", sa.String(length=80), nullable=False),
        sa.Column("author", sa.String(length=300), nullable=False),
        sa.Column("profession", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("template_key", sa.String(length=80), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("values_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_record_observation_patient_id_patient"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_observation")),
    )
    with op.batch_alter_table("record_observation", schema=None) as batch_op:
        batch_op.create_index("ix_record_observation_author_at", ["author_login", "at"], unique=False)
        batch_op.create_index("ix_record_observation_patient_at", ["patient_id", "at"], unique=False)
        batch_op.create_index("ix_record_observation_template_at", ["template_key", "at"], unique=False)


def downgrade() -> None:
    """Drop the clinical-record tables (indexes go with them)."""
    op.drop_table("record_observation")
    op.drop_table("record_entry")
    op.drop_table("record_draft")
    op.drop_table("record_alert_dismissal")
    op.drop_table("record_macro")
    op.drop_table("record_form_template")
