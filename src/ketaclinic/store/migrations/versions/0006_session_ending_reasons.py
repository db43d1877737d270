"""session ending reasons: why an infusion ended early, why a session started out of its schedule

Revision ID: 0006_session_ending_reasons
Revises: 0006_weight_checks
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_session_ending_reasons"
down_revision = "0006_weight_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("infusion_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("early_end_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("start_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("infusion_sessions", schema=None) as batch_op:
        batch_op.drop_column("start_reason")
        batch_op.drop_column("early_end_reason")
