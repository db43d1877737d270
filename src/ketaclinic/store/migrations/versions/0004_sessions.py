"""sessions: infusion sessions, rate segments, flowsheet, alerts, adverse events, medications, addenda

Revision ID: 0004
Revises: 0001
Depends on: 0003 (a session references dose_plans)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ketaclinic.store.base

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = "0003"


def upgrade() -> None:
    op.create_table(
        "infusion_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("session_number", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("scheduled_on", sa.Date(), nullable=False),
        sa.Column("drug", sa.String(length=20), nullable=False),
        sa.Column("model_key", sa.String(length=40), nullable=False),
        sa.Column("context_id", sa.String(length=80), nullable=False),
        sa.Column("concentration_mg_ml", sa.Float(), nullable=False),
        sa.Column("dosing_weight_kg", sa.Float(), nullable=False),
        sa.Column("cadence", sa.String(length=20), nullable=False),
        sa.Column("measured_weight_kg", sa.Float(), nullable=True),
        sa.Column("checkin_json", sa.Text(), nullable=False),
        sa.Column("discharge_json", sa.Text(), nullable=False),
        sa.Column("end_state", sa.String(length=20), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_in_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("discharged_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("signed_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("signed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_infusion_sessions_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["dose_plans.id"], name=op.f("fk_infusion_sessions_plan_id_dose_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_infusion_sessions")),
        sa.UniqueConstraint("plan_id", "session_number", name=op.f("uq_infusion_sessions_plan_id")),
    )
    with op.batch_alter_table("infusion_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_infusion_sessions_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_infusion_sessions_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_infusion_sessions_scheduled_on"), ["scheduled_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_infusion_sessions_state"), ["state"], unique=False)

    op.create_table(
        "session_addenda",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("created_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_session_addenda_session_id_infusion_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_addenda")),
    )
    with op.batch_alter_table("session_addenda", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_addenda_session_id"), ["session_id"], unique=False)

    op.create_table(
        "session_adverse_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("onset_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cp_at_onset_ng_ml", sa.Float(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("charted_by", sa.String(length=64), nullable=False),
        sa.Column("charted_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_session_adverse_events_session_id_infusion_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_adverse_events")),
    )
    with op.batch_alter_table("session_adverse_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_session_adverse_events_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "session_observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("observed_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("phase", sa.String(length=12), nullable=False),
        sa.Column("values_json", sa.Text(), nullable=False),
        sa.Column("interpretation_json", sa.Text(), nullable=False),
        sa.Column("loinc_json", sa.Text(), nullable=False),
        sa.Column("charted_by", sa.String(length=64), nullable=False),
        sa.Column("charted_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_session_observations_session_id_infusion_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_observations")),
    )
    with op.batch_alter_table("session_observations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_session_observations_observed_at"), ["observed_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_session_observations_session_id"), ["session_id"], unique=False)

    op.create_table(
        "session_rate_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("started_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pump_ml_h", sa.Float(), nullable=False),
        sa.Column("concentration_mg_ml", sa.Float(), nullable=False),
        sa.Column("rate_mg_h", sa.Float(), nullable=False),
        sa.Column("rate_mg_kg_h", sa.Float(), nullable=False),
        sa.Column("weight_kg", sa.Float(), nullable=False),
        sa.Column("entered_as", sa.String(length=10), nullable=False),
        sa.Column("verdict", sa.String(length=10), nullable=False),
        sa.Column("check_json", sa.Text(), nullable=False),
        sa.Column("limit_reason", sa.Text(), nullable=False),
        sa.Column("planned_rate_mg_h", sa.Float(), nullable=True),
        sa.Column("deviation", sa.Boolean(), nullable=False),
        sa.Column("deviation_reason", sa.Text(), nullable=False),
        sa.Column("charted_by", sa.String(length=64), nullable=False),
        sa.Column("charted_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_session_rate_segments_session_id_infusion_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_rate_segments")),
    )
    with op.batch_alter_table("session_rate_segments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_rate_segments_session_id"), ["session_id"], unique=False)

    op.create_table(
        "session_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("trigger_key", sa.String(length=160), nullable=False),
        sa.Column("observation_id", sa.Integer(), nullable=True),
        sa.Column("rule_key", sa.String(length=60), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("advice", sa.String(length=30), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("field", sa.String(length=30), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("t_min", sa.Float(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_status", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=15), nullable=False),
        sa.Column("raised_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("action_taken", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["observation_id"],
            ["session_observations.id"],
            name=op.f("fk_session_alerts_observation_id_session_observations"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_session_alerts_session_id_infusion_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_alerts")),
        sa.UniqueConstraint("session_id", "trigger_key", name=op.f("uq_session_alerts_session_id")),
    )
    with op.batch_alter_table("session_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_session_alerts_observation_id"), ["observation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_session_alerts_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_session_alerts_state"), ["state"], unique=False)

    op.create_table(
        "session_medications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("medication", sa.String(length=40), nullable=False),
        sa.Column("dose", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=12), nullable=False),
        sa.Column("route", sa.String(length=20), nullable=False),
        sa.Column("given_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("adverse_event_id", sa.Integer(), nullable=True),
        sa.Column("check_json", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("charted_by", sa.String(length=64), nullable=False),
        sa.Column("charted_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["adverse_event_id"],
            ["session_adverse_events.id"],
            name=op.f("fk_session_medications_adverse_event_id_session_adverse_events"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_session_medications_session_id_infusion_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_medications")),
    )
    with op.batch_alter_table("session_medications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_medications_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("session_medications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_medications_session_id"))

    op.drop_table("session_medications")
    with op.batch_alter_table("session_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_alerts_state"))
        batch_op.drop_index(batch_op.f("ix_session_alerts_session_id"))
        batch_op.drop_index(batch_op.f("ix_session_alerts_observation_id"))

    op.drop_table("session_alerts")
    with op.batch_alter_table("session_rate_segments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_rate_segments_session_id"))

    op.drop_table("session_rate_segments")
    with op.batch_alter_table("session_observations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_observations_session_id"))
        batch_op.drop_index(batch_op.f("ix_session_observations_observed_at"))

    op.drop_table("session_observations")
    with op.batch_alter_table("session_adverse_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_adverse_events_session_id"))

    op.drop_table("session_adverse_events")
    with op.batch_alter_table("session_addenda", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_addenda_session_id"))

    op.drop_table("session_addenda")
    with op.batch_alter_table("infusion_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_infusion_sessions_state"))
        batch_op.drop_index(batch_op.f("ix_infusion_sessions_scheduled_on"))
        batch_op.drop_index(batch_op.f("ix_infusion_sessions_plan_id"))
        batch_op.drop_index(batch_op.f("ix_infusion_sessions_patient_id"))

    op.drop_table("infusion_sessions")
