"""scheduling: appointments, the grid steps each holds for its chair and a nurse, the calendar's values

Revision ID: 0008_scheduling
Revises: 0008_accounts
Create Date: 2026-12-04 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ketaclinic.store.base

revision = "0008_scheduling"
down_revision = "0008_accounts"
branch_labels = None
depends_on = None

HOLDING = "status NOT IN ('cancelled', 'no_show')"


def _utc() -> ketaclinic.store.base.UTCDateTime:
    return ketaclinic.store.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "appointments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("session_number", sa.Integer(), nullable=False),
        sa.Column("chair", sa.String(length=32), nullable=False),
        sa.Column("starts_at", _utc(), nullable=False),
        sa.Column("infusion_starts_at", _utc(), nullable=False),
        sa.Column("infusion_ends_at", _utc(), nullable=False),
        sa.Column("ends_at", _utc(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_appointments_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["dose_plans.id"], name=op.f("fk_appointments_plan_id_dose_plans")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_appointments_session_id_infusion_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
    )
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        for column in ("patient_id", "plan_id", "starts_at", "status", "session_id"):
            batch_op.create_index(batch_op.f(f"ix_appointments_{column}"), [column], unique=False)
        batch_op.create_index(
            "uq_appointments_plan_session_holding",
            ["plan_id", "session_number"],
            unique=True,
            sqlite_where=sa.text(HOLDING),
            postgresql_where=sa.text(HOLDING),
        )
    op.create_table(
        "appointment_chair_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("chair", sa.String(length=32), nullable=False),
        sa.Column("slot_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_appointment_chair_slots_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment_chair_slots")),
        sa.UniqueConstraint("chair", "slot_at", name=op.f("uq_appointment_chair_slots_chair")),
    )
    op.create_table(
        "appointment_nurse_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("slot_at", _utc(), nullable=False),
        sa.Column("seat", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_appointment_nurse_slots_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment_nurse_slots")),
        sa.UniqueConstraint("slot_at", "seat", name=op.f("uq_appointment_nurse_slots_slot_at")),
    )
    for table in ("appointment_chair_slots", "appointment_nurse_slots"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_appointment_id"), ["appointment_id"], unique=False)
    op.create_table(
        "clinic_calendar",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entries_json", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_calendar")),
    )


def downgrade() -> None:
    op.drop_table("clinic_calendar")
    for table in ("appointment_nurse_slots", "appointment_chair_slots"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_appointment_id"))
        op.drop_table(table)
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index("uq_appointments_plan_session_holding")
        for column in ("session_id", "status", "starts_at", "plan_id", "patient_id"):
            batch_op.drop_index(batch_op.f(f"ix_appointments_{column}"))
    op.drop_table("appointments")
