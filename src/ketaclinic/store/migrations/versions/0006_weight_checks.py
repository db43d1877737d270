"""weight checks: a registry weight's confirmation and strike-out; the weight and model of a stored Cp

Revision ID: 0006_weight_checks
Revises: 0004
Create Date: 2026-12-03 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ketaclinic.store.base

revision = "0006_weight_checks"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patient_measurements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirm_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("struck_out_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("struck_out_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("strike_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("session_adverse_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cp_weight_kg", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("cp_model_key", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("session_adverse_events", schema=None) as batch_op:
        batch_op.drop_column("cp_model_key")
        batch_op.drop_column("cp_weight_kg")
    with op.batch_alter_table("patient_measurements", schema=None) as batch_op:
        batch_op.drop_column("strike_reason")
        batch_op.drop_column("struck_out_by")
        batch_op.drop_column("struck_out_at")
        batch_op.drop_column("confirm_reason")
