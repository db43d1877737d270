"""Migration 0007 keeps every stored alert, its findings and notifications, and names each alert's patient."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.store.migrate import alembic_config, upgrade
from tests.services.sessions_support import checked_in_session


def test_stored_session_alerts_survive_and_take_their_sessions_patient(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = checked_in_session(db, staff)
    command.downgrade(alembic_config(db.engine), "0006_alert_escalation")
    with db.engine.begin() as connection:
        alert_id = connection.execute(
            text(
                "INSERT INTO session_alerts (session_id, trigger_key, rule_key, severity, advice, message,"
                " source, source_status, state, raised_at, alert_group, clinic_wide, last_raised_at)"
                " VALUES (:sid, 'spo2_critical@t=5', 'spo2_critical', 'critical', 'stop_and_call', 'm', 's',"
                " 'local-policy', 'open', CURRENT_TIMESTAMP, 'oxygenation', :yes, CURRENT_TIMESTAMP)"
                " RETURNING id"
            ),
            {"sid": sid, "yes": True},
        ).scalar_one()
        connection.execute(
            text(
                "INSERT INTO session_alert_findings (session_id, alert_id, trigger_key, alert_group,"
                " rule_key, severity, message, raised_at) VALUES (:sid, :aid, 'spo2_critical@t=5',"
                " 'oxygenation', 'spo2_critical', 'critical', 'm', CURRENT_TIMESTAMP)"
            ),
            {"sid": sid, "aid": alert_id},
        )
        connection.execute(
            text(
                "INSERT INTO alert_notifications (alert_id, session_id, kind, created_at)"
                " VALUES (:aid, :sid, 'critical_unacknowledged', CURRENT_TIMESTAMP)"
            ),
            {"sid": sid, "aid": alert_id},
        )
    upgrade(db.engine)
    with db.engine.connect() as connection:
        patient_id = connection.execute(
            text("SELECT patient_id FROM infusion_sessions WHERE id = :sid"), {"sid": sid}
        ).scalar_one()
        alert = connection.execute(
            text("SELECT id, session_id, patient_id, state FROM session_alerts WHERE id = :aid"),
            {"aid": alert_id},
        ).one()
        finding = connection.execute(
            text("SELECT alert_id, patient_id FROM session_alert_findings WHERE alert_id = :aid"),
            {"aid": alert_id},
        ).one()
        notified = connection.execute(
            text("SELECT count(*) FROM alert_notifications WHERE alert_id = :aid"), {"aid": alert_id}
        ).scalar_one()
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    assert (alert.session_id, alert.patient_id, alert.state) == (sid, patient_id, "open")
    assert (finding.alert_id, finding.patient_id) == (alert_id, patient_id)
    assert notified == 1
