"""Infusion sessions: lifecycle, plan approval, check-in, rates (library and plan), signature and addenda."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from ketaclinic.dosing import HardLimitError
from ketaclinic.errors import ConflictError, InputError, PermissionDeniedError
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import booking, infusion_rates, signing
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.chart import view_session
from ketaclinic.services.sessions.events import (
    AdverseEventIn,
    MedicationIn,
    chart_adverse_event,
    chart_medication,
)
from ketaclinic.services.sessions.flowsheet import chart_observation
from ketaclinic.store.audit import count_events
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import RateSegment
from tests import factories
from tests.ledger_support import prepare_bag, waste_rest
from tests.services.sessions_support import CHECK_IN, approved_plan, checked_in_session, clinic_ending_policy

RateIn = infusion_rates.RateIn
NORMAL = {"sbp": 126, "dbp": 78, "hr": 74, "spo2": 98, "rr": 14, "rass": 0, "nrs": 4}


def test_only_an_approved_plan_gives_sessions(db: Database, staff: dict[str, Actor]) -> None:
    draft = factories.draft_plan(db, staff)
    plan_id = draft.id
    with pytest.raises(ConflictError):
        booking.create_session(db, staff["nurse"], booking.SessionCreate(plan_id=plan_id, session_number=1))
    factories.approve(db, staff, draft)
    made = booking.create_session(
        db, staff["nurse"], booking.SessionCreate(plan_id=plan_id, session_number=1)
    )
    assert made.state == "scheduled"
    with pytest.raises(ConflictError):
        booking.create_session(db, staff["nurse"], booking.SessionCreate(plan_id=plan_id, session_number=1))
    with pytest.raises(InputError) as bad:
        booking.create_session(db, staff["nurse"], booking.SessionCreate(plan_id=plan_id, session_number=99))
    assert bad.value.field == "session_number"
    with pytest.raises(PermissionDeniedError):
        booking.create_session(
            db, staff["researcher"], booking.SessionCreate(plan_id=plan_id, session_number=2)
        )


def test_check_in_needs_premedication_and_pregnancy_check(db: Database, staff: dict[str, Actor]) -> None:
    plan_id = approved_plan(db, staff, sex="female")
    made = booking.create_session(
        db, staff["nurse"], booking.SessionCreate(plan_id=plan_id, session_number=1)
    )
    base = {k: v for k, v in CHECK_IN.items() if k not in ("premedication_none", "pregnancy_check")}
    with pytest.raises(InputError) as premed:
        sessions.check_in(db, staff["nurse"], made.id, sessions.CheckInIn.model_validate(base), config=None)
    assert premed.value.field == "premedication"
    with pytest.raises(InputError) as preg:
        sessions.check_in(
            db,
            staff["nurse"],
            made.id,
            sessions.CheckInIn.model_validate(base | {"premedication_none": True}),
            config=None,
        )
    assert preg.value.field == "pregnancy_check"
    with pytest.raises(InputError) as impossible:
        sessions.check_in(
            db,
            staff["nurse"],
            made.id,
            sessions.CheckInIn.model_validate(CHECK_IN | {"spo2": 140}),
            config=None,
        )
    assert impossible.value.field == "spo2"
    premeds = [{"medication": "ondansetron", "dose": 4, "route": "IV"}]
    sessions.check_in(
        db,
        staff["nurse"],
        made.id,
        sessions.CheckInIn.model_validate(
            {k: v for k, v in CHECK_IN.items() if k != "premedication_none"} | {"premedication": premeds}
        ),
        config=None,
    )
    chart = view_session(db, staff["nurse"], made.id, config=None)
    assert chart.state == "checked_in"
    assert [m.medication for m in chart.medications] == ["ondansetron"]
    assert chart.observations[0].phase == "pre"
    with pytest.raises(ConflictError):
        sessions.check_in(
            db, staff["nurse"], made.id, sessions.CheckInIn.model_validate(CHECK_IN), config=None
        )


def test_rates_are_converted_checked_and_compared_with_the_plan(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = checked_in_session(db, staff)
    nurse = staff["nurse"]
    with pytest.raises(HardLimitError) as hard:
        sessions.start(db, nurse, sid, RateIn(pump_ml_h=150), config=None)
    assert "hard max" in hard.value.message and "2 mg/kg/h" in hard.value.message
    sessions.start(db, nurse, sid, RateIn(rate_mg_kg_h=0.35), config=None)
    with db.transaction() as session:
        first = session.execute(select(RateSegment)).scalar_one()
    assert first.rate_mg_h == pytest.approx(24.5) and first.pump_ml_h == pytest.approx(24.5)
    assert first.weight_kg == 70 and not first.deviation and first.verdict == "ok"
    # 80 mg/h is only a soft rate, but run to the planned end it would pass the session's hard total.
    with pytest.raises(HardLimitError) as over_total:
        infusion_rates.change_rate(
            db,
            nurse,
            sid,
            RateIn(pump_ml_h=80, limit_reason="order", deviation_reason="breakthrough pain"),
            config=None,
        )
    assert over_total.value.field == "pump_ml_h"
    assert (
        "projected session total" in over_total.value.message and "hard max 300" in over_total.value.message
    )
    with pytest.raises(InputError) as soft:
        infusion_rates.change_rate(
            db, nurse, sid, RateIn(pump_ml_h=72, deviation_reason="breakthrough pain"), config=None
        )
    assert soft.value.field == "limit_reason"
    with pytest.raises(InputError) as dev:
        infusion_rates.change_rate(db, nurse, sid, RateIn(pump_ml_h=30), config=None)
    assert dev.value.field == "deviation_reason"
    preview = infusion_rates.check_rate_change(db, nurse, sid, RateIn(pump_ml_h=72), config=None)
    assert preview.check["verdict"] == "soft" and preview.needs_limit_reason and preview.deviation
    assert preview.session_total is not None and preview.session_total["verdict"] == "soft"
    events_before = _audit_count(db)
    seg = infusion_rates.change_rate(
        db,
        nurse,
        sid,
        RateIn(pump_ml_h=72, limit_reason="physician order", deviation_reason="breakthrough pain"),
        config=None,
    )
    assert seg.verdict == "soft" and seg.deviation and seg.rate_mg_kg_h == pytest.approx(72 / 70)
    assert _audit_count(db) == events_before + 1
    chart = view_session(db, nurse, sid, config=None)
    assert [s.kind for s in chart.segments] == ["start", "change"]
    assert chart.prediction is not None and chart.prediction.projected_t_min
    assert {b.key for b in chart.prediction.bands} == {"analgesic", "dissociative"}


def _audit_count(db: Database) -> int:
    with db.transaction() as session:
        return count_events(session)


def test_whole_session_to_signature_then_only_addenda(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    sid = checked_in_session(db, staff)
    nurse = staff["nurse"]
    with pytest.raises(ConflictError):
        sessions.pause(db, nurse, sid, config=None)
    prepare_bag(db, staff, sid)
    sessions.start(db, nurse, sid, RateIn(rate_mg_kg_h=0.35), config=None)
    chart_observation(db, nurse, sid, NORMAL, config=None)
    ae = chart_adverse_event(
        db,
        nurse,
        sid,
        AdverseEventIn(kind="nausea_vomiting", severity="mild", action="ondansetron", outcome="resolved"),
    )
    assert ae.cp_at_onset_ng_ml >= 0
    chart_medication(
        db,
        nurse,
        sid,
        MedicationIn(purpose="rescue", medication="ondansetron", dose=4, adverse_event_id=ae.id),
        config=None,
    )
    with pytest.raises(InputError) as unit:
        chart_medication(
            db,
            nurse,
            sid,
            MedicationIn(purpose="rescue", medication="clonidine", dose=4, unit="mg"),
            config=None,
        )
    assert unit.value.field == "unit"
    with pytest.raises(InputError) as bolus:
        chart_medication(
            db,
            nurse,
            sid,
            MedicationIn(purpose="ketamine_bolus", medication="ketamine", dose=30),
            config=None,
        )
    assert bolus.value.field == "reason"
    with pytest.raises(HardLimitError):
        chart_medication(
            db,
            nurse,
            sid,
            MedicationIn(purpose="ketamine_bolus", medication="ketamine", dose=40),
            config=None,
        )
    sessions.pause(db, nurse, sid, config=None)
    sessions.resume(db, nurse, sid, sessions.ResumeIn(), config=None)
    with pytest.raises(InputError) as stop_reason:
        sessions.end_infusion(db, nurse, sid, sessions.EndIn(), stopped=True, config=None)
    assert stop_reason.value.field == "reason"
    sessions.end_infusion(db, nurse, sid, sessions.EndIn(reason="patient request"), stopped=True, config=None)
    with pytest.raises(ConflictError):
        signing.sign(db, nurse, sid, config=None)
    with pytest.raises(ConflictError) as unmet:
        signing.discharge(db, nurse, sid, signing.DischargeIn(answers={"able_to_walk": True}), config=None)
    assert unmet.value.field == "discharge" and "escort" in unmet.value.message
    chart_observation(db, nurse, sid, NORMAL, config=None)  # the first reading after the end
    answers = {"able_to_walk": True, "escort_present": True}
    no_wait = clinic_ending_policy(tmp_path / "clinic", recovery_min=0)
    signing.discharge(db, nurse, sid, signing.DischargeIn(answers=answers), config=no_wait)
    with pytest.raises(PermissionDeniedError):
        signing.sign(db, staff["researcher"], sid, config=None)
    with pytest.raises(ConflictError) as not_reconciled:
        signing.sign(db, nurse, sid, config=None)
    assert not_reconciled.value.field == "ledger"
    waste_rest(db, staff, sid)
    signing.sign(db, nurse, sid, config=None)
    chart = view_session(db, nurse, sid, config=None)
    assert chart.state == "signed" and chart.end_state == "stopped" and chart.missing_for_signature == []
    with pytest.raises(ConflictError):
        chart_observation(db, nurse, sid, NORMAL, config=None)
    with pytest.raises(ConflictError):
        infusion_rates.change_rate(db, nurse, sid, RateIn(pump_ml_h=10), config=None)
    signing.add_addendum(db, nurse, sid, signing.AddendumIn(text="Patient called: well at home."))
    assert view_session(db, nurse, sid, config=None).addenda[0]["text"].startswith("Patient called")


def test_sign_names_what_is_missing(db: Database, staff: dict[str, Actor], tmp_path: Path) -> None:
    sid = checked_in_session(db, staff)
    nurse = staff["nurse"]
    sessions.start(db, nurse, sid, RateIn(rate_mg_kg_h=0.35), config=None)
    sessions.end_infusion(
        db, nurse, sid, sessions.EndIn(early_end_reason="line tissued"), stopped=False, config=None
    )
    # The infusion had no reading during it: the chart says so, and signing is refused after discharge.
    chart = view_session(db, nurse, sid, config=None)
    assert "at least one observation during the infusion" in chart.missing_for_signature
    chart_observation(db, nurse, sid, NORMAL, config=None)
    signing.discharge(
        db,
        nurse,
        sid,
        signing.DischargeIn(answers={"able_to_walk": True, "escort_present": True}),
        config=clinic_ending_policy(tmp_path / "clinic", recovery_min=0),
    )
    assert view_session(db, nurse, sid, config=None).missing_for_signature == []
    with db.transaction() as session:
        assert session.execute(select(func.count()).select_from(RateSegment)).scalar_one() == 2


def test_check_in_audit_lists_the_alerts_its_baseline_raised(db: Database, staff: dict[str, Actor]) -> None:
    import json

    from ketaclinic.store.tables.audit import AuditEvent
    from ketaclinic.store.tables.sessions import SessionAlertFinding

    plan_id = approved_plan(db, staff)
    made = booking.create_session(
        db, staff["nurse"], booking.SessionCreate(plan_id=plan_id, session_number=1)
    )
    sessions.check_in(
        db,
        staff["nurse"],
        made.id,
        sessions.CheckInIn.model_validate(CHECK_IN | {"sbp": 186, "dbp": 96}),
        config=None,
    )
    with db.read() as session:
        keys = sorted(session.execute(select(SessionAlertFinding.trigger_key)).scalars())
        event = session.execute(select(AuditEvent).where(AuditEvent.action == "check_in")).scalar_one()
    assert keys and sorted(json.loads(event.changes_json)["alerts"]["new"]) == keys
