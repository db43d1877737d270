"""Wilson interval, exact tests, Kaplan-Meier and log-rank against hand-worked and published values."""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from ketaclinic.outcomes import compare_proportions, kaplan_meier, logrank, wilson_interval
from ketaclinic.outcomes.paired import wilcoxon_paired
from ketaclinic.outcomes.stats import median_iqr


def _wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def test_wilson_23_of_45() -> None:
    lo, hi = wilson_interval(23, 45)
    assert (lo, hi) == pytest.approx(_wilson_by_hand(23, 45), abs=1e-12)
    assert (round(lo, 4), round(hi, 4)) == (0.3700, 0.6504)


def test_wilson_edges() -> None:
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)  # textbook value for 0/10
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_fisher_two_groups_matches_scipy_and_hypergeometric() -> None:
    out = compare_proportions(["TN", "AFP"], [6, 1], [7, 5])
    assert out["method"].startswith("Fisher")
    assert out["p_value"] == pytest.approx(sps.fisher_exact([[6, 1], [1, 4]]).pvalue)
    # hand: TN responders x ~ hypergeometric(N=12, K=7 responders, n=7 TN); sum P(x) <= P(observed)
    probs = {x: math.comb(7, x) * math.comb(5, 7 - x) / math.comb(12, 7) for x in range(2, 8)}
    hand = sum(p for p in probs.values() if p <= probs[6] * (1 + 1e-9))
    assert out["p_value"] == pytest.approx(hand, rel=1e-12)
    assert out["odds_ratio"] == pytest.approx(6 * 4 / (1 * 1))


def test_freeman_halton_matches_brute_force() -> None:
    r, n = [3, 1, 4], [5, 4, 6]
    out = compare_proportions(["a", "b", "c"], r, n)
    assert out["method"].startswith("Freeman-Halton")
    total = sum(r)
    denom = math.comb(sum(n), total)

    def prob(xs: tuple[int, ...]) -> float:
        return math.prod(math.comb(ni, xi) for ni, xi in zip(n, xs, strict=True)) / denom

    observed = prob(tuple(r))
    tables = [xs for xs in itertools.product(*(range(ni + 1) for ni in n)) if sum(xs) == total]
    hand = sum(prob(xs) for xs in tables if prob(xs) <= observed * (1 + 1e-9))
    assert out["p_value"] == pytest.approx(hand, rel=1e-10)
    assert out["odds_ratio"] is None


def test_exact_2xk_reduces_to_fisher_for_two_groups() -> None:
    from ketaclinic.outcomes.stats import _exact_2xk

    p = _exact_2xk(np.array([9, 2]), np.array([12, 10]))
    assert p == pytest.approx(sps.fisher_exact([[9, 3], [2, 8]]).pvalue, rel=1e-10)


def test_large_tables_fall_back_to_chi_square() -> None:
    out = compare_proportions(list("abcdefg"), [300] * 7, [600] * 7)
    assert out["method"].startswith("chi-square")
    assert out["p_value"] == pytest.approx(1.0)


def test_kaplan_meier_hand_worked() -> None:
    # t: 1 2 2+ 3 4+ ; S(1)=4/5, S(2)=4/5*3/4=0.6, S(3)=0.6*1/2=0.3, S(4)=0.3
    km = kaplan_meier(np.array([1, 2, 2, 3, 4.0]), np.array([1, 1, 0, 1, 0]))
    assert km.time.tolist() == [0, 1, 2, 3, 4]
    assert km.survival == pytest.approx([1, 0.8, 0.6, 0.3, 0.3])
    assert km.at_risk.tolist() == [5, 5, 4, 2, 1]
    assert km.median == 3.0
    assert kaplan_meier(np.array([5.0, 6.0]), np.array([0, 0])).median is None


def test_kaplan_meier_median_is_exact_where_the_float_product_is_not() -> None:
    # S(3) = 9/12 x 7/9 x 6/7 = 1/2 exactly, while the float product is 0.5000000000000001
    t = np.array([26, 20, 16, 12, 10, 8, 1, 0, 1, 0, 3, 0], dtype=float)
    ongoing = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    km = kaplan_meier(t, ongoing == 0)
    assert float(np.cumprod(1.0 - np.array([3, 2, 1]) / np.array([12, 9, 7]))[-1]) > 0.5
    assert km.median == 3.0


def _exact_km_median(times: list[int], events: list[bool]) -> int | None:
    """Reference median by exact rational arithmetic: first event time with S <= 1/2."""
    survival = Fraction(1)
    for time in sorted(set(times)):
        at_risk = sum(1 for t in times if t >= time)
        deaths = sum(1 for t, e in zip(times, events, strict=True) if t == time and e)
        survival *= Fraction(at_risk - deaths, at_risk)
        if deaths and survival <= Fraction(1, 2):
            return time
    return None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=12), st.booleans()), min_size=1, max_size=40))
def test_kaplan_meier_median_matches_exact_rational_computation(cohort: list[tuple[int, bool]]) -> None:
    times = [t for t, _ in cohort]
    events = [e for _, e in cohort]
    expected = _exact_km_median(times, events)
    median = kaplan_meier(np.array(times, dtype=float), np.array(events)).median
    assert median == (None if expected is None else float(expected))


def test_kaplan_meier_matches_scipy_ecdf() -> None:
    rng = np.random.default_rng(7)
    t = rng.integers(1, 30, 60).astype(float)
    e = rng.random(60) < 0.7
    km = kaplan_meier(t, e)
    ref = sps.ecdf(sps.CensoredData(uncensored=t[e], right=t[~e])).sf
    assert km.survival[1:] == pytest.approx(ref.evaluate(km.time[1:]), abs=1e-12)


# Freireich et al. 6-MP vs placebo remission times (Gehan 1965); log-rank chi2 = 16.79, 1 df
SIX_MP = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
SIX_MP_EVENT = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]


def test_logrank_freireich_known_value() -> None:
    t = np.array(SIX_MP + PLACEBO, dtype=float)
    e = np.array(SIX_MP_EVENT + [1] * 21)
    g = np.array(["6mp"] * 21 + ["placebo"] * 21)
    out = logrank(t, e, g)
    assert out["chi2"] == pytest.approx(16.79, abs=0.01)
    assert out["p_value"] == pytest.approx(4.17e-5, rel=0.01)
    assert out["observed"] == [9.0, 21.0]
    ref = sps.logrank(
        sps.CensoredData(uncensored=t[:21][e[:21] == 1], right=t[:21][e[:21] == 0]),
        sps.CensoredData(uncensored=t[21:]),
    )
    assert out["chi2"] == pytest.approx(ref.statistic**2, rel=1e-10)


def test_logrank_three_groups_and_no_events() -> None:
    t = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9.0])
    g = np.array(list("aaabbbccc"))
    out = logrank(t, np.ones(9), g)
    assert out["df"] == 2 and 0 < out["p_value"] < 0.05
    assert logrank(t, np.zeros(9), g)["p_value"] is None


def test_median_iqr_and_wilcoxon() -> None:
    s = median_iqr(np.array([1, 2, 3, 4, np.nan]))
    assert (s["n"], s["median"], s["q1"], s["q3"]) == (4, 2.5, 1.75, 3.25)
    before = np.array([8, 7, 9, 6, 8, 7.0])
    after = np.array([3, 4, 5, 6, 2, np.nan])
    w = wilcoxon_paired(before, after)
    assert w["n_pairs"] == 5
    assert w["p_value"] == pytest.approx(sps.wilcoxon([-5, -3, -4, -6]).pvalue)
    assert wilcoxon_paired(before, before)["p_value"] is None
