"""The blockwise population summary equals the percentiles and median peak of the full Cp matrix.

The summary computes Cp in float32 like the population it replaces, so it agrees with a float64
reference to float32 precision (about 1e-7 relative, 1e-4 ng/mL where a sum cancels to zero).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.errors import InputError
from ketaclinic.pharmacology import Bolus, Infusion, Regimen, simulate_population
from ketaclinic.pharmacology.population import INTERVAL_COLUMNS, column_medians, summarize_population

RTOL, ATOL_NG_ML = 1e-5, 1e-3


def _full(
    model: str, weights: np.ndarray, t: np.ndarray, report: list[float], seed: int, per_kg: Regimen
) -> tuple[np.ndarray, np.ndarray]:
    """What the full (N, T) float64 matrix gives: percentiles at the report times, the median curve."""
    rng = np.random.default_rng(seed)
    pop = simulate_population(model, weights, t, regimen_per_kg=per_kg, seed=rng, dtype=np.float64)
    curves = np.percentile(pop.cp_ng_ml, (5.0, 50.0, 95.0), axis=0)
    return np.array([np.interp(report, t, c) for c in curves]), curves[1]


@pytest.mark.parametrize("block", [INTERVAL_COLUMNS, 3 * INTERVAL_COLUMNS, 1024])
def test_a_peak_inside_the_grid_is_found_exactly_whatever_the_blocks(block: int) -> None:
    rng = np.random.default_rng(7)
    weights = rng.uniform(15, 40, 400)
    t = np.linspace(0, 180, 181 * 3 - 2)  # a grid that no block size divides
    report = [0.0, 29.9, 30.0, 61.25, 180.0]
    per_kg = Regimen(infusions=(Infusion(0, 30, 1.0),))
    summary = summarize_population(
        "herd2007",
        weights,
        t,
        report,
        regimen_per_kg=per_kg,
        seed=np.random.default_rng(3),
        block_columns=block,
    )
    at, median = _full("herd2007", weights, t, report, 3, per_kg)
    np.testing.assert_allclose(summary.at_report_ng_ml, at, rtol=RTOL, atol=ATOL_NG_ML)
    assert summary.median_peak_t_min == t[int(np.argmax(median))] == 30.0  # the infusion's end
    assert summary.median_peak_ng_ml == pytest.approx(median.max(), rel=RTOL)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 60),
    bolus_mg_kg=st.floats(0, 2),
    rate_mg_kg_h=st.floats(0, 3),
    stop_min=st.floats(1, 90),
    late_bolus=st.tuples(st.floats(0, 119), st.floats(0, 1)),
    seed=st.integers(0, 2**16),
)
def test_the_summary_equals_the_full_matrix(
    n: int,
    bolus_mg_kg: float,
    rate_mg_kg_h: float,
    stop_min: float,
    late_bolus: tuple[float, float],
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    weights = rng.uniform(15, 40, n)
    t = np.linspace(0, 120, 241)
    report = [0.0, 10.1, 60.0, 120.0]
    per_kg = Regimen(
        boluses=(Bolus(0, bolus_mg_kg), Bolus(*late_bolus)),
        infusions=(Infusion(0, stop_min, rate_mg_kg_h),) if rate_mg_kg_h else (),
    )
    summary = summarize_population(
        "herd2007", weights, t, report, regimen_per_kg=per_kg, seed=seed, block_columns=64
    )
    at, median = _full("herd2007", weights, t, report, seed, per_kg)
    np.testing.assert_allclose(summary.at_report_ng_ml, at, rtol=RTOL, atol=ATOL_NG_ML)
    assert summary.median_peak_ng_ml == pytest.approx(median.max(), rel=RTOL, abs=ATOL_NG_ML)
    # the peak's time is a grid time whose median is the peak (ties within float32 may pick either)
    at_peak = median[int(np.searchsorted(t, summary.median_peak_t_min))]
    assert at_peak == pytest.approx(median.max(), rel=RTOL, abs=ATOL_NG_ML)


def test_column_medians_of_odd_and_even_counts() -> None:
    cp = np.array([[1.0, 9.0], [3.0, 2.0], [2.0, 4.0]], dtype=np.float32)
    assert column_medians(cp).tolist() == [2.0, 4.0]
    assert column_medians(cp[:2]).tolist() == [2.0, 5.5]


def test_report_times_outside_the_grid_are_refused() -> None:
    with pytest.raises(InputError, match="report times"):
        summarize_population("domino1984", [70.0], np.linspace(0, 10, 11), [11.0])
