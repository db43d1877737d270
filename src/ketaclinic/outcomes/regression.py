"""Logistic regression of response on diagnosis, pain mechanism and baseline NRS, only when the data allow."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from ketaclinic.outcomes.definitions import min_events_per_variable

METHOD = "logistic regression (statsmodels Logit, maximum likelihood)"


def _dummies(values: npt.NDArray[np.str_], name: str) -> tuple[list[str], npt.NDArray[np.float64], str]:
    """Indicator columns for every level but the most frequent (the reference level)."""
    levels, counts = np.unique(values, return_counts=True)
    reference = str(levels[int(np.argmax(counts))])
    others = [str(level) for level in levels if level != reference]
    columns = (values[:, None] == np.array(others, dtype=str)[None, :]).astype(np.float64)
    return [f"{name}={level}" for level in others], columns, reference


def _independent_columns(
    names: list[str], x: npt.NDArray[np.float64]
) -> tuple[list[str], npt.NDArray[np.float64], list[str]]:
    """Keep columns that add rank, in order; e.g. mechanism terms implied by the diagnoses are dropped."""
    kept: list[int] = []
    for j in range(x.shape[1]):
        if np.linalg.matrix_rank(x[:, [*kept, j]]) == len(kept) + 1:
            kept.append(j)
    dropped = [names[j] for j in range(x.shape[1]) if j not in kept]
    return [names[j] for j in kept], x[:, kept], dropped


def load_model_library() -> None:
    """Import the model library now (half a second or more), e.g. in a thread while the data is read."""
    import statsmodels.api
    import statsmodels.tools.sm_exceptions  # noqa: F401


def fit_responder_model(
    responder: npt.NDArray[np.bool_],
    diagnosis: npt.NDArray[np.str_],
    pain_mechanism: npt.NDArray[np.str_],
    baseline_nrs: npt.NDArray[np.float64],
) -> dict[str, Any]:
    """Odds ratios for response, or `fitted: False` with a message (too few events, separation, singular)."""
    keep = ~np.isnan(baseline_nrs)
    if not keep.any():
        return {"method": METHOD, "n": 0, "fitted": False, "message": "no patient has a baseline NRS"}
    y = responder[keep].astype(np.float64)
    dx_names, dx_cols, dx_ref = _dummies(diagnosis[keep], "diagnosis")
    mech_names, mech_cols, mech_ref = _dummies(pain_mechanism[keep], "mechanism")
    candidate_names = ["intercept", *dx_names, *mech_names, "baseline_nrs"]
    candidates = np.column_stack([np.ones(y.size), dx_cols, mech_cols, baseline_nrs[keep]])
    names, x, dropped = _independent_columns(candidate_names, candidates)
    events = int(min(y.sum(), y.size - y.sum()))
    epv = min_events_per_variable()
    out: dict[str, Any] = {
        "method": METHOD,
        "n": int(y.size),
        "events": events,
        "parameters": len(names),
        "reference": {"diagnosis": dx_ref, "pain_mechanism": mech_ref},
        "dropped_terms": dropped,
        "min_events_per_variable": {"value": epv.value, "source": epv.source, "status": epv.status.value},
        "fitted": False,
    }
    predictors = len(names) - 1
    if events < epv.value * predictors:
        out["message"] = (
            f"too few events to fit: {events} of the rarer outcome for {predictors} predictors "
            f"(needs {epv.value:g} per predictor)"
        )
        return out
    import statsmodels.api as sm  # slow to import: only when a model is actually fitted
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("error", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            result = sm.Logit(y, x).fit(disp=0, maxiter=200)
    except (PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError, ValueError) as exc:
        out["message"] = f"model could not be fitted (separation or singular information matrix): {exc}"
        return out
    if not result.mle_retvals.get("converged", False):
        out["message"] = "model did not converge (possible separation)"
        return out
    params = np.asarray(result.params, dtype=np.float64)
    bse = np.asarray(result.bse, dtype=np.float64)
    if not np.all(np.isfinite(bse)) or np.any(np.abs(params) > 15):
        out["message"] = "quasi-complete separation: coefficients are unbounded"
        return out
    ci = np.asarray(result.conf_int(), dtype=np.float64)
    pvalues = np.asarray(result.pvalues, dtype=np.float64)
    out["fitted"] = True
    out["terms"] = [
        {
            "term": name,
            "coef": float(params[i]),
            "odds_ratio": float(np.exp(params[i])),
            "ci95": [float(np.exp(ci[i, 0])), float(np.exp(ci[i, 1]))],
            "p_value": float(pvalues[i]),
        }
        for i, name in enumerate(names)
    ]
    return out
