"""agenda — appointments, care series, rounds, waiting list (issue 5).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

The revision number is reserved in the chain so that areas developed side by side migrate in a fixed order;
it holds the tables of that area.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the agenda tables."""
    op.create_table(
        "agenda_appointment_type",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("colour", sa.String(length=9), nullable=False),
        sa.Column("default_minutes", sa.Integer(), nullable=False),
        sa.Column("home_visit", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_agenda_appointment_type")),
    )
    op.create_table(
        "agenda_care_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("per_period", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("prescribed_sessions", sa.Integer(), nullable=False),
        sa.Column("prescriber", sa.String(length=200), nullable=False),
        sa.Column("prescription_date", sa.Date(), nullable=True),
        sa.Column("alert_remaining", sa.Integer(), nullable=False),
        sa.Column("place", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_agenda_care_series_patient_id_patient"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["user_account.id"], name=op.f("fk_agenda_care_series_practitioner_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_care_series")),
    )
    with op.batch_alter_table("agenda_care_series", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agenda_care_series_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "agenda_appointment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=255), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("series_id", sa.Integer(), nullable=True),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("place", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=False),
        sa.Column("door_code", sa.String(length=100), nullable=False),
        sa.Column("care", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("status_reason", sa.String(length=500), nullable=False),
        sa.Column("round_position", sa.Integer(), nullable=True),
        sa.Column("dmp_preparation", sa.Text(), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_agenda_appointment_patient_id_patient"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["user_account.id"], name=op.f("fk_agenda_appointment_practitioner_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["agenda_care_series.id"],
            name=op.f("fk_agenda_appointment_series_id_agenda_care_series"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_appointment")),
        sa.UniqueConstraint("uid", name=op.f("uq_agenda_appointment_uid")),
    )
    with op.batch_alter_table("agenda_appointment", schema=None) as batch_op:
        batch_op.create_index("ix_agenda_appointment_patient_start", ["patient_id", "start_at"], unique=False)
        batch_op.create_index("ix_agenda_appointment_practitioner_start", ["practitioner_id", "start_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_agenda_appointment_series_id"), ["series_id"], unique=False)
        batch_op.create_index("ix_agenda_appointment_start", ["start_at"], unique=False)

    op.create_table(
        "agenda_working_period",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["user_account.id"], name=op.f("fk_agenda_working_period_practitioner_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_working_period")),
    )
    with op.batch_alter_table("agenda_working_period", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agenda_working_period_practitioner_id"), ["practitioner_id"], unique=False)

    op.create_table(
        "agenda_practitioner_settings",
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("hours_configured", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["user_account.id"],
            name=op.f("fk_agenda_practitioner_settings_practitioner_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("practitioner_id", name=op.f("pk_agenda_practitioner_settings")),
    )
    op.create_table(
        "agenda_absence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["user_account.id"], name=op.f("fk_agenda_absence_practitioner_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_absence")),
    )
    with op.batch_alter_table("agenda_absence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agenda_absence_practitioner_id"), ["practitioner_id"], unique=False)

    op.create_table(
        "agenda_waiting_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=True),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("earliest", sa.Date(), nullable=True),
        sa.Column("latest", sa.Date(), nullable=True),
        sa.Column("weekdays", sa.String(length=20), nullable=False),
        sa.Column("part_of_day", sa.String(length=12), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_agenda_waiting_entry_patient_id_patient"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["user_account.id"], name=op.f("fk_agenda_waiting_entry_practitioner_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_waiting_entry")),
    )
    with op.batch_alter_table("agenda_waiting_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agenda_waiting_entry_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agenda_waiting_entry_status"), ["status"], unique=False)


def downgrade() -> None:
    """Drop the agenda tables."""
    for table in (
        "agenda_waiting_entry",
        "agenda_absence",
        "agenda_practitioner_settings",
        "agenda_working_period",
        "agenda_appointment",
        "agenda_care_series",
        "agenda_appointment_type",
    ):
        op.drop_table(table)
