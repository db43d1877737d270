"""Cohort statistics over NumPy arrays: Wilson interval, exact/chi-square tests, Kaplan-Meier, log-rank."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special
from scipy import stats as sps

from ketaclinic.errors import InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

Z_95 = float(sps.norm.ppf(0.975))
# Largest number of 2 x k tables enumerated for the exact test; beyond it the chi-square test is used.
MAX_EXACT_TABLES = 2_000_000


def wilson_interval(successes: int, n: int, *, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95 % by default); (nan, nan) when n = 0."""
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise InputError(f"{successes} successes out of {n} is impossible", field="successes")
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _exact_2xk(responders: IntArray, sizes: IntArray) -> float | None:
    """Freeman-Halton exact p-value for a 2 x k table (None when too many tables to enumerate)."""
    if float(np.prod(sizes[:-1].astype(np.float64) + 1)) > MAX_EXACT_TABLES:
        return None
    total_r = int(responders.sum())
    # Enumerate the responder counts group by group, carrying partial sums and log-probabilities.
    partial = np.zeros(1, dtype=np.int64)
    logp = np.zeros(1, dtype=np.float64)
    for size in sizes:
        x = np.arange(size + 1, dtype=np.int64)
        log_comb = special.gammaln(size + 1) - special.gammaln(x + 1) - special.gammaln(size - x + 1)
        partial = (partial[:, None] + x[None, :]).ravel()
        logp = (logp[:, None] + log_comb[None, :]).ravel()
        keep = partial <= total_r
        partial, logp = partial[keep], logp[keep]
    logp = logp[partial == total_r]
    n = int(sizes.sum())
    log_denominator = special.gammaln(n + 1) - special.gammaln(total_r + 1) - special.gammaln(n - total_r + 1)
    probs = np.exp(logp - log_denominator)
    observed = float(
        np.exp(
            np.sum(
                special.gammaln(sizes + 1)
                - special.gammaln(responders + 1)
                - special.gammaln(sizes - responders + 1)
            )
            - log_denominator
        )
    )
    # Relative tolerance so tables exactly as likely as the observed one are counted despite rounding.
    return float(min(1.0, probs[probs <= observed * (1 + 1e-7)].sum()))


def compare_proportions(
    groups: Sequence[str], responders: Sequence[int], sizes: Sequence[int]
) -> dict[str, Any]:
    """Compare responder proportions between groups: Fisher (2 groups), Freeman-Halton exact or chi-square."""
    r = np.asarray(responders, dtype=np.int64)
    n = np.asarray(sizes, dtype=np.int64)
    table = [[int(a), int(b - a)] for a, b in zip(r, n, strict=True)]
    out: dict[str, Any] = {
        "groups": list(groups),
        "table": table,
        "table_columns": ["responders", "non_responders"],
        "method": None,
        "p_value": None,
        "odds_ratio": None,
    }
    if len(groups) < 2 or np.any(n == 0):
        out["message"] = "a comparison needs at least two groups, each with at least one patient"
        return out
    if len(groups) == 2:
        res = sps.fisher_exact(table, alternative="two-sided")
        out.update(
            method="Fisher's exact test (two-sided)",
            p_value=float(res.pvalue),
            odds_ratio=float(res.statistic),
        )
        return out
    p_exact = _exact_2xk(r, n)
    if p_exact is not None:
        out.update(method="Freeman-Halton exact test (Fisher's exact test for 2 x k tables)", p_value=p_exact)
        return out
    if r.sum() in (0, n.sum()):
        out.update(method="chi-square test (Pearson)", p_value=1.0)
        return out
    res_chi = sps.chi2_contingency(np.array(table), correction=False)
    out.update(method="chi-square test (Pearson, no continuity correction)", p_value=float(res_chi.pvalue))
    return out


def median_iqr(values: FloatArray) -> dict[str, float | int | None]:
    """Median and interquartile range of the non-missing values."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return {"n": 0, "median": None, "q1": None, "q3": None}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"n": int(v.size), "median": float(med), "q1": float(q1), "q3": float(q3)}


def wilcoxon_paired(before: FloatArray, after: FloatArray) -> dict[str, Any]:
    """Paired Wilcoxon signed-rank test on complete pairs (zero differences dropped)."""
    b = np.asarray(before, dtype=np.float64)
    a = np.asarray(after, dtype=np.float64)
    both = ~np.isnan(b) & ~np.isnan(a)
    diff = a[both] - b[both]
    out: dict[str, Any] = {
        "method": "Wilcoxon signed-rank test (paired, two-sided)",
        "n_pairs": int(both.sum()),
    }
    if np.count_nonzero(diff) == 0:
        out.update(statistic=None, p_value=None, message="no non-zero paired differences to test")
        return out
    res = sps.wilcoxon(diff, zero_method="wilcox", alternative="two-sided")
    out.update(statistic=float(res.statistic), p_value=float(res.pvalue))
    return out
