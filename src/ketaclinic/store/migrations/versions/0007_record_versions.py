"""record versions: an edit names the version it read, so two editors never overwrite each other

Revision ID: 0007_record_versions
Revises: 0007_patient_alerts
Create Date: 2026-12-03 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_record_versions"
down_revision = "0007_patient_alerts"
branch_labels = None
# The screening, plans and outcomes branches create the other versioned tables.
depends_on = ("0002", "0003", "0005")

# The editable records at the time of this revision; existing rows start at version 1.
VERSIONED_TABLES = ("patients", "patient_measurements", "screenings", "dose_plans", "treatment_courses")


# Plain ALTER TABLE on both backends (SQLite >= 3.35 drops a column in place): rebuilding a table that
# other tables reference would break their foreign keys on SQLite.
def upgrade() -> None:
    for table in VERSIONED_TABLES:
        op.add_column(table, sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    for table in reversed(VERSIONED_TABLES):
        op.drop_column(table, "version")
