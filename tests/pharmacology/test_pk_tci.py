"""TCI: plasma and effect-site targeting, pump limits, plasma cap, the pump-practical plan."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.errors import InputError
from ketaclinic.pharmacology import practical_schedule, simulate, tci_effect, tci_plasma


def _fine(result, minutes: float):  # type: ignore[no-untyped-def]
    return simulate(
        result.prediction.model_key,
        result.prediction.weight_kg,
        result.regimen,
        np.arange(0, minutes * 60 + 1) / 60.0,
        ke0_per_min=result.prediction.ke0_per_min,
    )


def test_plasma_targeting_holds_cp_on_target_at_every_update() -> None:
    res = tci_plasma("domino1984", 70, 120, 60)
    assert np.allclose(res.prediction.cp_ng_ml[1:], 120, rtol=1e-9)
    assert res.total_mg == pytest.approx(
        sum(s.rate_mg_h * (s.end_min - s.start_min) / 60 for s in res.segments)
    )
    # segments tile the plan with no two consecutive equal rates
    assert res.segments[0].start_min == 0 and res.segments[-1].end_min == pytest.approx(60)
    assert all(
        a.end_min == b.start_min and a.rate_mg_h != b.rate_mg_h
        for a, b in zip(res.segments, res.segments[1:], strict=False)
    )


def test_plasma_targeting_prediction_is_the_simulation_of_its_schedule() -> None:
    res = tci_plasma("kamp2020", 80, 150, 30, interval_s=15)
    p = simulate("kamp2020", 80, res.regimen, res.prediction.t_min)
    np.testing.assert_allclose(p.cp_ng_ml, res.prediction.cp_ng_ml, rtol=1e-9, atol=1e-9)


def test_long_plasma_plan_tends_to_the_steady_state_rate() -> None:
    res = tci_plasma("domino1984", 70, 120, 24 * 60, interval_s=60)
    cl = 1.93158  # L/min at 70 kg (reference section 4)
    assert res.segments[-1].rate_mg_h == pytest.approx(0.120 * cl * 60, rel=0.02)


def test_effect_targeting_peaks_exactly_at_target_and_never_above() -> None:
    res = tci_effect("domino1984", 70, 120, 60)
    fine = _fine(res, 60)
    assert fine.ce_ng_ml is not None
    assert fine.ce_ng_ml.max() == pytest.approx(120, rel=1e-6)
    assert fine.ce_ng_ml[-1] == pytest.approx(120, rel=0.01)
    assert fine.cp_ng_ml.max() > 300  # the classic effect-site overshoot


def test_plasma_cap_and_pump_maximum_are_respected() -> None:
    res = tci_effect("domino1984", 70, 120, 60, max_plasma_ng_ml=200, max_rate_mg_h=900)
    fine = _fine(res, 60)
    assert fine.cp_ng_ml.max() <= 200 * (1 + 1e-9)
    assert max(s.rate_mg_h for s in res.segments) <= 900


@settings(max_examples=10, deadline=None)
@given(st.floats(20, 120), st.floats(50, 300), st.floats(0.5, 4.0), st.sampled_from([5.0, 10.0, 30.0]))
def test_effect_targeting_never_overshoots(weight: float, target: float, ke0: float, interval: float) -> None:
    res = tci_effect("kamp2020", weight, target, 20, ke0_per_min=ke0, interval_s=interval)
    fine = _fine(res, 20)
    assert fine.ce_ng_ml is not None and fine.ce_ng_ml.max() <= target * (1 + 1e-6)


def test_effect_targeting_needs_a_ke0() -> None:
    with pytest.raises(InputError, match="ke0"):
        tci_effect("hijazi2003", 70, 100, 10)
    assert tci_effect("hijazi2003", 70, 100, 10, ke0_per_min=0.3).prediction.ce_ng_ml is not None


@pytest.mark.parametrize(
    "kwargs", [{"target_ng_ml": 0}, {"duration_min": -1}, {"weight_kg": 0}, {"interval_s": 0}]
)
def test_bad_tci_input(kwargs: dict[str, float]) -> None:
    args = {"weight_kg": 70.0, "target_ng_ml": 100.0, "duration_min": 10.0} | kwargs
    with pytest.raises(InputError):
        tci_plasma(
            "domino1984", args.pop("weight_kg"), args.pop("target_ng_ml"), args.pop("duration_min"), **args
        )


@pytest.mark.parametrize("site", ["plasma", "effect"])
def test_practical_plan_changes_rate_at_most_every_hold_and_reports_its_deviation(site: str) -> None:
    plan = practical_schedule("domino1984", 70, 120, 240, site=site, hold_min=15, tolerance_pct=20)  # type: ignore[arg-type]
    for seg in plan.segments[1:-1]:
        assert seg.end_min - seg.start_min >= 15 - 1e-9
    conc = plan.prediction.ce_ng_ml if site == "effect" else plan.prediction.cp_ng_ml
    assert conc is not None
    after = plan.prediction.t_min >= plan.loading_end_min
    achieved = np.max(np.abs(conc[after] - 120)) / 120 * 100
    assert plan.max_deviation_pct == pytest.approx(achieved)
    assert plan.within_tolerance == (plan.max_deviation_pct <= 20)
    assert plan.max_deviation_pct < 25  # a 15-min hold keeps a 4-h plan close to target
