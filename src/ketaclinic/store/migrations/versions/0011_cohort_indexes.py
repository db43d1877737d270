"""cohort indexes: covering indexes for the clinic cohort's aggregates (rate segments, sessions, PRO answers)

Revision ID: 0011_cohort_indexes
Revises: 0010_ledger_review
Create Date: 2026-12-04 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_cohort_indexes"
down_revision = "0010_ledger_review"
branch_labels = None
depends_on = None

_BASELINE_ANSWERS = "timepoint = 'baseline' AND course_id IS NOT NULL AND pain_nrs IS NOT NULL"
_AFTER_SERIES_ANSWERS = (
    "timepoint = 'after_series' AND course_id IS NOT NULL AND weeks_after_series IS NOT NULL "
    "AND pain_nrs IS NOT NULL"
)
_INDEXES: tuple[tuple[str, str, list[str], str | None], ...] = (
    (
        "ix_session_rate_segments_spans",
        "session_rate_segments",
        ["session_id", "started_at", "id", "rate_mg_h"],
        None,
    ),
    (
        "ix_infusion_sessions_totals",
        "infusion_sessions",
        ["id", "patient_id", "plan_id", "started_at", "ended_at"],
        None,
    ),
    (
        "ix_pro_responses_baseline_answers",
        "pro_responses",
        ["course_id", "collected_at", "id", "pain_nrs"],
        _BASELINE_ANSWERS,
    ),
    (
        "ix_pro_responses_after_series_answers",
        "pro_responses",
        ["course_id", "weeks_after_series", "collected_at", "id", "pain_nrs"],
        _AFTER_SERIES_ANSWERS,
    ),
)


def upgrade() -> None:
    for name, table, columns, where in _INDEXES:
        predicate = None if where is None else sa.text(where)
        op.create_index(
            name, table, columns, unique=False, sqlite_where=predicate, postgresql_where=predicate
        )


def downgrade() -> None:
    for name, table, _columns, _where in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
