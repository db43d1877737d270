"""audit key: the chain is HMAC-keyed from here on; events already written are marked unkeyed

Revision ID: 0007_audit_key
Revises: 0006_alert_escalation
Create Date: 2026-12-03 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_audit_key"
down_revision = "0006_alert_escalation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "keyed_from_seq",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                server_default="1",
                nullable=False,
            )
        )
    # A chain that already has events was sealed with plain SHA-256: keying starts after its last event.
    op.execute("UPDATE audit_head SET keyed_from_seq = last_seq + 1")


def downgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("keyed_from_seq")
