"""cohort measures: whether an imported cohort recorded adverse events; each record's daily pain NRS

Revision ID: 0007_cohort_measures
Revises: 0007_audit_key
Create Date: 2026-12-03 17:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_cohort_measures"
down_revision = "0007_audit_key"
branch_labels = None
depends_on = "0005"  # the cohort tables are created on the 0005 branch


def upgrade() -> None:
    # Cohorts imported before this revision: whether their file had the column is unknown, so they
    # keep reading as recorded (what they showed until now).
    with op.batch_alter_table("cohorts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("adverse_events_recorded", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("cohort_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("daily_nrs", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("cohort_records", schema=None) as batch_op:
        batch_op.drop_column("daily_nrs")
    with op.batch_alter_table("cohorts", schema=None) as batch_op:
        batch_op.drop_column("adverse_events_recorded")
