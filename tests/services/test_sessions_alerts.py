"""Session alerts: one open alert per group, escalated in place, each finding recorded once, both backends."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import func, select

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.monitoring import AlertAction, evaluate_observation
from ketaclinic.monitoring.escalation import SEVERITY_RANK
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import alert_raising, alerts, charting, infusion_rates
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.chart import poll_alerts, view_session
from ketaclinic.services.sessions.flowsheet import chart_observation
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.tables.sessions import SessionAlert, SessionAlertFinding, SessionObservation
from tests.services.sessions_support import STARTED_YESTERDAY_MAYBE, at_once, checked_in_session

HYPERTENSIVE = {"sbp": 185, "dbp": 96, "hr": 80, "spo2": 97}
# The reading of the clinic day that raised seven alerts: now one per group.
FLOODING = {"sbp": 186, "dbp": 114, "hr": 104, "spo2": 97, "hallucinations": True}
NORMAL = {"sbp": 126, "dbp": 78, "hr": 74, "spo2": 98, "hallucinations": False}
_mrns = count(1)


def _running(db: Database, staff: dict[str, Actor], minutes_ago: float = 0.0) -> int:
    sid = checked_in_session(db, staff, mrn=f"A-{next(_mrns)}")
    at = utcnow() - timedelta(minutes=minutes_ago)
    rate = infusion_rates.RateIn(rate_mg_kg_h=0.35, at=at)
    sessions.start(db, staff["nurse"], sid, rate, start_reason=STARTED_YESTERDAY_MAYBE, config=None)
    return sid


def _alert_rows(db: Database, sid: int) -> list[SessionAlert]:
    with db.transaction() as session:
        return list(session.execute(select(SessionAlert).where(SessionAlert.session_id == sid)).scalars())


def _finding_rows(db: Database, sid: int) -> list[SessionAlertFinding]:
    with db.read() as session:
        query = select(SessionAlertFinding).where(SessionAlertFinding.session_id == sid)
        return list(session.execute(query).scalars())


def test_one_reading_raises_one_alert_per_group_most_severe_first(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = _running(db, staff)
    stored = chart_observation(db, staff["nurse"], sid, FLOODING, config=None)
    assert len(stored.alerts_raised) == 7  # every finding is recorded ...
    listed = poll_alerts(db, staff["nurse"], sid, config=None)
    assert [(a.group, a.severity) for a in listed] == [
        ("blood_pressure", "critical"),
        ("psychomimetic", "warning"),
    ]  # ... in two alerts, the critical one first
    bp = listed[0]
    assert bp.clinic_wide and bp.critical_since is not None and bp.session_id == sid
    assert sorted(f.rule_key for f in bp.findings) == sorted(
        [
            "sbp_high",
            "sbp_critical",
            "dbp_high",
            "dbp_critical",
            "sbp_rise_from_baseline",
            "dbp_rise_from_baseline",
        ]
    )
    assert bp.rule_key in ("sbp_critical", "dbp_critical") and bp.severity == "critical"
    assert bp.actions[0].key == AlertAction.PAUSE  # the rule's advice first
    assert not listed[1].clinic_wide  # a warning whose advice does not involve the physician


def test_impossible_refused_and_a_reading_evaluated_again_records_nothing(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = _running(db, staff)
    with pytest.raises(InputError) as bad:
        chart_observation(db, staff["nurse"], sid, {"spo2": 140}, config=None)
    assert bad.value.field == "spo2"
    stored = chart_observation(db, staff["nurse"], sid, HYPERTENSIVE, config=None)
    assert stored.interpretation["sbp"] == "critical" and stored.loinc["sbp"] == ["8480-6"]
    assert sorted(f.trigger_key for f in _finding_rows(db, sid)) == sorted(stored.alerts_raised)
    with db.transaction() as session:
        row = charting.session_row(session, sid)
        reading = charting.observation_of(row, charting.observation_rows(session, sid)[-1])
        again = alert_raising.insert_findings(
            session,
            staff["nurse"],
            sid,
            evaluate_observation(reading, charting.baseline_of(session, row)),
            observation_id=stored.id,
        )
    assert again == []
    assert len(_alert_rows(db, sid)) == 1 and len(_finding_rows(db, sid)) == len(stored.alerts_raised)


def test_a_worse_reading_escalates_the_open_alert_in_place(db: Database, staff: dict[str, Actor]) -> None:
    sid = _running(db, staff)
    first = chart_observation(db, staff["nurse"], sid, {"sbp": 165, "dbp": 80}, config=None)
    (warning,) = poll_alerts(db, staff["nurse"], sid, config=None)
    assert warning.severity == "warning" and warning.critical_since is None and not warning.clinic_wide
    second = chart_observation(db, staff["nurse"], sid, {"sbp": 190, "dbp": 80}, config=None)
    (escalated,) = poll_alerts(db, staff["nurse"], sid, config=None)
    assert escalated.id == warning.id and escalated.severity == "critical" and escalated.clinic_wide
    assert escalated.critical_since is not None and escalated.value == 190
    assert {f.observation_id for f in escalated.findings} == {first.id, second.id}  # the history is kept
    chart_observation(db, staff["nurse"], sid, {"sbp": 166, "dbp": 80}, config=None)
    (still,) = poll_alerts(db, staff["nurse"], sid, config=None)
    assert still.severity == "critical" and still.value == 190  # a milder reading never lowers it
    assert len({f.observation_id for f in still.findings}) == 3 and len(still.findings) == 7
    # The one change of severity is on the alert's own audit trail, by the nurse who charted it.
    with db.read() as session:
        events = session.execute(
            select(AuditEvent)
            .where(AuditEvent.entity == "session_alert", AuditEvent.entity_id == str(warning.id))
            .order_by(AuditEvent.seq)
        ).scalars()
        escalations = [e for e in events if e.action == "escalate"]
    assert [(e.actor, e.actor_role) for e in escalations] == [("nurse", "nurse")]
    changes = json.loads(escalations[0].changes_json)
    assert changes["severity"] == {"old": "warning", "new": "critical"}
    assert changes["rule_key"]["new"] == escalated.rule_key
    assert escalations[0].reason.startswith(f"{escalated.rule_key}: Systolic BP 190 mmHg")


def test_two_nurses_charting_at_once_lose_and_duplicate_nothing(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = _running(db, staff)
    per_nurse = 6
    errors: list[BaseException] = []

    def chart(actor: Actor) -> None:
        try:
            for _ in range(per_nurse):
                chart_observation(db, actor, sid, HYPERTENSIVE, config=None)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=chart, args=(staff[name],)) for name in ("nurse", "physician")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as session:
        readings = session.execute(
            select(func.count())
            .select_from(SessionObservation)
            .where(SessionObservation.session_id == sid, SessionObservation.phase == "infusion")
        ).scalar_one()
    assert readings == 2 * per_nurse
    findings = _finding_rows(db, sid)
    keys = [f.trigger_key for f in findings]
    assert len(keys) == len(set(keys))
    assert len({f.observation_id for f in findings}) == 2 * per_nurse  # every reading recorded its findings
    (alert,) = _alert_rows(db, sid)
    assert {f.alert_id for f in findings} == {alert.id} and alert.state == "open"


def test_overdue_slots_join_one_charting_alert_even_with_concurrent_polls(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = _running(db, staff, minutes_ago=50)
    assert at_once(lambda: poll_alerts(db, staff["nurse"], sid, config=None), 4) == []
    # Readings due at 15 and 30 min (45 is still within the grace period) for both charting groups.
    expected = sorted(f"{group}:t_due={t}" for group in ("vitals", "sedation") for t in (15, 30))
    overdue = [f for f in _finding_rows(db, sid) if f.rule_key == "observation_overdue"]
    assert sorted(f.trigger_key.split("@")[1] for f in overdue) == expected
    poll_alerts(db, staff["nurse"], sid, config=None)
    view_session(db, staff["nurse"], sid, config=None)
    (charting_alert,) = [a for a in _alert_rows(db, sid) if a.alert_group == "charting"]
    assert len([f for f in _finding_rows(db, sid) if f.alert_id == charting_alert.id]) == 4


def test_acknowledge_with_one_pick_then_resolve_by_the_reading_back_in_range(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = _running(db, staff)
    chart_observation(
        db, staff["nurse"], sid, HYPERTENSIVE | {"at": utcnow() - timedelta(minutes=5)}, config=None
    )
    (alert,) = poll_alerts(db, staff["nurse"], sid, config=None)
    with pytest.raises(ConflictError):
        alerts.resolve_alert(db, staff["nurse"], sid, alert.id, alerts.ResolveIn(resolution="fine"))
    with pytest.raises(ValidationError):
        alerts.AckIn.model_validate({"action": "halved it"})
    acked = alerts.acknowledge_alert(
        db, staff["nurse"], sid, alert.id, alerts.AckIn(action=AlertAction.PAUSE)
    )
    assert (acked.state, acked.acknowledged_by, acked.action_taken, acked.ack_note) == (
        "acknowledged",
        "nurse",
        "pause",
        None,
    )
    assert acked.back_in_range is None
    with pytest.raises(ConflictError):
        alerts.acknowledge_alert(db, staff["physician"], sid, alert.id, alerts.AckIn(action=AlertAction.STOP))
    pain_only = chart_observation(
        db, staff["nurse"], sid, {"nrs": 3}, config=None
    )  # says nothing about blood pressure
    with pytest.raises(ConflictError) as not_bp:
        alerts.resolve_alert(db, staff["nurse"], sid, alert.id, alerts.ResolveIn(observation_id=pain_only.id))
    assert not_bp.value.field == "observation_id"
    later = chart_observation(db, staff["nurse"], sid, NORMAL, config=None)
    (offered,) = poll_alerts(db, staff["nurse"], sid, config=None)
    assert offered.back_in_range is not None and offered.back_in_range.observation_id == later.id
    done = alerts.resolve_alert(
        db, staff["physician"], sid, alert.id, alerts.ResolveIn(observation_id=later.id)
    )
    assert done.state == "resolved" and done.resolved_by == "physician"
    assert done.resolution == f"resolved by the reading at {later.observed_at:%H:%M}"
    assert done.resolved_by_observation_id == later.id and done.back_in_range is None
    with pytest.raises(ValidationError):
        alerts.ResolveIn.model_validate({})


def test_a_high_reading_after_acknowledgement_opens_a_new_alert(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = _running(db, staff)
    chart_observation(db, staff["nurse"], sid, HYPERTENSIVE, config=None)
    (alert,) = poll_alerts(db, staff["nurse"], sid, config=None)
    alerts.acknowledge_alert(
        db, staff["nurse"], sid, alert.id, alerts.AckIn(action=AlertAction.REDUCE_RATE, note="to 0.2")
    )
    chart_observation(db, staff["nurse"], sid, HYPERTENSIVE, config=None)
    listed = poll_alerts(db, staff["nurse"], sid, config=None)
    assert [a.state for a in listed] == ["open", "acknowledged"]  # same severity: newest first
    assert listed[1].ack_note == "to 0.2"


def test_a_poll_with_nothing_newly_due_writes_nothing(db: Database, staff: dict[str, Actor]) -> None:
    from ketaclinic.store.audit import count_events

    sid = _running(db, staff, minutes_ago=50)
    poll_alerts(db, staff["nurse"], sid, config=None)  # raises the four missed slots, audited as the system
    with db.read() as session:
        before = count_events(session)
    again = poll_alerts(db, staff["nurse"], sid, config=None)
    with db.read() as session:
        assert count_events(session) == before
    assert len([a for a in again if a.rule_key == "observation_overdue"]) == 1


def test_charted_times_are_the_pure_times_by_group(db: Database, staff: dict[str, Actor]) -> None:
    from ketaclinic.monitoring import times_by_group

    sid = _running(db, staff, minutes_ago=40)
    for minutes_ago, values in ((30, {"sbp": 120, "dbp": 70}), (20, {"rass": 0}), (5, {"hr": 70, "rr": 12})):
        chart_observation(
            db, staff["nurse"], sid, values | {"at": (utcnow() - timedelta(minutes=minutes_ago))}, config=None
        )
    with db.read() as session:
        row = charting.session_row(session, sid)
        readings = [charting.observation_of(row, o) for o in charting.observation_rows(session, sid)]
        times = charting.charted_times(session, row)
    assert times == times_by_group(r for r in readings if r.t_min >= 0)
    # The check-in reading was taken now, after this back-dated start, so it counts at 40 min.
    assert [round(t) for t in times["vitals"]] == [10, 35, 40]
    assert [round(t) for t in times["sedation"]] == [20, 35, 40]


READING = st.fixed_dictionaries(
    {},
    optional={
        "sbp": st.integers(150, 200),
        "hr": st.integers(40, 140),
        "spo2": st.integers(85, 100),
        "rr": st.integers(6, 20),
        "hallucinations": st.booleans(),
    },
).filter(bool)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(readings=st.lists(READING, min_size=1, max_size=5), acknowledge_after=st.integers(0, 5))
def test_property_one_open_alert_per_group_at_the_worst_severity_of_its_findings(
    db: Database, staff: dict[str, Actor], readings: list[dict[str, object]], acknowledge_after: int
) -> None:
    sid = _running(db, staff)
    raised: list[str] = []
    for index, values in enumerate(readings):
        if index == acknowledge_after:
            for alert in poll_alerts(db, staff["nurse"], sid, config=None):
                if alert.state == "open":
                    alerts.acknowledge_alert(
                        db,
                        staff["nurse"],
                        sid,
                        alert.id,
                        alerts.AckIn(action=AlertAction.CONTINUE_AND_RECHECK),
                    )
        raised += chart_observation(db, staff["nurse"], sid, {"dbp": 80, **values}, config=None).alerts_raised
    findings = _finding_rows(db, sid)
    assert sorted(f.trigger_key for f in findings) == sorted(raised)  # each recorded once, none lost
    rows = _alert_rows(db, sid)
    open_groups = [r.alert_group for r in rows if r.state == "open"]
    assert len(open_groups) == len(set(open_groups))
    for row in rows:
        mine = [f for f in findings if f.alert_id == row.id]
        assert mine and row.severity == max((f.severity for f in mine), key=SEVERITY_RANK.__getitem__)
        assert row.clinic_wide == any(
            f.severity == "critical" or f.rule_key in ("spo2_critical", "rr_critical") for f in mine
        )
    listed = poll_alerts(db, staff["nurse"], sid, config=None)
    keys = [(-SEVERITY_RANK[a.severity], -a.last_raised_at.timestamp()) for a in listed]
    assert keys == sorted(keys)


def test_a_finding_that_calls_the_physician_widens_the_open_alert_on_its_audit_trail(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = _running(db, staff)
    chart_observation(db, staff["nurse"], sid, {"sbp": 165, "dbp": 80}, config=None)
    (warning,) = poll_alerts(db, staff["nurse"], sid, config=None)
    assert not warning.clinic_wide
    with db.transaction() as session:
        row = charting.session_row(session, sid)
        reading = charting.observation_of(row, charting.observation_rows(session, sid)[-1])
        findings = evaluate_observation(reading, charting.baseline_of(session, row))
        finding = next(f for f in findings if f.rule_key == warning.rule_key)
        calling = finding.model_copy(update={"notify_physician": True, "trigger_key": "sbp_high@widened"})
        alert_raising.insert_findings(session, staff["nurse"], sid, [calling])
    (widened,) = poll_alerts(db, staff["nurse"], sid, config=None)
    assert widened.id == warning.id and widened.severity == "warning" and widened.clinic_wide
    with db.read() as session:
        (event,) = session.execute(
            select(AuditEvent).where(AuditEvent.entity == "session_alert", AuditEvent.action == "widen")
        ).scalars()
    assert json.loads(event.changes_json) == {"clinic_wide": {"old": False, "new": True}}
    assert event.entity_id == str(warning.id) and event.actor == "nurse"
