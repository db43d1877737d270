"""plans: dose plans per patient (inputs, computed plan, approval and co-signature)

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ketaclinic.store.base

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = ketaclinic.store.base.UTCDateTime(timezone=True)
    op.create_table(
        "dose_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("protocol_id", sa.String(length=64), nullable=False),
        sa.Column("context_id", sa.String(length=64), nullable=False),
        sa.Column("drug", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("verdict", sa.String(length=10), nullable=False),
        sa.Column("model_key", sa.String(length=40), nullable=True),
        sa.Column("dosing_weight_kg", sa.Float(), nullable=False),
        sa.Column("concentration_mg_ml", sa.Float(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("session_count", sa.Integer(), nullable=False),
        sa.Column("series_total_mg", sa.Float(), nullable=False),
        sa.Column("inputs_json", sa.Text(), nullable=False),
        sa.Column("plan_json", sa.Text(), nullable=False),
        sa.Column("soft_reasons_json", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", utc, nullable=True),
        sa.Column("cosigned_by", sa.String(length=64), nullable=True),
        sa.Column("cosigned_at", utc, nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("cancelled_at", utc, nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_dose_plans_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dose_plans")),
    )
    with op.batch_alter_table("dose_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dose_plans_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dose_plans_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dose_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dose_plans_status"))
        batch_op.drop_index(batch_op.f("ix_dose_plans_patient_id"))
    op.drop_table("dose_plans")
