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
from ketaclinic.services import charting, sessions
from ketaclinic.services.events import MedicationIn, chart_medication
from ketaclinic.services.permissions import Actor
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import RateSegment, SessionMedication
from tests.services.sessions_support import checked_in_session

REASONS = {"limit_reason": "physician order", "deviation_reason": "breakthrough pain"}


def _started_two_hours_ago(db: Database, staff: dict[str, Actor]) -> int:
    sid = checked_in_session(db, staff)
    sessions.start(db, staff["nurse"], sid, charting.RateIn(pump_ml_h=24.5, at=utcnow() - timedelta(hours=2)))
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
        charting.change_rate(db, staff["nurse"], sid, charting.RateIn(pump_ml_h=130, **REASONS))
    assert refused.value.field == "pump_ml_h" and "projected session total" in refused.value.message
    assert _segments(db, sid) == 1  # nothing stored
    preview = charting.check_rate_change(db, staff["nurse"], sid, charting.RateIn(pump_ml_h=120))
    assert preview.session_total is not None
    assert preview.session_total["value"] == pytest.approx(289.0, abs=0.2)
    assert preview.session_total["verdict"] == "soft" and preview.needs_limit_reason
    with pytest.raises(InputError) as soft:
        charting.change_rate(
            db, staff["nurse"], sid, charting.RateIn(pump_ml_h=120, deviation_reason="breakthrough pain")
        )
    assert soft.value.field == "limit_reason"
    seg = charting.change_rate(db, staff["nurse"], sid, charting.RateIn(pump_ml_h=120, **REASONS))
    assert seg.verdict == "soft" and seg.limit_reason == "physician order"


def test_a_bolus_within_its_own_limits_is_refused_when_it_takes_the_total_past_hard(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = _started_two_hours_ago(db, staff)
    charting.change_rate(db, staff["nurse"], sid, charting.RateIn(pump_ml_h=120, **REASONS))
    bolus = {"purpose": "ketamine_bolus", "medication": "ketamine", "dose": 20, "unit": "mg"}
    with pytest.raises(HardLimitError) as refused:
        chart_medication(db, staff["nurse"], sid, MedicationIn.model_validate(bolus))
    assert refused.value.field == "dose" and "projected session total" in refused.value.message
    with db.read() as session:
        assert session.execute(select(SessionMedication.id)).first() is None
    # Back at the plan's rate the same bolus fits: 49 + 20 + 24.5 mg/h x 2 h = 118 mg.
    charting.change_rate(db, staff["nurse"], sid, charting.RateIn(pump_ml_h=24.5, **REASONS))
    given = chart_medication(db, staff["nurse"], sid, MedicationIn.model_validate(bolus))
    assert given.check["verdict"] == "ok"


def test_pausing_and_stopping_never_wait_on_the_total(db: Database, staff: dict[str, Actor]) -> None:
    sid = _started_two_hours_ago(db, staff)
    charting.change_rate(db, staff["nurse"], sid, charting.RateIn(pump_ml_h=120, **REASONS))
    assert sessions.pause(db, staff["nurse"], sid) == "paused"
    # Resuming at the same rate re-checks the total: 49 mg + 120 mg/h over what is left stays soft.
    assert sessions.resume(db, staff["nurse"], sid, sessions.ResumeIn()) == "running"
    stopped = sessions.end_infusion(
        db, staff["nurse"], sid, sessions.EndIn(reason="dissociation"), stopped=True
    )
    assert stopped == "recovery"


def test_resume_reasons_without_a_rate_replace_the_earlier_ones_and_zero_is_refused(
    db: Database, staff: dict[str, Actor]
) -> None:
    from pydantic import ValidationError

    sid = _started_two_hours_ago(db, staff)
    charting.change_rate(db, staff["nurse"], sid, charting.RateIn(pump_ml_h=72, **REASONS))
    sessions.pause(db, staff["nurse"], sid)
    with pytest.raises(InputError) as zero:
        sessions.resume(db, staff["nurse"], sid, sessions.ResumeIn(rate=charting.RateIn(pump_ml_h=0)))
    assert zero.value.field == "rate"
    with pytest.raises(ValidationError):
        sessions.ResumeIn.model_validate({"rate": {"pump_ml_h": 30}, "limit_reason": "belongs in rate"})
    sessions.resume(db, staff["nurse"], sid, sessions.ResumeIn(limit_reason="re-confirmed after the pause"))
    with db.read() as session:
        last = session.execute(select(RateSegment).order_by(RateSegment.id.desc()).limit(1)).scalar_one()
    assert (last.kind, last.pump_ml_h, last.limit_reason, last.deviation_reason) == (
        "resume",
        72,
        "re-confirmed after the pause",
        "breakthrough pain",
    )
