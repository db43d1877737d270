"""Cohort statistics over NumPy arrays: Wilson interval, exact/chi-square tests, Kaplan-Meier, log-rank."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class KmCurve:
    """Kaplan-Meier estimate as a right-continuous step function starting at (0, 1)."""

    time: FloatArray
    survival: FloatArray
    at_risk: IntArray
    events: IntArray
    n: int
    median: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready arrays."""
        return {
            "time": self.time.tolist(),
            "survival": self.survival.tolist(),
            "at_risk": self.at_risk.tolist(),
            "events": self.events.tolist(),
            "n": self.n,
            "median": self.median,
        }


def _check_survival_input(time: FloatArray, event: npt.ArrayLike) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event).astype(bool)
    if t.shape != e.shape or t.ndim != 1:
        raise InputError("time and event arrays must be one-dimensional and of equal length", field="time")
    if np.any(np.isnan(t)) or np.any(t < 0):
        raise InputError("survival times must be present and not negative", field="time")
    return t, e


def kaplan_meier(time: FloatArray, event: npt.ArrayLike) -> KmCurve:
    """Kaplan-Meier survival; `event` True = the event (relief ended, dropout) happened, False = censored.

    The median is the first time the estimate falls to 0.5 or below (None when it never does).
    """
    t, e = _check_survival_input(time, event)
    if t.size == 0:
        empty = np.zeros(0)
        return KmCurve(
            np.array([0.0]), np.array([1.0]), empty.astype(np.int64), empty.astype(np.int64), 0, None
        )
    unique, inverse = np.unique(t, return_inverse=True)
    d = np.bincount(inverse, weights=e.astype(np.float64)).astype(np.int64)
    leaving = np.bincount(inverse).astype(np.int64)
    at_risk = t.size - np.concatenate(([0], np.cumsum(leaving)[:-1]))
    survival = np.cumprod(1.0 - d / at_risk)
    below = np.nonzero((survival <= 0.5) & (d > 0))[0]
    median = float(unique[below[0]]) if below.size else None
    return KmCurve(
        time=np.concatenate(([0.0], unique)),
        survival=np.concatenate(([1.0], survival)),
        at_risk=np.concatenate(([t.size], at_risk)).astype(np.int64),
        events=np.concatenate(([0], d)).astype(np.int64),
        n=int(t.size),
        median=median,
    )


def logrank(time: FloatArray, event: npt.ArrayLike, group: npt.ArrayLike) -> dict[str, Any]:
    """k-sample log-rank test (chi-square with k-1 df) with observed and expected events per group."""
    t, e = _check_survival_input(time, event)
    g = np.asarray(group, dtype=str)
    labels = np.unique(g)
    out: dict[str, Any] = {"method": "log-rank test", "groups": labels.tolist()}
    if labels.size < 2 or not e.any():
        out.update(
            chi2=None, df=None, p_value=None, message="log-rank needs two groups and at least one event"
        )
        return out
    event_times = np.unique(t[e])
    # at_risk[g, j]: patients of group g still under observation at event time j; deaths likewise.
    at_risk = np.stack([np.sum(t[g == lab][:, None] >= event_times[None, :], axis=0) for lab in labels])
    deaths = np.stack(
        [np.sum((t[(g == lab) & e][:, None] == event_times[None, :]), axis=0) for lab in labels]
    )
    n_all = at_risk.sum(axis=0).astype(np.float64)
    d_all = deaths.sum(axis=0).astype(np.float64)
    expected = (at_risk * (d_all / n_all)).sum(axis=1)
    observed = deaths.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n_all > 1, d_all * (n_all - d_all) / (n_all - 1), 0.0) / n_all
    share = at_risk / n_all
    cov = np.einsum("j,gj,hj->gh", factor * n_all, share, -share)
    cov[np.diag_indices_from(cov)] += (factor * n_all * share).sum(axis=1)
    diff = (observed - expected)[:-1]
    v = cov[:-1, :-1]
    try:
        chi2 = float(diff @ np.linalg.solve(v, diff))
    except np.linalg.LinAlgError:
        out.update(chi2=None, df=None, p_value=None, message="log-rank variance is singular")
        return out
    df = int(labels.size - 1)
    out.update(
        chi2=chi2,
        df=df,
        p_value=float(sps.chi2.sf(chi2, df)),
        observed=observed.tolist(),
        expected=expected.tolist(),
    )
    return out
