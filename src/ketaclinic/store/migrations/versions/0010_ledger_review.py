"""ledger review: clinic alerts (no session, no patient) unique per trigger key; a note on each ledger product

Revision ID: 0010_ledger_review
Revises: 0009_outbox
Create Date: 2026-12-04 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_ledger_review"
down_revision = "0009_outbox"
branch_labels = None
depends_on = None

_CLINIC_ONLY = "session_id IS NULL AND patient_id IS NULL"
_INDEXES = (
    ("uq_session_alerts_clinic_trigger", "session_alerts"),
    ("uq_session_alert_findings_clinic_trigger", "session_alert_findings"),
)


def upgrade() -> None:
    for name, table in _INDEXES:
        op.create_index(
            name,
            table,
            ["trigger_key"],
            unique=True,
            sqlite_where=sa.text(_CLINIC_ONLY),
            postgresql_where=sa.text(_CLINIC_ONLY),
        )
    with op.batch_alter_table("ledger_products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note", sa.String(length=200), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("ledger_products", schema=None) as batch_op:
        batch_op.drop_column("note")
    # The columns already allow an alert of no session and no patient; only their uniqueness goes.
    for name, table in _INDEXES:
        op.drop_index(name, table_name=table)
