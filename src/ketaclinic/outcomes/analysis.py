"""`analyse_cohort`: responder rates, comparisons, NRS change, Kaplan-Meier, safety, completion, dose."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ketaclinic.errors import InputError
from ketaclinic.outcomes.cohort import Cohort
from ketaclinic.outcomes.daily import daily_nrs_auc
from ketaclinic.outcomes.definitions import (
    DEFAULT_DEFINITION,
    evaluate_responders,
    get_definition,
    relief_margin_pct,
)
from ketaclinic.outcomes.paired import standardised_mean_change, wilcoxon_paired
from ketaclinic.outcomes.regression import fit_responder_model
from ketaclinic.outcomes.stats import check_alternative, compare_proportions, median_iqr, wilson_interval
from ketaclinic.outcomes.survival import kaplan_meier, logrank
from ketaclinic.screening.diagnoses import PainMechanism, get_diagnosis, list_diagnoses

COMPARE_FIELDS = ("diagnosis", "mechanism", "group")
BoolArray = npt.NDArray[np.bool_]


def parse_compare(spec: str) -> tuple[str, list[str]]:
    """Parse `FIELD:V1,V2[,...]` (FIELD diagnosis, mechanism or group) into a validated (field, values)."""
    field, sep, rest = spec.partition(":")
    field = field.strip().lower()
    values = [v.strip() for v in rest.split(",") if v.strip()]
    if not sep or field not in COMPARE_FIELDS:
        raise InputError(
            f"{spec!r} is not FIELD:V1,V2 with FIELD one of {', '.join(COMPARE_FIELDS)}", field="compare"
        )
    return validate_compare((field, values))


def validate_compare(compare: tuple[str, list[str]]) -> tuple[str, list[str]]:
    """Normalise and check comparison values: known codes, mechanisms or groups, at least two, no repeats."""
    field, raw = compare
    if field not in COMPARE_FIELDS:
        raise InputError(f"{field!r} is not one of {', '.join(COMPARE_FIELDS)}", field="compare")
    if field == "diagnosis":
        values = [get_diagnosis(v, field="compare").code for v in raw]
    elif field == "mechanism":
        allowed = [m.value for m in PainMechanism]
        values = [v.lower() for v in raw]
        if bad := [v for v in values if v not in allowed]:
            raise InputError(f"{bad[0]!r} is not one of {', '.join(allowed)}", field="compare")
    else:
        groups = sorted({d.group for d in list_diagnoses()})
        values = [v.lower() for v in raw]
        if bad := [v for v in values if v not in groups]:
            raise InputError(f"{bad[0]!r} is not a diagnosis group ({', '.join(groups)})", field="compare")
    if len(values) < 2 or len(set(values)) != len(values):
        raise InputError("a comparison needs at least two different values", field="compare")
    return field, values


def _labels(cohort: Cohort, field: str) -> npt.NDArray[np.str_]:
    return {
        "diagnosis": cohort.diagnosis,
        "mechanism": cohort.pain_mechanism,
        "group": cohort.diagnosis_group,
    }[field]


def rate_summary(responders: int, n: int) -> dict[str, Any]:
    """Responders of n with the rate and its Wilson 95 % interval (rate None when n = 0)."""
    lo, hi = wilson_interval(responders, n)
    return {"n": n, "responders": responders, "rate": responders / n if n else None, "ci95": [lo, hi]}


def rates_by_level(labels: npt.NDArray[np.str_], responder: BoolArray, missing: BoolArray) -> dict[str, Any]:
    """Responder rate, Wilson interval and missing follow-up per level of `labels`."""
    levels, inverse = np.unique(labels, return_inverse=True)
    n = np.bincount(inverse, minlength=levels.size)
    r = np.bincount(inverse, weights=responder.astype(np.float64), minlength=levels.size).astype(np.int64)
    m = np.bincount(inverse, weights=missing.astype(np.float64), minlength=levels.size).astype(np.int64)
    return {
        str(level): {**rate_summary(int(r[i]), int(n[i])), "missing_followup": int(m[i])}
        for i, level in enumerate(levels)
    }


def survival_summary(
    time: npt.NDArray[np.float64], event: BoolArray, labels: npt.NDArray[np.str_], groups: list[str]
) -> dict[str, Any]:
    """KM curves overall and per comparison group, medians, and log-rank between the groups."""
    have = ~np.isnan(time)
    curves = {"all": kaplan_meier(time[have], event[have]).as_dict()}
    in_groups = have & np.isin(labels, groups)
    for g in groups:
        sel = have & (labels == g)
        curves[g] = kaplan_meier(time[sel], event[sel]).as_dict()
    return {
        "n": int(have.sum()),
        "events": int((event & have).sum()),
        "curves": curves,
        "median": {name: c["median"] for name, c in curves.items()},
        "logrank": logrank(time[in_groups], event[in_groups], labels[in_groups]),
    }


def survival_inputs(cohort: Cohort) -> dict[str, tuple[npt.NDArray[np.float64], BoolArray]]:
    """Per-patient (time, event) for relief (weeks; event = relief ended) and dropout (sessions)."""
    dropout_time = np.where(np.isnan(cohort.sessions_planned), np.nan, cohort.sessions_completed)
    return {
        "relief": (cohort.relief_weeks, np.asarray(cohort.relief_ongoing == 0, dtype=np.bool_)),
        "dropout": (
            dropout_time,
            np.asarray(cohort.sessions_completed < cohort.sessions_planned, dtype=np.bool_),
        ),
    }


def compare_levels(
    by_field: dict[str, Any], field: str, values: list[str], alternative: str
) -> dict[str, Any]:
    """The responder comparison (compare_proportions) between `values` of a by-level rate table."""
    comparison = compare_proportions(
        values,
        [by_field.get(v, {}).get("responders", 0) for v in values],
        [by_field.get(v, {}).get("n", 0) for v in values],
        alternative=alternative,
    )
    comparison["field"] = field
    comparison["rates"] = {v: by_field.get(v, rate_summary(0, 0)) for v in values}
    return comparison


def definition_summary(definition_id: str) -> dict[str, Any]:
    """The responder definition as a report states it."""
    definition = get_definition(definition_id)
    return {
        "id": definition.id,
        "label": definition.label,
        "min_reduction_pct": definition.min_reduction_pct,
        "exclude_discontinued": list(definition.exclude_discontinued),
        "source": definition.source,
        "status": definition.status.value,
    }


def relief_margin_summary() -> dict[str, Any]:
    """The sustained-relief margin as a report states it."""
    margin = relief_margin_pct()
    return {"value": margin.value, "source": margin.source, "status": margin.status.value}


NOT_RECORDED = "not recorded"


def _adverse_events(cohort: Cohort) -> dict[str, Any]:
    n = cohort.n
    stopped_for_ae = int((cohort.discontinued == "adverse_event").sum())
    if not cohort.adverse_events_recorded:
        # No adverse-event column: absence of a row is not absence of an event, so no counts at all.
        return {
            "recorded": False,
            "message": f"{NOT_RECORDED}: the cohort has no adverse_events column",
            "n_patients": n,
            "patients_with_any": None,
            "per_patient_any": None,
            "sessions": None,
            "per_session_any": None,
            "discontinued_for_adverse_event": stopped_for_ae,
            "by_event": {},
        }
    sessions_known = ~np.isnan(cohort.sessions_completed)
    total_sessions = int(np.nansum(cohort.sessions_completed))
    names = sorted({e for events in cohort.adverse_events for e in events})
    # patient x event-name occurrence counts (built once; the per-name statistics are array operations)
    counts = np.array(
        [[events.count(name) for name in names] for events in cohort.adverse_events], dtype=np.int64
    ).reshape(n, len(names))
    by_event = {}
    for j, name in enumerate(names):
        patients = int((counts[:, j] > 0).sum())
        occurrences_known = int(counts[sessions_known, j].sum())
        by_event[name] = {
            "patients": patients,
            "per_patient": patients / n,
            "per_patient_ci95": list(wilson_interval(patients, n)),
            "occurrences": int(counts[:, j].sum()),
            "per_session": occurrences_known / total_sessions if total_sessions else None,
        }
    any_event = counts.sum(axis=1) > 0
    return {
        "recorded": True,
        "n_patients": n,
        "patients_with_any": int(any_event.sum()),
        "per_patient_any": float(any_event.mean()),
        "sessions": total_sessions if sessions_known.any() else None,
        "per_session_any": (int(counts[sessions_known].sum()) / total_sessions if total_sessions else None),
        "discontinued_for_adverse_event": stopped_for_ae,
        "by_event": by_event,
    }


def _completion(cohort: Cohort) -> dict[str, Any]:
    planned, done = cohort.sessions_planned, cohort.sessions_completed
    known = ~np.isnan(planned) & ~np.isnan(done)
    n = int(known.sum())
    if n == 0:
        return {"n": 0, "message": "no sessions_planned / sessions_completed in the cohort"}
    ratio = done[known] / planned[known]
    completed_all = int((done[known] >= planned[known]).sum())
    stopped_after_first = int(((done[known] <= 1) & (planned[known] > 1)).sum())
    return {
        "n": n,
        "ratio": median_iqr(ratio),
        "mean_ratio": float(ratio.mean()),
        "completed_all": completed_all,
        "completed_all_rate": completed_all / n,
        "completed_all_ci95": list(wilson_interval(completed_all, n)),
        "stopped_after_first_session": stopped_after_first,
    }


def _dose(cohort: Cohort) -> dict[str, Any]:
    dose = cohort.total_dose_mg
    with np.errstate(divide="ignore", invalid="ignore"):
        per_session = np.where(cohort.sessions_completed > 0, dose / cohort.sessions_completed, np.nan)
    return {
        "total_dose_mg": median_iqr(dose),
        "dose_per_session_mg": median_iqr(per_session),
        "values_mg": np.sort(dose[~np.isnan(dose)]).tolist(),
    }


def _nrs_change(cohort: Cohort, responder: BoolArray, reduction: npt.NDArray[np.float64]) -> dict[str, Any]:
    base, follow = cohort.baseline_nrs, cohort.followup_nrs
    pair = ~np.isnan(base) & ~np.isnan(follow)
    return {
        "n_pairs": int(pair.sum()),
        "baseline": median_iqr(base),
        "followup": median_iqr(follow),
        "change": median_iqr(follow - base),
        "reduction_pct": median_iqr(reduction),
        "wilcoxon": wilcoxon_paired(base, follow),
        "effect_size": standardised_mean_change(base, follow),
        "daily_auc": daily_nrs_auc(cohort.daily_nrs_days, cohort.daily_nrs),
        "pairs": {
            "baseline": base[pair].tolist(),
            "followup": follow[pair].tolist(),
            "responder": responder[pair].tolist(),
        },
    }


def analyse_cohort(
    cohort: Cohort,
    *,
    definition_id: str = DEFAULT_DEFINITION,
    compare: tuple[str, list[str]] | None = None,
    alternative: str = "two-sided",
) -> dict[str, Any]:
    """Everything a cohort report shows, JSON-ready; `compare` defaults to the pain mechanisms present.

    `alternative` is the Fisher test's (two-sided, or one-sided greater / less for two groups).
    """
    check_alternative(alternative)
    definition = get_definition(definition_id)
    res = evaluate_responders(definition, cohort.baseline_nrs, cohort.followup_nrs, cohort.discontinued)
    n = cohort.n
    responders = int(res.responder.sum())
    if compare is None:
        field, values = "mechanism", sorted(set(cohort.pain_mechanism.tolist()))
    else:
        field, values = validate_compare(compare)
    labels = _labels(cohort, field)
    by_field = rates_by_level(labels, res.responder, res.missing_followup)
    comparison = compare_levels(by_field, field, values, alternative)
    times = survival_inputs(cohort)
    relief = survival_summary(*times["relief"], labels, values)
    dropout = survival_summary(*times["dropout"], labels, values)
    diagnosis_labels = {code: get_diagnosis(code).label for code in set(cohort.diagnosis.tolist())}
    report: dict[str, Any] = {
        "definition": definition_summary(definition.id),
        "synthetic": cohort.synthetic,
        "n": n,
        "responders": responders,
        "responder_rate": responders / n,
        "ci95": list(wilson_interval(responders, n)),
        "ci_method": "Wilson score interval, 95 % (every proportion's ci95)",
        "missing_followup": int(res.missing_followup.sum()),
        "by_diagnosis": by_field
        if field == "diagnosis"
        else rates_by_level(cohort.diagnosis, res.responder, res.missing_followup),
        "diagnosis_labels": diagnosis_labels,
        "by_mechanism": rates_by_level(cohort.pain_mechanism, res.responder, res.missing_followup),
        "by_diagnosis_group": rates_by_level(cohort.diagnosis_group, res.responder, res.missing_followup),
        "comparison": comparison,
        "relief_median_weeks": relief["median"],
        "relief": {
            **relief,
            "margin_pct": relief_margin_summary(),
        },
        "nrs_change": _nrs_change(cohort, res.responder, res.reduction_pct),
        "dropout": {**dropout, "time_unit": "sessions completed"},
        "adverse_events": _adverse_events(cohort),
        "completion": _completion(cohort),
        "dose": _dose(cohort),
        "logistic": fit_responder_model(
            res.responder, cohort.diagnosis, cohort.pain_mechanism, cohort.baseline_nrs
        ),
    }
    for key in ("source", "title", "note"):
        if key in cohort.metadata:
            report[key] = cohort.metadata[key]
    return report
