"""Survival analysis: Kaplan-Meier estimate with an exact median, k-sample log-rank test."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from ketaclinic.errors import InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# The float product of the KM factors is off by far less than this (a few ulps per factor); a step
# whose float survival lies this close to 0.5 is decided in exact rational arithmetic instead.
_HALF_BAND = 1e-9


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


def _first_step_at_or_below_half(survival: FloatArray, deaths: IntArray, at_risk: IntArray) -> int | None:
    """Index of the first step whose exact survival is <= 1/2 (9/12 x 7/9 x 6/7 is 1/2, not 0.5000000001)."""
    maybe = np.flatnonzero(survival <= 0.5 + _HALF_BAND)
    if maybe.size == 0:
        return None
    surely = np.flatnonzero(survival < 0.5 - _HALF_BAND)
    first, last = int(maybe[0]), int(surely[0]) if surely.size else survival.size - 1
    if first == last:
        return first
    exact = Fraction(1)
    for i in np.flatnonzero(deaths[: last + 1]):
        exact *= Fraction(int(at_risk[i] - deaths[i]), int(at_risk[i]))
        if i >= first and exact <= Fraction(1, 2):
            return int(i)
    return last


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
    step = _first_step_at_or_below_half(survival, d, at_risk)
    median = None if step is None else float(unique[step])
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
    out: dict[str, Any] = {
        "method": "log-rank test (chi-square with k - 1 df, hypergeometric variance)",
        "groups": labels.tolist(),
    }
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
