"""Clinic-wide alerts: critical or physician alerts for every physician and nurse, re-notified once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ketaclinic.errors import PermissionDeniedError
from ketaclinic.monitoring import AlertAction
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import alerts, infusion_rates
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.clinic_alerts import (
    check_clinic,
    clinic_alerts,
    open_clinic_alert_count,
    renotify_unacknowledged,
)
from ketaclinic.services.sessions.flowsheet import chart_observation
from ketaclinic.store.audit import count_events
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import AlertNotification
from tests.services.sessions_support import STARTED_YESTERDAY_MAYBE, at_once, checked_in_session


def _running(db: Database, staff: dict[str, Actor], mrn: str) -> int:
    sid = checked_in_session(db, staff, mrn=mrn)
    sessions.start(db, staff["nurse"], sid, infusion_rates.RateIn(rate_mg_kg_h=0.35), config=None)
    return sid


def _notifications(db: Database) -> list[AlertNotification]:
    with db.read() as session:
        return list(session.execute(select(AlertNotification)).scalars())


@pytest.fixture
def two_sessions(db: Database, staff: dict[str, Actor]) -> tuple[int, int]:
    """Session one with a critical blood pressure, session two with only a tachycardia warning."""
    critical = _running(db, staff, "C-1")
    chart_observation(db, staff["nurse"], critical, {"sbp": 190, "dbp": 90}, config=None)
    warning = _running(db, staff, "C-2")
    chart_observation(db, staff["nurse"], warning, {"hr": 125}, config=None)
    return critical, warning


def test_physicians_and_nurses_see_the_clinic_wide_alerts_with_their_session(
    db: Database, staff: dict[str, Actor], two_sessions: tuple[int, int]
) -> None:
    critical, _warning = two_sessions
    for role in ("physician", "nurse"):
        (only,) = clinic_alerts(db, staff[role], config=None)
        assert (only.session_id, only.group, only.severity) == (critical, "blood_pressure", "critical")
        assert open_clinic_alert_count(db, staff[role]) == 1
    with pytest.raises(PermissionDeniedError):
        clinic_alerts(db, staff["researcher"], config=None)
    with pytest.raises(PermissionDeniedError):
        open_clinic_alert_count(db, staff["researcher"])
    alerts.acknowledge_alert(db, staff["nurse"], critical, only.id, alerts.AckIn(action=AlertAction.PAUSE))
    assert clinic_alerts(db, staff["physician"], config=None) == []
    assert [a.id for a in clinic_alerts(db, staff["physician"], "acknowledged", config=None)] == [only.id]
    assert open_clinic_alert_count(db, staff["physician"]) == 0


def test_a_critical_alert_left_unacknowledged_is_renotified_once(
    db: Database, staff: dict[str, Actor], two_sessions: tuple[int, int]
) -> None:
    assert renotify_unacknowledged(db, config=None) == []  # not yet past the five minutes
    later = utcnow() + timedelta(minutes=5, seconds=1)
    before = _event_count(db)
    made: list[list[int]] = []
    assert at_once(lambda: made.append(renotify_unacknowledged(db, now=later, config=None)), 4) == []
    (note,) = _notifications(db)
    assert sorted(i for ids in made for i in ids) == [note.alert_id]  # two workers never double it
    assert _event_count(db) == before + 1  # audited once, as the system
    assert renotify_unacknowledged(db, now=later + timedelta(hours=1), config=None) == []
    (listed,) = clinic_alerts(db, staff["physician"], config=None)
    assert listed.renotified_at == note.created_at


def test_an_acknowledged_critical_alert_is_not_renotified(
    db: Database, staff: dict[str, Actor], two_sessions: tuple[int, int]
) -> None:
    critical, _warning = two_sessions
    (alert,) = clinic_alerts(db, staff["nurse"], config=None)
    alerts.acknowledge_alert(
        db, staff["nurse"], critical, alert.id, alerts.AckIn(action=AlertAction.PHYSICIAN_CALLED)
    )
    assert renotify_unacknowledged(db, now=utcnow() + timedelta(hours=2), config=None) == []


def test_the_clinic_sets_the_renotification_time_in_its_config_dir(
    db: Database, staff: dict[str, Actor], two_sessions: tuple[int, int], tmp_path: Path
) -> None:
    (tmp_path / "alert_escalation.toml").write_text("renotify_after_min = 1\n", encoding="utf-8")
    soon = utcnow() + timedelta(minutes=1, seconds=1)
    assert renotify_unacknowledged(db, now=soon, config=None) == []
    assert len(renotify_unacknowledged(db, config=tmp_path, now=soon)) == 1


def _event_count(db: Database) -> int:
    with db.read() as session:
        return count_events(session)


def test_the_periodic_check_raises_what_came_due_where_no_chart_is_open(
    db: Database, staff: dict[str, Actor]
) -> None:
    from tests.services.test_sessions_total import REASONS

    sid = checked_in_session(db, staff, mrn="C-3")
    # Left running at 60 mg/h for 5 h 10 min, with nobody looking at its chart: past the hard 300 mg.
    start = utcnow() - timedelta(hours=5, minutes=10)
    sessions.start(
        db,
        staff["nurse"],
        sid,
        infusion_rates.RateIn(pump_ml_h=60, at=start, **REASONS),
        start_reason=STARTED_YESTERDAY_MAYBE,
        config=None,
    )
    assert (
        check_clinic(db, config=None) == []
    )  # the dose alert is raised now: not yet due for re-notification
    listed = clinic_alerts(db, staff["physician"], config=None)
    assert [(a.session_id, a.group, a.rule_key) for a in listed] == [(sid, "dose", "session_total_hard")]
    assert check_clinic(db, now=utcnow() + timedelta(minutes=6), config=None) == [listed[0].id]
