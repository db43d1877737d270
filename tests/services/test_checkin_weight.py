"""The check-in weight against the plan's: a typo is a 409 on weight_kg; a reasoned change flags the chart
and raises one weight_discrepancy alert for the physician; a stored Cp names its weight and model."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketaclinic.errors import ConflictError
from ketaclinic.monitoring.alert_rules import shipped_alert_rules
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import booking
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.chart import view_session
from ketaclinic.services.sessions.checkin_weight import WEIGHT_DISCREPANCY
from ketaclinic.services.sessions.events import AdverseEventIn, chart_adverse_event
from ketaclinic.services.sessions.infusion_rates import RateIn
from ketaclinic.store.audit import count_events
from ketaclinic.store.db import Database
from tests.services.sessions_support import CHECK_IN, approved_plan

_MRNS = itertools.count(1)


def _scheduled(db: Database, staff: Mapping[str, Actor], weight_kg: float = 72.5) -> int:
    plan_id = approved_plan(db, staff, mrn=f"CW-{next(_MRNS)}", weight_kg=weight_kg)
    return booking.create_session(
        db, staff["nurse"], booking.SessionCreate(plan_id=plan_id, session_number=1)
    ).id


def _events(db: Database) -> int:
    with db.transaction() as session:
        return count_events(session)


def _check_in(db: Database, nurse: Actor, session_id: int, weight_kg: float, reason: str = "") -> str:
    data = sessions.CheckInIn.model_validate(
        CHECK_IN | {"weight_kg": weight_kg, "weight_discrepancy_reason": reason}
    )
    return sessions.check_in(db, nurse, session_id, data, config=None)


def test_a_tenfold_typo_is_refused_naming_weight_kg(db: Database, staff: dict[str, Actor]) -> None:
    session_id = _scheduled(db, staff)
    before = _events(db)
    with pytest.raises(ConflictError) as refused:
        _check_in(db, staff["nurse"], session_id, 7.2)
    assert refused.value.field == "weight_kg"
    assert "7.2 kg is 90% below the plan's 72.5 kg" in refused.value.message
    assert "give the reason it differs" in refused.value.message
    assert _events(db) == before
    chart = view_session(db, staff["nurse"], session_id, config=None)
    assert chart.state == "scheduled"
    assert chart.measured_weight_kg is None
    assert chart.observations == []


def test_a_weight_close_to_the_plan_needs_no_reason(db: Database, staff: dict[str, Actor]) -> None:
    session_id = _scheduled(db, staff)
    assert _check_in(db, staff["nurse"], session_id, 74.0) == "checked_in"
    chart = view_session(db, staff["nurse"], session_id, config=None)
    assert "weight_discrepancy" not in chart.check_in
    assert not [a for a in chart.alerts if a.rule_key == WEIGHT_DISCREPANCY]


def test_a_reasoned_change_flags_the_chart_and_tells_the_physician(
    db: Database, staff: dict[str, Actor]
) -> None:
    session_id = _scheduled(db, staff)
    _check_in(db, staff["nurse"], session_id, 64.0, "lost 8 kg since the plan, weighed twice")
    chart = view_session(db, staff["physician"], session_id, config=None)
    flag = chart.check_in["weight_discrepancy"]
    assert (flag["weight_kg"], flag["plan_weight_kg"], flag["reason"]) == (
        64.0,
        72.5,
        "lost 8 kg since the plan, weighed twice",
    )
    assert flag["status"] == "local-policy"
    [alert] = [a for a in chart.alerts if a.rule_key == WEIGHT_DISCREPANCY]
    assert (alert.trigger_key, alert.field, alert.value, alert.threshold, alert.state) == (
        WEIGHT_DISCREPANCY,
        "weight_kg",
        64.0,
        72.5,
        "open",
    )
    assert "Physician to review" in alert.message
    # The alert is the shipped rule's, with its own source beside the weight limit's.
    (rule,) = [r for r in shipped_alert_rules() if r.key == WEIGHT_DISCREPANCY]
    assert (rule.group.value, rule.status.value, rule.notify_physician) == ("weight", "local-policy", True)
    assert (alert.severity, alert.advice, alert.group) == (rule.severity, rule.advice, "weight")
    assert alert.source == f"{rule.source}; limit: {flag['source']}" and alert.clinic_wide
    assert chart.prediction is None or chart.prediction.weight_kg == 64.0


def test_a_second_check_in_is_a_state_conflict_not_a_second_alert(
    db: Database, staff: dict[str, Actor]
) -> None:
    session_id = _scheduled(db, staff)
    _check_in(db, staff["nurse"], session_id, 64.0, "lost weight")
    with pytest.raises(ConflictError) as twice:
        _check_in(db, staff["nurse"], session_id, 64.0, "lost weight")
    assert twice.value.field != "weight_kg"
    chart = view_session(db, staff["nurse"], session_id, config=None)
    assert len([a for a in chart.alerts if a.rule_key == WEIGHT_DISCREPANCY]) == 1


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(weight_kg=st.floats(min_value=1.0, max_value=400.0))
def test_without_a_reason_a_weight_is_taken_exactly_when_within_the_fraction(
    db: Database, staff: dict[str, Actor], weight_kg: float
) -> None:
    session_id = _scheduled(db, staff, weight_kg=80.0)
    if abs(weight_kg - 80.0) / 80.0 <= 0.10 + 1e-9:
        assert _check_in(db, staff["nurse"], session_id, weight_kg) == "checked_in"
    else:
        with pytest.raises(ConflictError):
            _check_in(db, staff["nurse"], session_id, weight_kg)
        assert view_session(db, staff["nurse"], session_id, config=None).state == "scheduled"


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(weight_kg=st.floats(min_value=40.0, max_value=110.0))
def test_a_stored_cp_says_the_weight_and_model_it_was_computed_with(
    db: Database, staff: dict[str, Actor], weight_kg: float
) -> None:
    session_id = _scheduled(db, staff)
    _check_in(db, staff["nurse"], session_id, weight_kg, "weighed twice today")
    sessions.start(
        db, staff["nurse"], session_id, RateIn(rate_mg_kg_h=0.3, deviation_reason="starting low"), config=None
    )
    ae = chart_adverse_event(
        db,
        staff["nurse"],
        session_id,
        AdverseEventIn(kind="nausea_vomiting", severity="mild", action="ondansetron", outcome="resolved"),
    )
    chart = view_session(db, staff["nurse"], session_id, config=None)
    assert (ae.cp_weight_kg, ae.cp_model_key) == (weight_kg, chart.model_key)
    assert chart.adverse_events[0].cp_weight_kg == weight_kg
    assert chart.prediction is not None
    assert (chart.prediction.weight_kg, chart.prediction.model_key) == (weight_kg, chart.model_key)
