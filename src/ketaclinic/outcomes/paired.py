"""Paired pain change: Wilcoxon signed-rank test (stating exact or normal approximation), effect size."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

FloatArray = npt.NDArray[np.float64]

# Below this many non-zero differences, and without ties, the exact null distribution is used (as
# scipy's own "auto" does); otherwise the normal approximation.
MAX_EXACT_PAIRS = 50
EFFECT_SIZE_METHOD = (
    "standardised mean change: mean of (endpoint - baseline) over the complete pairs, divided by the "
    "sample SD (n - 1) of those pairs' baseline NRS (the pre-treatment SD, Becker 1988); "
    "negative = less pain"
)


def _complete_pairs(before: FloatArray, after: FloatArray) -> tuple[FloatArray, FloatArray]:
    b = np.asarray(before, dtype=np.float64)
    a = np.asarray(after, dtype=np.float64)
    both = ~np.isnan(b) & ~np.isnan(a)
    return b[both], a[both]


def wilcoxon_paired(before: FloatArray, after: FloatArray) -> dict[str, Any]:
    """Paired Wilcoxon signed-rank test on complete pairs (zeros dropped), naming its p-value method."""
    b, a = _complete_pairs(before, after)
    diff = a - b
    nonzero = diff[diff != 0]
    out: dict[str, Any] = {
        "method": "Wilcoxon signed-rank test (paired, two-sided; zero differences dropped)",
        "n_pairs": int(diff.size),
        "n_nonzero": int(nonzero.size),
        "p_method": None,
    }
    if nonzero.size == 0:
        out.update(statistic=None, p_value=None, message="no non-zero paired differences to test")
        return out
    ties = np.unique(np.abs(nonzero)).size < nonzero.size
    exact = nonzero.size <= MAX_EXACT_PAIRS and not ties
    res = sps.wilcoxon(
        nonzero, zero_method="wilcox", alternative="two-sided", method="exact" if exact else "approx"
    )
    out.update(
        statistic=float(res.statistic),
        statistic_kind="W = the smaller of the positive and negative rank sums",
        p_value=float(res.pvalue),
        p_method=(
            f"exact null distribution ({nonzero.size} non-zero differences, no ties)"
            if exact
            else "normal approximation (tie-corrected variance, no continuity correction; "
            + ("tied absolute differences)" if ties else f"more than {MAX_EXACT_PAIRS} pairs)")
        ),
    )
    return out


def standardised_mean_change(before: FloatArray, after: FloatArray) -> dict[str, Any]:
    """Effect size of the pain change: mean paired change over the baseline SD (EFFECT_SIZE_METHOD)."""
    b, a = _complete_pairs(before, after)
    out: dict[str, Any] = {"method": EFFECT_SIZE_METHOD, "n_pairs": int(b.size)}
    sd = float(np.std(b, ddof=1)) if b.size >= 2 else 0.0
    if sd == 0.0:
        reason = "fewer than two complete pairs" if b.size < 2 else "every baseline NRS is the same"
        out.update(estimate=None, mean_change=None, baseline_sd=None, message=f"not computed: {reason}")
        return out
    mean_change = float(np.mean(a - b))
    out.update(estimate=mean_change / sd, mean_change=mean_change, baseline_sd=sd)
    return out
