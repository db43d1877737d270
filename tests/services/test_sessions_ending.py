"""Ending, recovery and discharge mean what they say; sessions start in turn; a cancelled plan hides none."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ketaclinic.errors import ConflictError
from ketaclinic.services.permissions import Actor
from ketaclinic.services.plans import lifecycle as plans
from ketaclinic.services.sessions import booking, signing
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.chart import view_session
from ketaclinic.services.sessions.charting import session_row
from ketaclinic.services.sessions.ending import discharge_verdict
from ketaclinic.services.sessions.flowsheet import chart_observation
from ketaclinic.services.sessions.infusion_rates import RateIn
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.tables.sessions import RateSegment
from tests.ledger_support import prepare_bag, waste_rest
from tests.services.sessions_support import CHECK_IN, approved_plan, clinic_ending_policy

NORMAL = {"sbp": 126, "dbp": 78, "hr": 74, "spo2": 98, "rr": 14, "rass": 0}
ANSWERS = {"able_to_walk": True, "escort_present": True}
PLANNED_MIN = 240  # schwartzman2009: 4 h a day


def _session(db: Database, staff: dict[str, Actor], plan_id: int, number: int, at: datetime) -> int:
    made = booking.create_session(
        db, staff["nurse"], booking.SessionCreate(plan_id=plan_id, session_number=number)
    )
    sessions.check_in(
        db, staff["nurse"], made.id, sessions.CheckInIn.model_validate(CHECK_IN | {"at": at}), config=None
    )
    return made.id


def _started(
    db: Database, staff: dict[str, Actor], ago_min: float, *, protocol_id: str = "schwartzman2009"
) -> int:
    """Session 1 of a fresh plan, started `ago_min` min ago (a back-charted start past midnight says why)."""
    at = utcnow() - timedelta(minutes=ago_min)
    sid = _session(db, staff, approved_plan(db, staff, protocol_id=protocol_id), 1, at - timedelta(minutes=5))
    reason = "" if at.astimezone().date() == date.today() else "charted after midnight"
    sessions.start(
        db, staff["nurse"], sid, RateIn(rate_mg_kg_h=0.35, at=at), start_reason=reason, config=None
    )
    return sid


def _audit(db: Database, sid: int, action: str) -> dict[str, object]:
    with db.read() as session:
        event = session.execute(
            select(AuditEvent).where(AuditEvent.action == action, AuditEvent.entity_id == str(sid))
        ).scalar_one()
        return dict(json.loads(event.changes_json))


def test_completing_at_minute_0_of_the_plan_needs_its_reason(db: Database, staff: dict[str, Actor]) -> None:
    nurse = staff["nurse"]
    sid = _started(db, staff, 0)
    with pytest.raises(ConflictError) as refused:
        sessions.end_infusion(db, nurse, sid, sessions.EndIn(), stopped=False, config=None)
    assert (
        refused.value.field == "early_end_reason" and f"of {PLANNED_MIN} planned min" in refused.value.message
    )
    chart = view_session(db, nurse, sid, config=None)
    assert (
        chart.state == "running" and chart.completing_now_is_early and len(chart.segments) == 1
    )  # nothing written
    sessions.end_infusion(
        db, nurse, sid, sessions.EndIn(early_end_reason="patient asked to go"), stopped=False, config=None
    )
    chart = view_session(db, nurse, sid, config=None)
    assert chart.state == "recovery" and chart.end_state == "completed"
    assert chart.early_end_reason == "patient asked to go"
    assert _audit(db, sid, "complete")["early_end_reason"] == {"old": None, "new": "patient asked to go"}


def test_completing_at_the_planned_end_needs_no_reason(db: Database, staff: dict[str, Actor]) -> None:
    sid = _started(db, staff, PLANNED_MIN - 4)  # within the 5-min margin
    assert not view_session(db, staff["nurse"], sid, config=None).completing_now_is_early
    assert (
        sessions.end_infusion(db, staff["nurse"], sid, sessions.EndIn(), stopped=False, config=None)
        == "recovery"
    )
    assert view_session(db, staff["nurse"], sid, config=None).early_end_reason is None


def test_a_clinic_margin_changes_what_is_early(db: Database, staff: dict[str, Actor], tmp_path: Path) -> None:
    sid = _started(db, staff, PLANNED_MIN - 20)
    wide = clinic_ending_policy(tmp_path / "clinic", early_end_margin_min=30)
    assert (
        sessions.end_infusion(db, staff["nurse"], sid, sessions.EndIn(), stopped=False, config=wide)
        == "recovery"
    )


def _ended(db: Database, staff: dict[str, Actor]) -> tuple[int, datetime]:
    """A session that ran its 240 min and ended 50 min ago, with a normal reading during it."""
    nurse = staff["nurse"]
    sid = _started(db, staff, PLANNED_MIN + 50)
    end = utcnow() - timedelta(minutes=50)
    chart_observation(db, nurse, sid, NORMAL | {"at": (end - timedelta(minutes=60)).isoformat()}, config=None)
    sessions.end_infusion(db, nurse, sid, sessions.EndIn(at=end), stopped=False, config=None)
    return sid, end


def test_discharge_waits_for_the_recovery_and_a_full_reading_after_the_end(
    db: Database, staff: dict[str, Actor]
) -> None:
    nurse = staff["nurse"]
    sid, end = _ended(db, staff)
    with pytest.raises(ConflictError) as refused:
        signing.discharge(
            db, nurse, sid, signing.DischargeIn(answers=ANSWERS, at=end + timedelta(minutes=1)), config=None
        )
    assert refused.value.field == "discharge"
    assert (
        "At least 30 min observed" in refused.value.message and "full set of vitals" in refused.value.message
    )
    # The reading during the infusion does not count: the checklist asks for one after the end.
    assert "Systolic BP" in refused.value.message
    chart_observation(db, nurse, sid, NORMAL | {"at": (end + timedelta(minutes=5)).isoformat()}, config=None)
    with pytest.raises(ConflictError) as early:
        signing.discharge(
            db, nurse, sid, signing.DischargeIn(answers=ANSWERS, at=end + timedelta(minutes=20)), config=None
        )
    assert (
        early.value.message == "discharge criteria not met: At least 30 min observed since the infusion ended"
    )
    assert view_session(db, nurse, sid, config=None).state == "recovery"
    done = signing.discharge(
        db, nurse, sid, signing.DischargeIn(answers=ANSWERS, at=end + timedelta(minutes=30)), config=None
    )
    assert done == "discharged"


def test_abnormal_vitals_after_the_end_refuse_discharge(db: Database, staff: dict[str, Actor]) -> None:
    nurse = staff["nurse"]
    sid, end = _ended(db, staff)
    high = NORMAL | {
        "sbp": 186,
        "dbp": 114,
        "hallucinations": True,
        "at": (end + timedelta(minutes=40)).isoformat(),
    }
    chart_observation(db, nurse, sid, high, config=None)
    with pytest.raises(ConflictError) as refused:
        signing.discharge(db, nurse, sid, signing.DischargeIn(answers=ANSWERS), config=None)
    assert "Systolic BP" in refused.value.message and "30 min" not in refused.value.message
    recovery = view_session(db, nurse, sid, config=None).recovery
    assert recovery is not None and recovery.discharge_from == end + timedelta(minutes=30)
    assert recovery.decrement.threshold_ng_ml == 50 and "Bowdle 1998" in recovery.decrement.band_source
    assert recovery.decrement.model_key and recovery.decrement.weight_kg == 70
    assert recovery.decrement.minutes_after_end is not None and recovery.decrement.minutes_after_end > 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wait_min=st.floats(min_value=0, max_value=49))
def test_the_recovery_line_is_met_exactly_from_the_minimum(
    db: Database, staff: dict[str, Actor], wait_min: float
) -> None:
    with db.read() as session:
        ended = [r for r in session.execute(select(RateSegment)).scalars() if r.kind == "stop"]
    if not ended:
        sid, end = _ended(db, staff)
        chart_observation(
            db, staff["nurse"], sid, NORMAL | {"at": (end + timedelta(minutes=5)).isoformat()}, config=None
        )
    with db.read() as session:
        stop = next(r for r in session.execute(select(RateSegment)).scalars() if r.kind == "stop")
        row = session_row(session, stop.session_id)
        assert row.ended_at is not None
        verdict = discharge_verdict(session, row, row.ended_at + timedelta(minutes=wait_min), ANSWERS, None)
    assert verdict.ok == (wait_min >= 30)
    assert [i.key for i in verdict.items if not i.ok] == ([] if wait_min >= 30 else ["recovery_time"])


def test_session_2_on_the_day_of_session_1_needs_a_reason_and_never_runs_alongside(
    db: Database, staff: dict[str, Actor]
) -> None:
    nurse = staff["nurse"]
    plan_id = approved_plan(db, staff, protocol_id="valle2024")  # sessions two days apart
    first = _session(db, staff, plan_id, 1, utcnow())
    planned = RateIn(pump_ml_h=view_session(db, nurse, first, config=None).planned_segments[0]["pump_ml_h"])
    sessions.start(db, nurse, first, planned, config=None)
    second = _session(db, staff, plan_id, 2, utcnow())
    planned = RateIn(pump_ml_h=view_session(db, nurse, second, config=None).planned_segments[0]["pump_ml_h"])
    with pytest.raises(ConflictError) as alongside:
        sessions.start(db, nurse, second, planned, start_reason="clinic asked", config=None)
    assert alongside.value.field == "session" and f"id {first}" in alongside.value.message
    sessions.end_infusion(db, nurse, first, sessions.EndIn(reason="line tissued"), stopped=True, config=None)
    with pytest.raises(ConflictError) as too_soon:
        sessions.start(db, nurse, second, planned, config=None)
    assert too_soon.value.field == "start_reason"
    assert "before its planned date" in too_soon.value.message
    assert "0 day(s) after session 1, sooner than the protocol's 2-day interval" in too_soon.value.message
    sessions.start(db, nurse, second, planned, start_reason="patient travels tomorrow", config=None)
    assert view_session(db, nurse, second, config=None).start_reason == "patient travels tomorrow"
    assert _audit(db, second, "start")["start_reason"] == {"old": None, "new": "patient travels tomorrow"}


def test_cancelling_a_plan_waits_for_its_infusion_and_hides_no_session(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    nurse = staff["nurse"]
    sid = _started(db, staff, 30)
    prepare_bag(db, staff, sid)
    plan_id = view_session(db, nurse, sid, config=None).plan_id
    cancel = plans.CancelIn(reason="patient moved away")
    with pytest.raises(ConflictError) as infusing:
        plans.cancel_plan(db, staff["physician"], plan_id, cancel)
    assert infusing.value.field == "session" and str(sid) in infusing.value.message
    sessions.end_infusion(
        db, nurse, sid, sessions.EndIn(reason="plan to be cancelled"), stopped=True, config=None
    )
    assert plans.cancel_plan(db, staff["physician"], plan_id, cancel).status == "cancelled"
    # The session keeps its contract: readable, charted, discharged and signed after the cancel.
    assert view_session(db, nurse, sid, config=None).planned_end_min == PLANNED_MIN
    chart_observation(db, nurse, sid, NORMAL, config=None)
    no_wait = clinic_ending_policy(tmp_path / "clinic", recovery_min=0)
    signing.discharge(db, nurse, sid, signing.DischargeIn(answers=ANSWERS), config=no_wait)
    waste_rest(db, staff, sid)
    signing.sign(db, nurse, sid, config=None)
    assert view_session(db, staff["physician"], sid, config=None).state == "signed"
    listed = booking.list_sessions(
        db, nurse, day=date.fromisoformat(view_session(db, nurse, sid, config=None).scheduled_on)
    )
    assert sid in [s.id for s in listed]


def test_a_discharged_record_shows_the_checklist_as_judged_at_discharge(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    nurse = staff["nurse"]
    sid, end = _ended(db, staff)
    chart_observation(db, nurse, sid, NORMAL | {"at": (end + timedelta(minutes=5)).isoformat()}, config=None)
    signing.discharge(
        db, nurse, sid, signing.DischargeIn(answers=ANSWERS, at=end + timedelta(minutes=30)), config=None
    )
    at_discharge = view_session(db, nurse, sid, config=None).discharge
    stricter = clinic_ending_policy(tmp_path / "clinic", recovery_min=120)
    assert view_session(db, nurse, sid, config=stricter).discharge == at_discharge
    assert at_discharge["ok"] is True
