"""The session total while charting: what was given so far plus the new rate (or bolus) to the planned end.

The approved test plan runs 24.5 mg/h for 240 min (98 mg) in the outpatient context, whose session
total is soft above 200 mg and hard above 300 mg; its rate is soft above 70 mg/h and hard above 140 mg/h
at 70 kg, and a bolus is soft above 24.5 mg.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ketaclinic.dosing import HardLimitError
from ketaclinic.errors import InputError
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import charting, infusion_rates
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.events import MedicationIn, chart_medication
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import RateSegment, SessionMedication
from tests.services.sessions_support import STARTED_YESTERDAY_MAYBE, checked_in_session

REASONS = {"limit_reason": "physician order", "deviation_reason": "breakthrough pain"}


def _started_two_hours_ago(db: Database, staff: dict[str, Actor]) -> int:
    sid = checked_in_session(db, staff)
    sessions.start(
        db,
        staff["nurse"],
        sid,
        infusion_rates.RateIn(pump_ml_h=24.5, at=utcnow() - timedelta(hours=2)),
        start_reason=STARTED_YESTERDAY_MAYBE,
        config=None,
    )
    return sid


def _segments(db: Database, sid: int) -> int:
    with db.read() as session:
        return len(session.execute(select(RateSegment).where(RateSegment.session_id == sid)).all())


def test_what_was_given_counts_toward_the_projected_total(db: Database, staff: dict[str, Actor]) -> None:
    sid = _started_two_hours_ago(db, staff)
    with db.read() as session:
        row = charting.session_row(session, sid)
        assert charting.given_mg(session, row, utcnow()) == pytest.approx(49.0, abs=0.1)
    # 130 mg/h for the last 2 h is 260 mg, within the hard 300 mg; with the 49 mg given it is 309 mg.
    with pytest.raises(HardLimitError) as refused:
        infusion_rates.change_rate(
            db, staff["nurse"], sid, infusion_rates.RateIn(pump_ml_h=130, **REASONS), config=None
        )
    assert refused.value.field == "pump_ml_h" and "projected session total" in refused.value.message
    assert _segments(db, sid) == 1  # nothing stored
    preview = infusion_rates.check_rate_change(
        db, staff["nurse"], sid, infusion_rates.RateIn(pump_ml_h=120), config=None
    )
    assert preview.session_total is not None
    assert preview.session_total["value"] == pytest.approx(289.0, abs=0.2)
    assert preview.session_total["verdict"] == "soft" and preview.needs_limit_reason
    with pytest.raises(InputError) as soft:
        infusion_rates.change_rate(
            db,
            staff["nurse"],
            sid,
            infusion_rates.RateIn(pump_ml_h=120, deviation_reason="breakthrough pain"),
            config=None,
        )
    assert soft.value.field == "limit_reason"
    seg = infusion_rates.change_rate(
        db, staff["nurse"], sid, infusion_rates.RateIn(pump_ml_h=120, **REASONS), config=None
    )
    assert seg.verdict == "soft" and seg.limit_reason == "physician order"


def test_a_bolus_within_its_own_limits_is_refused_when_it_takes_the_total_past_hard(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = _started_two_hours_ago(db, staff)
    infusion_rates.change_rate(
        db, staff["nurse"], sid, infusion_rates.RateIn(pump_ml_h=120, **REASONS), config=None
    )
    bolus = {"purpose": "ketamine_bolus", "medication": "ketamine", "dose": 20, "unit": "mg"}
    with pytest.raises(HardLimitError) as refused:
        chart_medication(db, staff["nurse"], sid, MedicationIn.model_validate(bolus), config=None)
    assert refused.value.field == "dose" and "projected session total" in refused.value.message
    with db.read() as session:
        assert session.execute(select(SessionMedication.id)).first() is None
    # Back at the plan's rate the same bolus fits: 49 + 20 + 24.5 mg/h x 2 h = 118 mg.
    infusion_rates.change_rate(
        db, staff["nurse"], sid, infusion_rates.RateIn(pump_ml_h=24.5, **REASONS), config=None
    )
    given = chart_medication(db, staff["nurse"], sid, MedicationIn.model_validate(bolus), config=None)
    assert given.check["verdict"] == "ok"


def test_pausing_and_stopping_never_wait_on_the_total(db: Database, staff: dict[str, Actor]) -> None:
    sid = _started_two_hours_ago(db, staff)
    infusion_rates.change_rate(
        db, staff["nurse"], sid, infusion_rates.RateIn(pump_ml_h=120, **REASONS), config=None
    )
    assert sessions.pause(db, staff["nurse"], sid, config=None) == "paused"
    # Resuming at the same rate re-checks the total: 49 mg + 120 mg/h over what is left stays soft.
    assert sessions.resume(db, staff["nurse"], sid, sessions.ResumeIn(), config=None) == "running"
    stopped = sessions.end_infusion(
        db, staff["nurse"], sid, sessions.EndIn(reason="dissociation"), stopped=True, config=None
    )
    assert stopped == "recovery"


def test_resume_reasons_without_a_rate_replace_the_earlier_ones_and_zero_is_refused(
    db: Database, staff: dict[str, Actor]
) -> None:
    from pydantic import ValidationError

    sid = _started_two_hours_ago(db, staff)
    infusion_rates.change_rate(
        db, staff["nurse"], sid, infusion_rates.RateIn(pump_ml_h=72, **REASONS), config=None
    )
    sessions.pause(db, staff["nurse"], sid, config=None)
    with pytest.raises(InputError) as zero:
        sessions.resume(
            db, staff["nurse"], sid, sessions.ResumeIn(rate=infusion_rates.RateIn(pump_ml_h=0)), config=None
        )
    assert zero.value.field == "rate"
    with pytest.raises(ValidationError):
        sessions.ResumeIn.model_validate({"rate": {"pump_ml_h": 30}, "limit_reason": "belongs in rate"})
    sessions.resume(
        db, staff["nurse"], sid, sessions.ResumeIn(limit_reason="re-confirmed after the pause"), config=None
    )
    with db.read() as session:
        last = session.execute(select(RateSegment).order_by(RateSegment.id.desc()).limit(1)).scalar_one()
    assert (last.kind, last.pump_ml_h, last.limit_reason, last.deviation_reason) == (
        "resume",
        72,
        "re-confirmed after the pause",
        "breakthrough pain",
    )


# ---------------------------------------------------------------- the review's ways around the maximum


def _bolus(mg: float, *, minutes_ago: float = 0.0, reason: str = "") -> MedicationIn:
    return MedicationIn.model_validate(
        {
            "purpose": "ketamine_bolus",
            "medication": "ketamine",
            "dose": mg,
            "given_at": utcnow() - timedelta(minutes=minutes_ago),
            "reason": reason,
        }
    )


def test_back_dated_boluses_all_count_and_none_before_the_start(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = _started_two_hours_ago(db, staff)
    with pytest.raises(InputError) as before:
        chart_medication(db, staff["nurse"], sid, _bolus(10, minutes_ago=150), config=None)
    assert before.value.field == "given_at"
    # 49 mg given + 49 mg still to run = 98 mg; each 24 mg bolus (within its own limits) adds to it,
    # wherever it is dated, so the ninth (98 + 9 x 24 = 314 mg) passes the hard 300 mg.
    accepted = 0
    with pytest.raises(HardLimitError) as refused:
        for n in range(20):
            chart_medication(
                db, staff["nurse"], sid, _bolus(24, minutes_ago=60 + n, reason="pain"), config=None
            )
            accepted += 1
    assert accepted == 8 and refused.value.field == "dose"
    with db.read() as session:
        row = charting.session_row(session, sid)
        assert charting.given_mg(session, row, utcnow()) == pytest.approx(49 + 8 * 24, abs=0.2)


def test_a_pause_does_not_use_up_the_planned_time(db: Database, staff: dict[str, Actor]) -> None:
    sid = checked_in_session(db, staff)
    nurse = staff["nurse"]
    sessions.start(
        db,
        nurse,
        sid,
        infusion_rates.RateIn(pump_ml_h=24.5, at=utcnow() - timedelta(hours=3)),
        start_reason=STARTED_YESTERDAY_MAYBE,
        config=None,
    )
    sessions.pause(db, nurse, sid, at=utcnow() - timedelta(hours=2), config=None)
    # Ran 60 of the planned 240 min (24.5 mg): 180 min are still to run, whatever the clock says.
    fast = sessions.ResumeIn(rate=infusion_rates.RateIn(pump_ml_h=100, **REASONS))
    with pytest.raises(HardLimitError, match="projected session total"):
        sessions.resume(db, nurse, sid, fast, config=None)  # 24.5 + 100 x 3 = 324.5 mg
    assert sessions.resume(
        db, nurse, sid, sessions.ResumeIn(rate=infusion_rates.RateIn(pump_ml_h=60, **REASONS)), config=None
    )


def test_past_the_planned_end_a_rise_is_still_checked_and_a_reduction_never_refused(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = checked_in_session(db, staff)
    nurse = staff["nurse"]
    # 60 mg/h for 5 h: 300 mg given, an hour past the planned 240 min.
    sessions.start(
        db,
        nurse,
        sid,
        infusion_rates.RateIn(pump_ml_h=60, at=utcnow() - timedelta(hours=5), **REASONS),
        start_reason=STARTED_YESTERDAY_MAYBE,
        config=None,
    )
    with pytest.raises(HardLimitError, match="projected session total"):
        infusion_rates.change_rate(
            db, nurse, sid, infusion_rates.RateIn(pump_ml_h=70, **REASONS), config=None
        )
    lower = infusion_rates.change_rate(
        db, nurse, sid, infusion_rates.RateIn(pump_ml_h=10, **REASONS), config=None
    )
    assert lower.pump_ml_h == 10 and "checks" in lower.check


def test_given_so_far_clips_every_segment(db: Database, staff: dict[str, Actor]) -> None:
    sid = _started_two_hours_ago(db, staff)
    at = utcnow() - timedelta(minutes=60)
    infusion_rates.change_rate(
        db, staff["nurse"], sid, infusion_rates.RateIn(pump_ml_h=30, at=at, **REASONS), config=None
    )
    with db.read() as session:
        row = charting.session_row(session, sid)
        assert row.started_at is not None
        half_hour = row.started_at + timedelta(minutes=30)
        assert charting.given_mg(session, row, half_hour) == pytest.approx(12.25, abs=0.01)


def test_every_soft_breach_is_named_stored_and_audited(db: Database, staff: dict[str, Actor]) -> None:
    import json

    from ketaclinic.store.tables.audit import AuditEvent

    sid = _started_two_hours_ago(db, staff)
    # 110 mg/h: a soft rate (above 1 mg/kg/h) and a soft total (49 + 220 = 269 mg).
    with pytest.raises(InputError) as asked:
        infusion_rates.change_rate(
            db,
            staff["nurse"],
            sid,
            infusion_rates.RateIn(pump_ml_h=110, deviation_reason="breakthrough pain"),
            config=None,
        )
    assert "rate_mg_kg_h" in asked.value.message and "projected session total" in asked.value.message
    seg = infusion_rates.change_rate(
        db, staff["nurse"], sid, infusion_rates.RateIn(pump_ml_h=110, **REASONS), config=None
    )
    assert sorted(c["quantity"] for c in seg.check["checks"] if c["verdict"] == "soft") == [
        "rate_mg_kg_h",
        "session_total_mg",
    ]
    with db.read() as session:
        event = (
            session.execute(
                select(AuditEvent).where(AuditEvent.action == "rate_change").order_by(AuditEvent.seq.desc())
            )
            .scalars()
            .first()
        )
    assert event is not None
    breaches = json.loads(event.changes_json)["limit_breaches"]["new"]
    assert len(breaches) == 2 and any(b.startswith("projected session total") for b in breaches)


def test_a_carried_reason_covers_only_the_breach_it_was_given_for(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = _started_two_hours_ago(db, staff)
    nurse = staff["nurse"]
    # 72 mg/h: a soft rate only (49 + 72 x 2 = 193 mg is under the soft 200 mg total).
    infusion_rates.change_rate(db, nurse, sid, infusion_rates.RateIn(pump_ml_h=72, **REASONS), config=None)
    sessions.pause(db, nurse, sid, config=None)
    chart_medication(db, nurse, sid, _bolus(24), config=None)
    # Resuming at 72 mg/h now also takes the total past 200 mg: the rate's reason does not cover that.
    with pytest.raises(InputError) as asked:
        sessions.resume(db, nurse, sid, sessions.ResumeIn(), config=None)
    assert asked.value.field == "limit_reason" and "projected session total" in asked.value.message
    assert (
        sessions.resume(db, nurse, sid, sessions.ResumeIn(limit_reason="total reviewed"), config=None)
        == "running"
    )


def test_the_total_given_past_a_maximum_raises_its_alert_once(db: Database, staff: dict[str, Actor]) -> None:
    from ketaclinic.services.sessions.chart import poll_alerts

    sid = checked_in_session(db, staff)
    # Left running at 60 mg/h for 5 h 10 min: 310 mg, past the soft 200 mg and the hard 300 mg.
    at = utcnow() - timedelta(hours=5, minutes=10)
    sessions.start(
        db,
        staff["nurse"],
        sid,
        infusion_rates.RateIn(pump_ml_h=60, at=at, **REASONS),
        start_reason=STARTED_YESTERDAY_MAYBE,
        config=None,
    )
    polled = poll_alerts(db, staff["nurse"], sid, config=None)
    (hard,) = [a for a in polled if a.group == "dose"]  # one alert, at the worst of its two findings
    assert sorted(f.rule_key for f in hard.findings) == ["session_total_hard", "session_total_soft"]
    assert (hard.rule_key, hard.severity, hard.advice, hard.threshold) == (
        "session_total_hard",
        "critical",
        "stop_and_call",
        300.0,
    )
    assert hard.value == pytest.approx(310, abs=0.5) and "local-policy" in hard.source_status
    again = poll_alerts(db, staff["nurse"], sid, config=None)
    assert [len(a.findings) for a in again if a.group == "dose"] == [2]
