"""The session record states the ketamine given (charted rates and boluses) and the planned total."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import chart as session_chart
from ketaclinic.services.sessions import infusion_rates
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests.services.sessions_support import checked_in_session

_patients = iter(range(1, 10_000))


def test_before_the_start_nothing_is_given_and_the_plan_total_is_its_segments(
    db: Database, staff: dict[str, Actor]
) -> None:
    sid = checked_in_session(db, staff)
    chart = session_chart.view_session(db, staff["nurse"], sid, config=None)
    planned = sum(s["rate_mg_h"] * (s["end_min"] - s["start_min"]) / 60 for s in chart.planned_segments)
    assert chart.given_mg == 0.0
    assert abs(chart.planned_total_mg - planned) < 0.01 * planned


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ran_min=st.floats(min_value=1, max_value=35), pump_ml_h=st.floats(min_value=20, max_value=28))
def test_given_is_the_charted_rate_over_the_minutes_it_ran(
    db: Database, staff: dict[str, Actor], ran_min: float, pump_ml_h: float
) -> None:
    sid = checked_in_session(db, staff, mrn=f"T-{next(_patients)}")
    rate = infusion_rates.RateIn(
        pump_ml_h=round(pump_ml_h, 1),
        deviation_reason="titrated to comfort",
        at=utcnow() - timedelta(minutes=ran_min),
    )
    sessions.start(db, staff["nurse"], sid, rate, config=None)
    chart = session_chart.view_session(db, staff["nurse"], sid, config=None)
    rate_mg_h = chart.segments[0].rate_mg_h
    assert rate_mg_h * ran_min / 60 <= chart.given_mg <= rate_mg_h * (ran_min + 1) / 60
    assert chart.given_mg < chart.planned_total_mg
