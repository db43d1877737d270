"""Predicted Cp from the charted segments, through ketaclinic.pharmacology (no PK code here)."""

from __future__ import annotations

import pytest

from ketaclinic.errors import InputError
from ketaclinic.monitoring import charted_prediction, predicted_cp_at
from ketaclinic.monitoring.concentration import clip_segments
from ketaclinic.pharmacology import Bolus, Infusion, Regimen, simulate

# Public value from the pharmacology package doctest: Domino 1984, 70 kg, 35 mg/h, Cp at 60 min.
DOMINO_60_MIN_NG_ML = 176.485


def test_predicted_cp_at_matches_the_engine() -> None:
    segments = [Infusion(0, 240, 35)]
    assert predicted_cp_at("domino1984", 70, segments, 60) == pytest.approx(DOMINO_60_MIN_NG_ML, abs=1e-3)


def test_only_what_was_charted_up_to_t_counts() -> None:
    # A segment charted as still running to 240 min must give the same Cp at 60 min as one cut at 60.
    running = predicted_cp_at("domino1984", 70, [Infusion(0, 240, 35)], 60)
    cut = predicted_cp_at("domino1984", 70, [Infusion(0, 60, 35)], 60)
    assert running == pytest.approx(cut)
    assert predicted_cp_at("domino1984", 70, [Infusion(30, 60, 35)], 20) == 0.0


def test_boluses_are_included() -> None:
    cp = predicted_cp_at("domino1984", 70, [], 1, boluses=[Bolus(0, 35)])
    expected = simulate("domino1984", 70, Regimen(boluses=(Bolus(0, 35),)), [1]).cp_ng_ml[0]
    assert cp == pytest.approx(float(expected))


def test_clip_segments() -> None:
    assert clip_segments([Infusion(0, 20, 40), Infusion(20, 40, 80), Infusion(40, 50, 40)], 30) == (
        Infusion(0, 20, 40),
        Infusion(20, 30, 80),
    )


def test_charted_prediction_grid_peak_and_projection() -> None:
    chart = charted_prediction(
        "domino1984", 70, [Infusion(0, 240, 35)], 60, 10, planned_segments=[Infusion(0, 240, 35)]
    )
    assert chart.t_min == [0, 10, 20, 30, 40, 50, 60]
    assert chart.cp_ng_ml[-1] == pytest.approx(DOMINO_60_MIN_NG_ML, abs=1e-3)
    assert chart.peak_cp_ng_ml == chart.cp_ng_ml[-1] and chart.t_peak_min == 60
    # The projection starts where the chart ends and reaches the plan's end at 240 min.
    assert chart.projected_t_min[0] == 60 and chart.projected_t_min[-1] == 240
    assert chart.projected_cp_ng_ml[0] == pytest.approx(chart.cp_ng_ml[-1])
    full = simulate("domino1984", 70, Regimen(infusions=(Infusion(0, 240, 35),)), [240]).cp_ng_ml[0]
    assert chart.projected_cp_ng_ml[-1] == pytest.approx(float(full))


def test_projection_follows_the_plan_not_the_charted_rate() -> None:
    # Charted 60 mg/h so far; the plan drops to 20 mg/h after 30 min.
    plan = [Infusion(0, 30, 60), Infusion(30, 90, 20)]
    chart = charted_prediction("domino1984", 70, [Infusion(0, 30, 60)], 30, 5, planned_segments=plan)
    expected = simulate("domino1984", 70, Regimen(infusions=tuple(plan)), [90]).cp_ng_ml[0]
    assert chart.projected_cp_ng_ml[-1] == pytest.approx(float(expected))


def test_rate_changes_are_on_the_grid_so_the_peak_is_exact() -> None:
    chart = charted_prediction("domino1984", 70, [Infusion(0, 17, 120)], 60, 10)
    assert 17 in chart.t_min
    assert chart.t_peak_min == 17


def test_bad_times_are_refused() -> None:
    with pytest.raises(InputError):
        charted_prediction("domino1984", 70, [], 60, 0)
    with pytest.raises(InputError):
        predicted_cp_at("domino1984", 70, [], -1)
