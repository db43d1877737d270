"""outcomes: treatment courses, follow-up items, PROs, one-time links, imported cohorts

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-21 11:53:21.399756
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ketaclinic.store.base

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cohorts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("imported_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohorts")),
        sa.UniqueConstraint("name", name=op.f("uq_cohorts_name")),
    )
    op.create_table(
        "cohort_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("patient_ref", sa.String(length=64), nullable=False),
        sa.Column("diagnosis", sa.String(length=10), nullable=False),
        sa.Column("pain_mechanism", sa.String(length=20), nullable=False),
        sa.Column("baseline_nrs", sa.Float(), nullable=True),
        sa.Column("followup_nrs", sa.Float(), nullable=True),
        sa.Column("discontinued", sa.String(length=20), nullable=False),
        sa.Column("relief_weeks", sa.Float(), nullable=True),
        sa.Column("relief_ongoing", sa.Boolean(), nullable=True),
        sa.Column("age", sa.Float(), nullable=True),
        sa.Column("sex", sa.String(length=10), nullable=True),
        sa.Column("weight_kg", sa.Float(), nullable=True),
        sa.Column("sessions_planned", sa.Integer(), nullable=True),
        sa.Column("sessions_completed", sa.Integer(), nullable=True),
        sa.Column("total_dose_mg", sa.Float(), nullable=True),
        sa.Column("adverse_events", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohorts.id"],
            name=op.f("fk_cohort_records_cohort_id_cohorts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort_records")),
        sa.UniqueConstraint("cohort_id", "patient_ref", name=op.f("uq_cohort_records_cohort_id")),
    )
    with op.batch_alter_table("cohort_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cohort_records_cohort_id"), ["cohort_id"], unique=False)

    op.create_table(
        "treatment_courses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("series_end", sa.Date(), nullable=True),
        sa.Column("sessions_planned", sa.Integer(), nullable=True),
        sa.Column("endpoint_weeks", sa.Integer(), nullable=True),
        sa.Column("discontinued", sa.String(length=20), nullable=False),
        sa.Column("discontinued_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("discontinued_by", sa.Integer(), nullable=True),
        sa.Column("created_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["discontinued_by"], ["users.id"], name=op.f("fk_treatment_courses_discontinued_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_treatment_courses_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treatment_courses")),
    )
    with op.batch_alter_table("treatment_courses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_treatment_courses_discontinued"), ["discontinued"], unique=False)
        batch_op.create_index(batch_op.f("ix_treatment_courses_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "followup_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("session_number", sa.Integer(), nullable=True),
        sa.Column("weeks_after_series", sa.Integer(), nullable=True),
        sa.Column("instruments", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("completed_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["treatment_courses.id"],
            name=op.f("fk_followup_items_course_id_treatment_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_followup_items_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_items")),
    )
    with op.batch_alter_table("followup_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_followup_items_course_id"), ["course_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_followup_items_due_on"), ["due_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_followup_items_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_followup_items_status"), ["status"], unique=False)

    op.create_table(
        "pro_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("followup_item_id", sa.Integer(), nullable=True),
        sa.Column("instruments", sa.String(length=100), nullable=False),
        sa.Column("created_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("expires_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_pro_links_created_by_users")),
        sa.ForeignKeyConstraint(
            ["followup_item_id"],
            ["followup_items.id"],
            name=op.f("fk_pro_links_followup_item_id_followup_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_pro_links_patient_id_patients"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pro_links")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_pro_links_token_sha256")),
    )
    with op.batch_alter_table("pro_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pro_links_followup_item_id"), ["followup_item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pro_links_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "pro_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("followup_item_id", sa.Integer(), nullable=True),
        sa.Column("timepoint", sa.String(length=20), nullable=False),
        sa.Column("weeks_after_series", sa.Integer(), nullable=True),
        sa.Column("collected_at", ketaclinic.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(length=10), nullable=False),
        sa.Column("entered_by", sa.Integer(), nullable=True),
        sa.Column("nrs_recall", sa.String(length=4), nullable=False),
        sa.Column("nrs_now", sa.Float(), nullable=True),
        sa.Column("nrs_average", sa.Float(), nullable=True),
        sa.Column("nrs_worst", sa.Float(), nullable=True),
        sa.Column("pain_nrs", sa.Float(), nullable=True),
        sa.Column("pgic", sa.Integer(), nullable=True),
        sa.Column("bpi_severity", sa.Float(), nullable=True),
        sa.Column("bpi_interference", sa.Float(), nullable=True),
        sa.Column("phq9_total", sa.Integer(), nullable=True),
        sa.Column("gad7_total", sa.Integer(), nullable=True),
        sa.Column("answers_json", sa.Text(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["treatment_courses.id"],
            name=op.f("fk_pro_responses_course_id_treatment_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["entered_by"], ["users.id"], name=op.f("fk_pro_responses_entered_by_users")),
        sa.ForeignKeyConstraint(
            ["followup_item_id"],
            ["followup_items.id"],
            name=op.f("fk_pro_responses_followup_item_id_followup_items"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_pro_responses_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pro_responses")),
    )
    with op.batch_alter_table("pro_responses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pro_responses_collected_at"), ["collected_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_pro_responses_course_id"), ["course_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pro_responses_followup_item_id"), ["followup_item_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pro_responses_patient_id"), ["patient_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pro_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pro_responses_patient_id"))
        batch_op.drop_index(batch_op.f("ix_pro_responses_followup_item_id"))
        batch_op.drop_index(batch_op.f("ix_pro_responses_course_id"))
        batch_op.drop_index(batch_op.f("ix_pro_responses_collected_at"))

    op.drop_table("pro_responses")
    with op.batch_alter_table("pro_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pro_links_patient_id"))
        batch_op.drop_index(batch_op.f("ix_pro_links_followup_item_id"))

    op.drop_table("pro_links")
    with op.batch_alter_table("followup_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_followup_items_status"))
        batch_op.drop_index(batch_op.f("ix_followup_items_patient_id"))
        batch_op.drop_index(batch_op.f("ix_followup_items_due_on"))
        batch_op.drop_index(batch_op.f("ix_followup_items_course_id"))

    op.drop_table("followup_items")
    with op.batch_alter_table("treatment_courses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_treatment_courses_patient_id"))
        batch_op.drop_index(batch_op.f("ix_treatment_courses_discontinued"))

    op.drop_table("treatment_courses")
    with op.batch_alter_table("cohort_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cohort_records_cohort_id"))

    op.drop_table("cohort_records")
    op.drop_table("cohorts")
