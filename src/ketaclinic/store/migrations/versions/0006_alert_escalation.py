"""alert escalation: one open alert per group, the findings it collected, durable re-notifications

Revision ID: 0006_alert_escalation
Revises: 0006_session_ending_reasons
Create Date: 2026-12-03 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ketaclinic.store.base

revision = "0006_alert_escalation"
down_revision = "0006_session_ending_reasons"
branch_labels = None
depends_on = None

# The field groups of ketaclinic.monitoring.alert_groups at the time of this revision.
_GROUP_OF_FIELD = {
    "sbp": "blood_pressure",
    "dbp": "blood_pressure",
    "hr": "heart_rate",
    "spo2": "oxygenation",
    "rr": "respiration",
    "rass": "sedation",
    "moaas": "sedation",
    "dissociation": "psychomimetic",
    "cadss6": "psychomimetic",
    "hallucinations": "psychomimetic",
    "nrs": "pain",
    "nausea": "nausea",
    "temp_c": "temperature",
    "session_total_mg": "dose",
}
_RANK = {"info": 0, "warning": 1, "critical": 2}


def _group_alerts(connection: sa.Connection) -> list[dict[str, object]]:
    """Group existing alerts, fold extra open ones of a group into the worst; each alert's history row."""
    rows = connection.execute(
        sa.text(
            "SELECT id, session_id, trigger_key, observation_id, rule_key, severity, advice, message, field,"
            " value, t_min, state, raised_at FROM session_alerts ORDER BY id"
        )
    ).mappings()
    history: list[dict[str, object]] = []
    kept: dict[tuple[int, str], dict[str, object]] = {}
    for row in list(rows):
        group = _GROUP_OF_FIELD.get(row["field"] or "", "charting")
        connection.execute(
            sa.text(
                "UPDATE session_alerts SET alert_group = :g, clinic_wide = :w, last_raised_at = raised_at,"
                " critical_since = CASE WHEN severity = 'critical' THEN raised_at END WHERE id = :id"
            ),
            {
                "g": group,
                "w": row["severity"] == "critical" or row["advice"] == "stop_and_call",
                "id": row["id"],
            },
        )
        entry = {**row, "alert_group": group, "alert_id": row["id"]}
        history.append(entry)
        if row["state"] != "open":
            continue
        first = kept.get((row["session_id"], group))
        if first is None:
            kept[(row["session_id"], group)] = entry
        elif _RANK[row["severity"]] > _RANK[str(first["severity"])]:
            kept[(row["session_id"], group)] = entry
            _fold(connection, history, first["id"], row["id"])
        else:
            _fold(connection, history, row["id"], first["id"])
    return history


def _fold(
    connection: sa.Connection, history: list[dict[str, object]], folded_id: object, into_id: object
) -> None:
    connection.execute(
        sa.text(
            "UPDATE session_alerts SET state = 'resolved', resolved_by = 'system', resolved_at = raised_at,"
            " resolution = :why WHERE id = :id"
        ),
        {"why": f"folded into alert {into_id}: one open alert per group", "id": folded_id},
    )
    for entry in history:
        if entry["alert_id"] == folded_id:
            entry["alert_id"] = into_id


def _record_history(connection: sa.Connection, history: list[dict[str, object]]) -> None:
    for entry in history:
        connection.execute(
            sa.text(
                f"INSERT INTO session_alert_findings ({', '.join(_HISTORY_COLUMNS)})"
                f" VALUES ({', '.join(':' + name for name in _HISTORY_COLUMNS)})"
            ),
            {key: entry[key] for key in _HISTORY_COLUMNS},
        )


_HISTORY_COLUMNS = (
    "session_id",
    "alert_id",
    "trigger_key",
    "observation_id",
    "alert_group",
    "rule_key",
    "severity",
    "message",
    "value",
    "t_min",
    "raised_at",
)


def upgrade() -> None:
    when = ketaclinic.store.base.UTCDateTime(timezone=True)
    with op.batch_alter_table("session_alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("alert_group", sa.String(length=20), nullable=False, server_default="charting")
        )
        batch_op.add_column(sa.Column("clinic_wide", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("last_raised_at", when, nullable=True))
        batch_op.add_column(sa.Column("critical_since", when, nullable=True))
        batch_op.add_column(sa.Column("ack_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("resolved_by_observation_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_session_alerts_resolved_by_observation_id_session_observations"),
            "session_observations",
            ["resolved_by_observation_id"],
            ["id"],
        )
        batch_op.create_index(batch_op.f("ix_session_alerts_clinic_wide"), ["clinic_wide"], unique=False)
    history = _group_alerts(op.get_bind())
    with op.batch_alter_table("session_alerts", schema=None) as batch_op:
        batch_op.alter_column("alert_group", existing_type=sa.String(length=20), server_default=None)
        batch_op.alter_column("clinic_wide", existing_type=sa.Boolean(), server_default=None)
        batch_op.alter_column("last_raised_at", existing_type=when, nullable=False)
    op.create_table(
        "session_alert_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("trigger_key", sa.String(length=160), nullable=False),
        sa.Column("observation_id", sa.Integer(), nullable=True),
        sa.Column("alert_group", sa.String(length=20), nullable=False),
        sa.Column("rule_key", sa.String(length=60), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("t_min", sa.Float(), nullable=True),
        sa.Column("raised_at", when, nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["session_alerts.id"],
            name=op.f("fk_session_alert_findings_alert_id_session_alerts"),
        ),
        sa.ForeignKeyConstraint(
            ["observation_id"],
            ["session_observations.id"],
            name=op.f("fk_session_alert_findings_observation_id_session_observations"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_session_alert_findings_session_id_infusion_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_alert_findings")),
        sa.UniqueConstraint("session_id", "trigger_key", name=op.f("uq_session_alert_findings_session_id")),
    )
    with op.batch_alter_table("session_alert_findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_alert_findings_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_session_alert_findings_observation_id"), ["observation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_session_alert_findings_session_id"), ["session_id"], unique=False
        )
    op.create_table(
        "alert_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("delivered_at", when, nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["session_alerts.id"], name=op.f("fk_alert_notifications_alert_id_session_alerts")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_alert_notifications_session_id_infusion_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notifications")),
        sa.UniqueConstraint("alert_id", "kind", name=op.f("uq_alert_notifications_alert_id")),
    )
    with op.batch_alter_table("alert_notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_notifications_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_notifications_session_id"), ["session_id"], unique=False)
    _record_history(op.get_bind(), history)
    # A plain CREATE INDEX: rebuilding session_alerts now would trip the new tables' foreign keys on SQLite.
    op.create_index(
        "uq_session_alerts_one_open_per_group",
        "session_alerts",
        ["session_id", "alert_group"],
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("uq_session_alerts_one_open_per_group", table_name="session_alerts")
    op.drop_table("alert_notifications")
    op.drop_table("session_alert_findings")
    with op.batch_alter_table("session_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_alerts_clinic_wide"))
        batch_op.drop_constraint(
            batch_op.f("fk_session_alerts_resolved_by_observation_id_session_observations"),
            type_="foreignkey",
        )
        for column in (
            "resolved_by_observation_id",
            "ack_note",
            "critical_since",
            "last_raised_at",
            "clinic_wide",
            "alert_group",
        ):
            batch_op.drop_column(column)
