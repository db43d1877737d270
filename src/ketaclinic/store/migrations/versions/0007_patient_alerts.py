"""patient alerts: an alert (and its findings, its notifications) may belong to a patient outside any session

Revision ID: 0007_patient_alerts
Revises: 0007_courses_links
Create Date: 2026-12-03 17:20:00
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0007_patient_alerts"
down_revision = "0007_courses_links"
branch_labels = None
depends_on = "0005"  # the outcomes tables (pro_responses, treatment_courses) it refers to

_PATIENT_ONLY = "session_id IS NULL"
_OPEN_PATIENT_ONLY = "state = 'open' AND session_id IS NULL"


@contextmanager
def _sqlite_foreign_keys_off() -> Iterator[None]:
    """Rebuilding session_alerts on SQLite drops a table its findings and notifications refer to.

    SQLite's documented table-rebuild procedure turns foreign keys off around it, which only takes
    effect between transactions (so the work so far is committed first), and checks every reference
    before turning them on again.
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    # The driver connection runs in autocommit: SQLAlchemy's BEGIN is the only one issued on it, and
    # a pragma sent past SQLAlchemy therefore runs between transactions.
    driver = bind.connection.driver_connection
    assert driver is not None
    bind.commit()
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:3]}")
        bind.commit()
    finally:
        if bind.in_transaction():
            bind.rollback()
        driver.execute("PRAGMA foreign_keys=ON")


def _one_open_per_session_group() -> None:
    op.create_index(
        "uq_session_alerts_one_open_per_group",
        "session_alerts",
        ["session_id", "alert_group"],
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    )


def upgrade() -> None:
    # The partial index is dropped and made again around the rebuild, which would not keep its WHERE.
    op.drop_index("uq_session_alerts_one_open_per_group", table_name="session_alerts")
    with _sqlite_foreign_keys_off(), op.batch_alter_table("session_alerts", schema=None) as batch_op:
        batch_op.alter_column("session_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("patient_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("course_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("pro_response_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_session_alerts_patient_id_patients"), "patients", ["patient_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_session_alerts_course_id_treatment_courses"),
            "treatment_courses",
            ["course_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_session_alerts_pro_response_id_pro_responses"),
            "pro_responses",
            ["pro_response_id"],
            ["id"],
        )
        batch_op.create_index(batch_op.f("ix_session_alerts_patient_id"), ["patient_id"], unique=False)
    with op.batch_alter_table("session_alert_findings", schema=None) as batch_op:
        batch_op.alter_column("session_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("patient_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("pro_response_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_session_alert_findings_patient_id_patients"), "patients", ["patient_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_session_alert_findings_pro_response_id_pro_responses"),
            "pro_responses",
            ["pro_response_id"],
            ["id"],
        )
        batch_op.create_index(
            batch_op.f("ix_session_alert_findings_patient_id"), ["patient_id"], unique=False
        )
    with op.batch_alter_table("alert_notifications", schema=None) as batch_op:
        batch_op.alter_column("session_id", existing_type=sa.Integer(), nullable=True)
    _one_open_per_session_group()
    # Every alert names its patient: the session alerts already stored take their session's patient.
    for table in ("session_alerts", "session_alert_findings"):
        op.execute(
            f"UPDATE {table} SET patient_id = (SELECT infusion_sessions.patient_id FROM infusion_sessions"
            f" WHERE infusion_sessions.id = {table}.session_id)"
        )
    op.create_index(
        "uq_session_alerts_one_open_per_patient_group",
        "session_alerts",
        ["patient_id", "alert_group"],
        unique=True,
        sqlite_where=sa.text(_OPEN_PATIENT_ONLY),
        postgresql_where=sa.text(_OPEN_PATIENT_ONLY),
    )
    op.create_index(
        "uq_session_alert_findings_patient_trigger",
        "session_alert_findings",
        ["patient_id", "trigger_key"],
        unique=True,
        sqlite_where=sa.text(_PATIENT_ONLY),
        postgresql_where=sa.text(_PATIENT_ONLY),
    )


def downgrade() -> None:
    op.drop_index("uq_session_alert_findings_patient_trigger", table_name="session_alert_findings")
    op.drop_index("uq_session_alerts_one_open_per_patient_group", table_name="session_alerts")
    # Alerts outside any session cannot exist in the older schema: they go with their findings.
    patient_only = "SELECT id FROM session_alerts WHERE session_id IS NULL"
    op.execute(f"DELETE FROM alert_notifications WHERE alert_id IN ({patient_only})")
    op.execute("DELETE FROM session_alert_findings WHERE session_id IS NULL")
    op.execute("DELETE FROM session_alerts WHERE session_id IS NULL")
    with op.batch_alter_table("alert_notifications", schema=None) as batch_op:
        batch_op.alter_column("session_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("session_alert_findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_alert_findings_patient_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_session_alert_findings_pro_response_id_pro_responses"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_session_alert_findings_patient_id_patients"), type_="foreignkey"
        )
        batch_op.drop_column("pro_response_id")
        batch_op.drop_column("patient_id")
        batch_op.alter_column("session_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index("uq_session_alerts_one_open_per_group", table_name="session_alerts")
    with _sqlite_foreign_keys_off(), op.batch_alter_table("session_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_alerts_patient_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_session_alerts_pro_response_id_pro_responses"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_session_alerts_course_id_treatment_courses"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_session_alerts_patient_id_patients"), type_="foreignkey")
        batch_op.drop_column("pro_response_id")
        batch_op.drop_column("course_id")
        batch_op.drop_column("patient_id")
        batch_op.alter_column("session_id", existing_type=sa.Integer(), nullable=False)
    _one_open_per_session_group()
