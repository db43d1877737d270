"""Pooling sites' aggregate files: the counts summed and run through the same statistical functions
`analyse_cohort` uses, so unsuppressed aggregates give the full cohort's results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ketaclinic.errors import InputError
from ketaclinic.outcomes.aggregate_format import TABLES, check_file, file_error
from ketaclinic.outcomes.analysis import compare_levels, rate_summary, survival_summary, validate_compare
from ketaclinic.outcomes.stats import check_alternative, wilson_interval
from ketaclinic.outcomes.survival import kaplan_meier
from ketaclinic.screening.diagnoses import get_diagnosis

NOT_POOLED = {
    "nrs_change": "medians, the Wilcoxon test and the daily-NRS AUC need patient values",
    "logistic": "a regression needs patient rows",
    "adverse_events": "not part of the aggregate format (version 1)",
    "completion": "not part of the aggregate format (version 1)",
    "dose": "medians need patient values",
}


def _expand(tables: Sequence[dict[str, list[Any]]]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Per-patient (time, event) pairs with the same multiset as the summed risk tables."""
    time = [np.repeat(t["time"], t["events"]) for t in tables] + [
        np.repeat(t["time"], t["censored"]) for t in tables
    ]
    event = [np.ones(sum(t["events"]), dtype=np.bool_) for t in tables] + [
        np.zeros(sum(t["censored"]), dtype=np.bool_) for t in tables
    ]
    return np.concatenate([np.zeros(0), *time]).astype(np.float64), np.concatenate(
        [np.zeros(0, bool), *event]
    )


def _summed(rows: Sequence[Mapping[str, int | None]]) -> tuple[int, int, int]:
    """Responders, patients and missing follow-ups summed over rows (a suppressed cell adds nothing)."""
    return tuple(sum(row[k] or 0 for row in rows) for k in ("responders", "n", "missing_followup"))  # type: ignore[return-value]


def pool_aggregates(
    documents: Sequence[tuple[str, Any]],
    *,
    compare: tuple[str, list[str]] | None = None,
    alternative: str = "two-sided",
) -> dict[str, Any]:
    """Pool (file name, parsed JSON) aggregates into the analyses a cohort report gives from counts.

    Refuses files of another format version, another responder definition or relief margin, and a
    site given twice. Where a site suppressed a row, the pooled row lacks that site and `exact` is false.
    """
    check_alternative(alternative)
    if not documents:
        raise InputError("give at least one aggregate file", field="file")
    files = [check_file(doc, where) for where, doc in documents]
    first = files[0]
    for (where, _), f in zip(documents[1:], files[1:], strict=True):
        if f["definition"] != first["definition"]:
            raise file_error(
                where,
                f"responder definition {f['definition'].get('id')!r} differs from "
                f"{first['definition'].get('id')!r} (pool files of one definition)",
            )
        if f["relief_margin_pct"] != first["relief_margin_pct"]:
            raise file_error(where, "sustained-relief margin differs from the first file's")
    sites = [f["site"] for f in files]
    if len(set(sites)) != len(sites):
        raise InputError(
            f"site {next(s for s in sites if sites.count(s) > 1)!r} is given twice", field="file"
        )
    incomplete: list[dict[str, Any]] = []

    def pooled_rates(name: str) -> dict[str, Any]:
        levels = sorted({level for f in files for level in f["responders"][name]})
        out = {}
        for level in levels:
            rows = [
                (
                    f["site"],
                    f["responders"][name].get(level, {"n": 0, "responders": 0, "missing_followup": 0}),
                )
                for f in files
            ]
            incomplete.extend(
                {"table": f"responders.{name}", "level": level, "site": s} for s, r in rows if r is None
            )
            incomplete.extend(
                {"table": f"responders.{name}", "level": level, "site": s, "cell": "missing_followup"}
                for s, r in rows
                if r is not None and r["missing_followup"] is None
            )
            r, n, m = _summed([r for _, r in rows if r is not None])
            out[level] = {**rate_summary(r, n), "missing_followup": m}
        return out

    rates = {name: pooled_rates(name) for name in TABLES}
    totals = [f["totals"] for f in files if f["totals"] is not None]
    incomplete.extend(
        {"table": "totals", "level": None, "site": f["site"]} for f in files if f["totals"] is None
    )
    incomplete.extend(
        {"table": "totals", "level": None, "site": f["site"], "cell": "missing_followup"}
        for f in files
        if f["totals"] is not None and f["totals"]["missing_followup"] is None
    )
    responders, n, missing = _summed(totals)
    if compare is None:
        field, values = "mechanism", sorted(rates["mechanism"])
    else:
        field, values = validate_compare(compare)
    comparison = compare_levels(rates[field], field, values, alternative)

    def pooled_survival(endpoint: str) -> dict[str, Any]:
        parts: list[tuple[str, dict[str, list[Any]]]] = []
        for f in files:
            for level, table in f["survival"][endpoint][field].items():
                if table is None:
                    incomplete.append({"table": f"{endpoint}.{field}", "level": level, "site": f["site"]})
                else:
                    parts.append((level, table))
        pieces = [_expand([t]) for _, t in parts]
        time = np.concatenate([np.zeros(0), *(p[0] for p in pieces)])
        event = np.concatenate([np.zeros(0, bool), *(p[1] for p in pieces)])
        labels = np.concatenate(
            [np.zeros(0, str), *(np.full(p[0].size, lv) for (lv, _), p in zip(parts, pieces, strict=True))]
        ).astype(str)
        summary = survival_summary(time, event, labels, values)
        # The overall curve from the sites' own overall tables: right even where a group row was hidden.
        overall = [f["survival"][endpoint]["all"] for f in files]
        incomplete.extend(
            {"table": f"{endpoint}.all", "level": None, "site": f["site"]}
            for f, t in zip(files, overall, strict=True)
            if t is None
        )
        all_time, all_event = _expand([t for t in overall if t is not None])
        curve = kaplan_meier(all_time, all_event).as_dict()
        summary.update(n=int(all_time.size), events=int(all_event.sum()))
        summary["curves"]["all"] = curve
        summary["median"]["all"] = curve["median"]
        return summary

    relief = pooled_survival("relief")
    dropout = pooled_survival("dropout")
    return {
        "pooled": {
            "sites": sites,
            "files": [where for where, _ in documents],
            "exact": not incomplete,
            "incomplete": incomplete,
            "message": "every site's rows are present: the results equal the pooled cohort's"
            if not incomplete
            else "sites suppressed small cells: the rows listed in incomplete leave those sites out "
            "and are not exact",
        },
        "definition": first["definition"],
        "synthetic": any(f["synthetic"] for f in files),
        "n": n,
        "responders": responders,
        "responder_rate": responders / n if n else None,
        "ci95": list(wilson_interval(responders, n)),
        "ci_method": "Wilson score interval, 95 % (every proportion's ci95)",
        "missing_followup": missing,
        "by_diagnosis": rates["diagnosis"],
        "diagnosis_labels": {code: get_diagnosis(code).label for code in rates["diagnosis"]},
        "by_mechanism": rates["mechanism"],
        "by_diagnosis_group": rates["group"],
        "comparison": comparison,
        "relief_median_weeks": relief["median"],
        "relief": {**relief, "margin_pct": first["relief_margin_pct"]},
        "dropout": {**dropout, "time_unit": "sessions completed"},
        "not_pooled": NOT_POOLED,
    }
