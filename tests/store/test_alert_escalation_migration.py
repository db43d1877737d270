"""Migration 0006 groups an older database's alerts and folds extra open ones of a group into the worst."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.store.migrate import alembic_config, upgrade
from tests.services.sessions_support import checked_in_session

_ALERT = text(
    "INSERT INTO session_alerts (session_id, trigger_key, rule_key, severity, advice, message, field,"
    " source, source_status, state, raised_at) VALUES (:sid, :key, :rule, :severity, :advice, 'm', :field,"
    " 's', 'local-policy', :state, CURRENT_TIMESTAMP)"
)
_OLDER = [
    ("sbp_high@7", "sbp_high", "warning", "reduce_rate", "sbp", "open"),
    ("sbp_critical@7", "sbp_critical", "critical", "pause", "sbp", "open"),
    ("dbp_high@8", "dbp_high", "warning", "reduce_rate", "dbp", "open"),
    (
        "observation_overdue@vitals:t_due=15",
        "observation_overdue",
        "warning",
        "continue_and_recheck",
        None,
        "acknowledged",
    ),
]


def test_older_alerts_are_grouped_with_their_history_and_one_open_per_group(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = checked_in_session(db, staff)
    command.downgrade(alembic_config(db.engine), "0006_session_ending_reasons")
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM session_alerts"))
        for key, rule, severity, advice, field, state in _OLDER:
            connection.execute(
                _ALERT,
                {
                    "sid": sid,
                    "key": key,
                    "rule": rule,
                    "severity": severity,
                    "advice": advice,
                    "field": field,
                    "state": state,
                },
            )
    upgrade(db.engine)
    with db.engine.connect() as connection:
        alerts = {
            row.trigger_key: row
            for row in connection.execute(
                text(
                    "SELECT id, trigger_key, alert_group, state, clinic_wide, critical_since, resolution"
                    " FROM session_alerts"
                )
            )
        }
        findings: dict[str, int] = {
            key: alert_id
            for key, alert_id in connection.execute(
                text("SELECT trigger_key, alert_id FROM session_alert_findings")
            )
        }
    kept = alerts["sbp_critical@7"]
    assert [a.trigger_key for a in alerts.values() if a.state == "open"] == ["sbp_critical@7"]
    assert kept.alert_group == "blood_pressure" and kept.clinic_wide and kept.critical_since is not None
    for folded in ("sbp_high@7", "dbp_high@8"):
        assert alerts[folded].state == "resolved"
        assert alerts[folded].resolution == f"folded into alert {kept.id}: one open alert per group"
    overdue = alerts["observation_overdue@vitals:t_due=15"]
    assert overdue.alert_group == "charting" and overdue.state == "acknowledged"
    assert findings == {
        "sbp_high@7": kept.id,
        "sbp_critical@7": kept.id,
        "dbp_high@8": kept.id,
        overdue.trigger_key: overdue.id,
    }
