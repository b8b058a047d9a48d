"""INS — INSi calls, identity verification, INS history (issue 3).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

The revision number is reserved in the chain so that areas developed side by side migrate in a fixed order;
it holds the tables of that area: INS source and verification columns on ``patient``, the qualification mode
of a status change, the INS history and the queue of pending verifications.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the INS columns and tables."""
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ins_source", sa.String(length=30), nullable=True))
        batch_op.add_column(
            sa.Column("transitional_qualification", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("ins_retrieved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("ins_verified_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("ins_verification_result", sa.String(length=10), nullable=True))
    with op.batch_alter_table("identity_status_change", schema=None) as batch_op:
        batch_op.add_column(sa.Column("qualification", sa.String(length=20), nullable=True))

    op.create_table(
        "ins_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("matricule", sa.String(length=15), nullable=False),
        sa.Column("oid", sa.String(length=40), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_ins_history_patient_id_patient"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ins_history")),
    )
    with op.batch_alter_table("ins_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ins_history_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ins_history_matricule"), ["matricule"], unique=False)

    op.create_table(
        "ins_verification_queue",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_ins_verification_queue_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_ins_verification_queue")),
    )
    with op.batch_alter_table("ins_verification_queue", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ins_verification_queue_next_attempt_at"), ["next_attempt_at"], unique=False
        )


def downgrade() -> None:
    """Drop the INS columns and tables."""
    with op.batch_alter_table("ins_verification_queue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ins_verification_queue_next_attempt_at"))
    op.drop_table("ins_verification_queue")
    with op.batch_alter_table("ins_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ins_history_matricule"))
        batch_op.drop_index(batch_op.f("ix_ins_history_patient_id"))
    op.drop_table("ins_history")
    with op.batch_alter_table("identity_status_change", schema=None) as batch_op:
        batch_op.drop_column("qualification")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_column("ins_verification_result")
        batch_op.drop_column("ins_verified_at")
        batch_op.drop_column("ins_retrieved_at")
        batch_op.drop_column("transitional_qualification")
        batch_op.drop_column("ins_source")
