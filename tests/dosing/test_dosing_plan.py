"""Dose plans for every shipped protocol at several weights, refusal of hard breaches, and properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.data import Status
from ketaclinic.dosing import (
    DosePlan,
    HardLimitError,
    Param,
    build_plan,
    get_protocol,
    ideal_body_weight_kg,
    load_library,
    load_protocols,
)
from ketaclinic.errors import InputError

LIB = load_library()
PROTOCOLS = load_protocols()
START = date(2025, 3, 3)


def plan(protocol_id: str, weight: float, **kw: Any) -> DosePlan:
    return build_plan(PROTOCOLS[protocol_id], weight_kg=weight, start=START, library=LIB, **kw)


# (protocol, weight) -> (first-session rates mg/h, last-session rates mg/h, series total mg, verdict).
# Rates are as programmed: mL/h rounded down to the 0.1 mL/h pump resolution (1 mg/mL here).
# No shipped protocol breaches a soft limit at these weights: a session below the 80 mg dose-response
# minimum is information, and a titration's planned top stops at the library's soft maxima.
EXPECTED = {
    ("schwartzman2009", 50): ([17.5], [17.5], 700.0, "ok"),  # 70 mg/session: information only
    ("schwartzman2009", 70): ([24.5], [24.5], 980.0, "ok"),
    ("schwartzman2009", 110): ([25.0], [25.0], 1000.0, "ok"),  # 38.5 capped at 25 mg/h
    ("cleveland2025", 50): ([37.5], [37.5], 125.0, "ok"),
    ("cleveland2025", 70): ([52.5], [52.5], 175.0, "ok"),
    ("cleveland2025", 110): ([82.5], [82.5], 275.0, "ok"),
    ("valle2024", 50): ([25.0], [50.0], 825.0, "ok"),  # 75 mg test dose: information only
    ("valle2024", 70): ([25.0], [50.0], 825.0, "ok"),
    ("valle2024", 110): ([25.0], [50.0], 825.0, "ok"),
    ("cohen2018-test", 50): ([32.0], [32.0], 80.0, "ok"),
    ("cohen2018-test", 70): ([32.0], [32.0], 80.0, "ok"),
    ("cohen2018-test", 110): ([32.0], [32.0], 80.0, "ok"),
    ("inpatient-5day-weight", 50): ([5, 7.5, 10, 12.5, 15, 17.5], None, None, "ok"),
    ("inpatient-5day-weight", 70): ([7, 10.5, 14, 17.5, 21, 24], None, None, "ok"),
    ("inpatient-5day-weight", 110): ([11, 16.5, 22, 24], None, None, "ok"),
    ("inpatient-5day-titrated", 50): ([10, 17.5], None, None, "ok"),  # top at the 0.35 mg/kg/h soft max
    ("inpatient-5day-titrated", 70): ([10, 20, 24.5], None, None, "ok"),
    ("inpatient-5day-titrated", 110): ([10, 20, 25], None, None, "ok"),  # top at the 25 mg/h soft max
    ("sigtermans2009", 50): ([3.6, 7.2, 10.8, 14.4, 17.5], None, None, "ok"),
    ("sigtermans2009", 70): ([5.0, 10.0, 15.1, 20.1, 24.5], None, None, "ok"),  # 5.04 -> 5.0 mL/h
    ("sigtermans2009", 110): ([7.9, 15.8, 23.7, 30.0], None, None, "ok"),  # top at the 30 mg/h soft max
}


@pytest.mark.parametrize(("protocol_id", "weight"), sorted(EXPECTED))
def test_shipped_protocol_plans(protocol_id: str, weight: int) -> None:
    first_rates, last_rates, series_total, verdict = EXPECTED[(protocol_id, weight)]
    p = plan(protocol_id, weight)
    assert [s.rate_mg_h for s in p.sessions[0].segments] == pytest.approx(first_rates)
    if last_rates is not None:
        assert [s.rate_mg_h for s in p.sessions[-1].segments] == pytest.approx(last_rates)
    if series_total is not None:
        assert p.series_total_mg == pytest.approx(series_total)
    assert p.verdict == verdict
    protocol = PROTOCOLS[protocol_id]
    assert len(p.sessions) == protocol.schedule.session_count
    for s in p.sessions:
        assert s.segments[0].start_min == 0
        assert s.segments[-1].end_min == pytest.approx(protocol.block_for(s.number).duration_min.value)
        assert s.total_mg == pytest.approx(
            sum(seg.rate_mg_h * (seg.end_min - seg.start_min) / 60 for seg in s.segments)
        )
        for seg in s.segments:
            assert seg.pump_ml_h == pytest.approx(seg.rate_mg_h / p.concentration_mg_ml)
            assert seg.rate_mg_kg_h == pytest.approx(seg.rate_mg_h / weight)
        assert s.prediction is not None and s.prediction.peak_cp_ng_ml > 0
        assert s.checks and all(c.source for c in s.checks)


def test_schedule_dates_and_premedication() -> None:
    p = plan("valle2024", 70)
    assert [s.date for s in p.sessions] == [date(2025, 3, d) for d in (3, 5, 7, 9, 11, 13)]
    assert [s.total_mg for s in p.sessions] == pytest.approx([75, 150, 150, 150, 150, 150])
    schwartzman = plan("schwartzman2009", 70)
    assert [m.drug for m in schwartzman.premedication] == ["midazolam", "clonidine"]
    assert schwartzman.sessions[9].date == date(2025, 3, 12)
    assert p.soft_breaches == ()
    assert p.sessions[0].information is not None and "80 mg" in p.sessions[0].information  # 75 mg test dose
    assert p.sessions[1].information is None


def test_titrated_plan_carries_both_paths() -> None:
    p = plan("inpatient-5day-titrated", 110)
    s = p.sessions[0]
    assert s.titrated
    assert [(seg.start_min, seg.end_min) for seg in s.segments] == [
        (0, 90),
        (90, 180),
        (180, 7200),
    ]
    assert [seg.rate_mg_h for seg in s.min_path_segments] == [10]
    assert s.min_path_total_mg == pytest.approx(10 * 120)
    data = s.to_json_dict()
    assert data["segments_path"] == "max" and data["min_path_segments"][0]["end_min"] == 7200
    note = plan("inpatient-5day-titrated", 50).sessions[0].note
    assert note is not None and "soft limit" in note  # the planned top stops at the soft maximum


def test_prediction_models_and_window() -> None:
    p = plan("cohen2018-test", 70)
    pred = p.sessions[0].prediction
    assert pred is not None and pred.model_key == "domino1984"
    assert pred.peak_cp_t_min == pytest.approx(150, abs=1)  # a constant infusion peaks at its end
    assert 0 < pred.minutes_in_analgesic_window < 210
    sigtermans = plan("sigtermans2009", 70).sessions[0].prediction
    assert sigtermans is not None and sigtermans.model_key == "fanta2015_s"
    with pytest.raises(Exception, match="nope"):
        plan("cohen2018-test", 70, model_key="nope")


def test_dosing_weight_devine() -> None:
    assert ideal_body_weight_kg(180, "male") == pytest.approx(50 + 2.3 * (180 / 2.54 - 60))
    assert ideal_body_weight_kg(165, "female") == pytest.approx(45.5 + 2.3 * (165 / 2.54 - 60))
    p = plan("cleveland2025", 100, height_cm=180, sex="male", dosing_weight="adjusted")
    ibw = 50 + 2.3 * (180 / 2.54 - 60)
    assert p.weight.weight_kg == pytest.approx(ibw + 0.4 * (100 - ibw))
    exact_mg = 0.5 * (ibw + 0.4 * (100 - ibw))  # 0.5 mg/kg, less what rounding the pump down drops
    assert exact_mg - 0.1 * 40 / 60 <= p.sessions[0].total_mg <= exact_mg
    light = plan("schwartzman2009", 50, height_cm=190, sex="male", dosing_weight="ideal")
    assert light.weight.weight_kg == 50 and light.weight.note  # never above the actual weight
    with pytest.raises(InputError, match="height"):
        plan("schwartzman2009", 80, dosing_weight="ideal")


def test_bad_input() -> None:
    with pytest.raises(InputError, match="weight"):
        plan("cohen2018-test", 0)
    with pytest.raises(InputError, match="weight"):
        plan("cohen2018-test", 401)
    with pytest.raises(InputError, match="concentration"):
        plan("cohen2018-test", 70, concentration_mg_ml=10)
    with pytest.raises(InputError, match="volume"):
        plan("cohen2018-test", 70, volume_ml=0)
    assert plan("cohen2018-test", 70, volume_ml=50).sessions[0].containers == 2


def test_hard_breach_refused() -> None:
    # 0.5 mg/kg over 40 min at 300 kg = 225 mg/h, above the 200 mg/h hard cap
    with pytest.raises(HardLimitError) as err:
        plan("cleveland2025", 300)
    assert err.value.check.limit_kind == "hard_max" and err.value.field == "rate_mg_h"
    assert isinstance(err.value, InputError)


def _with_rate(protocol_id: str, rate_mg_kg_h: float, duration_min: float):  # type: ignore[no-untyped-def]
    protocol = PROTOCOLS[protocol_id]
    param = Param(rate_mg_kg_h, "test", Status.LOCAL_POLICY)
    block = replace(
        protocol.dosing[0],
        dose_mg=None,
        dose_mg_kg=None,
        rate_mg_h=None,
        max_rate_mg_h=None,
        titration=None,
        rate_mg_kg_h=param,
        duration_min=Param(duration_min, "test", Status.LOCAL_POLICY),
        first_session=1,
        last_session=None,
    )
    return replace(protocol, dosing=(block,))


def _assert_within_hard_limits(p: DosePlan) -> None:
    ctx = LIB.context(p.context)
    tol = 1 + 1e-9

    def hard_max(quantity: str) -> float:
        limit = ctx.limit_set(quantity).hard_max
        assert limit is not None, f"{quantity} has no hard max"
        return limit.value

    per_kg = hard_max("rate_mg_kg_h")
    absolute = hard_max("rate_mg_h")
    for s in p.sessions:
        for seg in list(s.segments) + list(s.min_path_segments):
            assert seg.rate_mg_h / p.weight.weight_kg <= per_kg * tol
            assert seg.rate_mg_h <= absolute * tol
        assert s.total_mg <= hard_max("session_total_mg") * tol
    assert p.series_total_mg <= hard_max("series_total_mg") * tol


@settings(max_examples=60, deadline=None)
@given(
    protocol_id=st.sampled_from(sorted(PROTOCOLS)),
    weight=st.floats(min_value=1, max_value=400),
    rate=st.one_of(st.none(), st.floats(min_value=0.01, max_value=10)),
    duration=st.floats(min_value=5, max_value=600),
)
def test_no_plan_passes_a_hard_limit(
    protocol_id: str, weight: float, rate: float | None, duration: float
) -> None:
    protocol = PROTOCOLS[protocol_id] if rate is None else _with_rate(protocol_id, rate, duration)
    try:
        p = build_plan(protocol, weight_kg=weight, start=START, library=LIB, predict=False)
    except HardLimitError:
        return
    except InputError as bad:  # a rate the 0.1 mL/h pump cannot be set to (rounds to zero)
        assert bad.field == "pump_ml_h" and "resolution" in bad.message and weight < 10
        return
    _assert_within_hard_limits(p)
    assert p.verdict in ("ok", "soft")


def test_get_protocol_plans_via_public_api() -> None:
    p = build_plan(get_protocol("cohen2018-test"), weight_kg=70, start=START, library=LIB)
    data = p.to_json_dict()
    assert data["protocol"] == "cohen2018-test"
    assert set(data["sessions"][0]["segments"][0]) == {
        "start_min",
        "end_min",
        "rate_mg_kg_h",
        "rate_mg_h",
        "pump_ml_h",
        "volume_ml",
    }
    assert data["sessions"][0]["date"] == "2025-03-03" and data["series_total_mg"] == pytest.approx(80)


@settings(max_examples=40, deadline=None)
@given(
    protocol_id=st.sampled_from(sorted(PROTOCOLS)),
    weight_kg=st.floats(min_value=40, max_value=150, allow_nan=False),
    height_cm=st.one_of(st.none(), st.floats(min_value=140, max_value=200)),
    predict=st.booleans(),
)
def test_a_stored_plan_reads_back_as_the_same_value(
    protocol_id: str, weight_kg: float, height_cm: float | None, predict: bool
) -> None:
    import json

    try:
        plan = build_plan(
            PROTOCOLS[protocol_id],
            weight_kg=weight_kg,
            height_cm=height_cm,
            sex="female" if height_cm else None,
            library=LIB,
            start=date(2026, 1, 5),
            predict=predict,
        )
    except HardLimitError:
        return
    stored = json.dumps(plan.to_json_dict(), sort_keys=True, separators=(",", ":"))
    assert DosePlan.from_json_dict(json.loads(stored)) == plan
