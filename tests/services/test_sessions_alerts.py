"""Session alerts: raised once per triggering reading or missed slot, under concurrency, on every backend."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import alerts, charting
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.chart import poll_alerts, view_session
from ketaclinic.services.sessions.flowsheet import chart_observation
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import SessionAlert, SessionObservation
from tests.services.sessions_support import checked_in_session

HYPERTENSIVE = {"sbp": 185, "dbp": 96, "hr": 80, "spo2": 97}


def _running(db: Database, staff: dict[str, Actor], minutes_ago: float = 0.0) -> int:
    sid = checked_in_session(db, staff)
    at = utcnow() - timedelta(minutes=minutes_ago)
    sessions.start(db, staff["nurse"], sid, charting.RateIn(rate_mg_kg_h=0.35, at=at))
    return sid


def _alert_rows(db: Database, sid: int) -> list[SessionAlert]:
    with db.transaction() as session:
        return list(session.execute(select(SessionAlert).where(SessionAlert.session_id == sid)).scalars())


def test_impossible_refused_abnormal_accepted_and_alerted_once(db: Database, staff: dict[str, Actor]) -> None:
    sid = _running(db, staff)
    with pytest.raises(InputError) as bad:
        chart_observation(db, staff["nurse"], sid, {"spo2": 140})
    assert bad.value.field == "spo2"
    with pytest.raises(InputError) as unknown:
        chart_observation(db, staff["nurse"], sid, {"heart": 70})
    assert unknown.value.field == "heart"
    stored = chart_observation(db, staff["nurse"], sid, HYPERTENSIVE)
    assert stored.interpretation["sbp"] == "critical" and stored.loinc["sbp"] == ["8480-6"]
    assert stored.alerts_raised and all(k.endswith(f"@{stored.id}") for k in stored.alerts_raised)
    rows = _alert_rows(db, sid)
    assert sorted(r.trigger_key for r in rows) == sorted(stored.alerts_raised)
    # The same reading evaluated again (a retry, a second worker) raises nothing new.
    from ketaclinic.monitoring import evaluate_observation

    with db.transaction() as session:
        row = charting.session_row(session, sid)
        obs_rows = charting.observation_rows(session, sid)
        reading = charting.observation_of(row, obs_rows[-1])
        again = alerts.insert_findings(
            session,
            sid,
            evaluate_observation(reading, charting.baseline_of(session, row)),
            observation_id=stored.id,
        )
    assert again == []
    assert len(_alert_rows(db, sid)) == len(rows)


def test_two_nurses_charting_at_once_lose_and_duplicate_nothing(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = _running(db, staff)
    per_nurse = 6
    errors: list[BaseException] = []

    def chart(actor: Actor) -> None:
        try:
            for _ in range(per_nurse):
                chart_observation(db, actor, sid, HYPERTENSIVE)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=chart, args=(staff[name],)) for name in ("nurse", "physician")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.transaction() as session:
        readings = session.execute(
            select(func.count())
            .select_from(SessionObservation)
            .where(SessionObservation.session_id == sid, SessionObservation.phase == "infusion")
        ).scalar_one()
    assert readings == 2 * per_nurse
    rows = _alert_rows(db, sid)
    keys = [r.trigger_key for r in rows]
    assert len(keys) == len(set(keys))
    per_reading = {r.observation_id for r in rows}
    assert len(per_reading) == 2 * per_nurse  # every reading raised its alerts
    assert len(rows) % (2 * per_nurse) == 0


def test_overdue_slots_raise_one_alert_each_even_with_concurrent_polls(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = _running(db, staff, minutes_ago=50)
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            poll_alerts(db, staff["nurse"], sid)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    overdue = [r for r in _alert_rows(db, sid) if r.rule_key == "observation_overdue"]
    # Readings due at 15 and 30 min (45 is still within the grace period) for both charting groups.
    assert sorted((r.trigger_key.split("@")[1]) for r in overdue) == sorted(
        f"{group}:t_due={t}" for group in ("vitals", "sedation") for t in (15, 30)
    )
    poll_alerts(db, staff["nurse"], sid)
    view_session(db, staff["nurse"], sid)
    assert len([r for r in _alert_rows(db, sid) if r.rule_key == "observation_overdue"]) == 4


def test_acknowledge_by_name_then_resolve(db: Database, staff: dict[str, Actor]) -> None:
    sid = _running(db, staff)
    chart_observation(db, staff["nurse"], sid, HYPERTENSIVE)
    alert = _alert_rows(db, sid)[0]
    with pytest.raises(ConflictError):
        alerts.resolve_alert(db, staff["nurse"], sid, alert.id, alerts.ResolveIn(resolution="fine"))
    acked = alerts.acknowledge_alert(
        db, staff["nurse"], sid, alert.id, alerts.AckIn(action_taken="rate halved")
    )
    assert (
        acked.state == "acknowledged"
        and acked.acknowledged_by == "nurse"
        and acked.action_taken == "rate halved"
    )
    with pytest.raises(ConflictError):
        alerts.acknowledge_alert(db, staff["physician"], sid, alert.id, alerts.AckIn(action_taken="again"))
    done = alerts.resolve_alert(
        db, staff["physician"], sid, alert.id, alerts.ResolveIn(resolution="BP 140/85")
    )
    assert done.state == "resolved" and done.resolved_by == "physician"
    polled = poll_alerts(db, staff["nurse"], sid)
    assert polled[-1].state == "resolved"


def test_a_poll_with_nothing_newly_due_writes_nothing(db: Database, staff: dict[str, Actor]) -> None:
    from ketaclinic.store.audit import count_events

    sid = _running(db, staff, minutes_ago=50)
    poll_alerts(db, staff["nurse"], sid)  # raises the four missed slots, audited as the system
    with db.read() as session:
        before = count_events(session)
    again = poll_alerts(db, staff["nurse"], sid)
    with db.read() as session:
        assert count_events(session) == before
    assert len([a for a in again if a.rule_key == "observation_overdue"]) == 4


def test_charted_times_are_the_pure_times_by_group(db: Database, staff: dict[str, Actor]) -> None:
    from ketaclinic.monitoring import times_by_group

    sid = _running(db, staff, minutes_ago=40)
    for minutes_ago, values in ((30, {"sbp": 120, "dbp": 70}), (20, {"rass": 0}), (5, {"hr": 70, "rr": 12})):
        chart_observation(
            db, staff["nurse"], sid, values | {"at": (utcnow() - timedelta(minutes=minutes_ago))}
        )
    with db.read() as session:
        row = charting.session_row(session, sid)
        readings = [charting.observation_of(row, o) for o in charting.observation_rows(session, sid)]
        times = charting.charted_times(session, row)
    assert times == times_by_group(r for r in readings if r.t_min >= 0)
    # The check-in reading was taken now, after this back-dated start, so it counts at 40 min.
    assert [round(t) for t in times["vitals"]] == [10, 35, 40]
    assert [round(t) for t in times["sedation"]] == [20, 35, 40]
