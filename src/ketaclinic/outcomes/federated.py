"""Research networks without pooled patient rows: per-site sufficient statistics and their pooling.

A site exports counts only (responder tables by diagnosis, diagnosis group and mechanism; risk sets,
events and censorings per time for Kaplan-Meier and log-rank); pooling sums them and runs the same
statistical functions `analyse_cohort` uses, so unsuppressed aggregates give the full cohort's results.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ketaclinic.errors import InputError
from ketaclinic.outcomes.analysis import (
    compare_levels,
    definition_summary,
    rate_summary,
    rates_by_level,
    relief_margin_summary,
    survival_inputs,
    survival_summary,
    validate_compare,
)
from ketaclinic.outcomes.cohort import Cohort
from ketaclinic.outcomes.definitions import (
    DEFAULT_DEFINITION,
    aggregate_min_cell,
    evaluate_responders,
    get_definition,
)
from ketaclinic.outcomes.stats import check_alternative, wilson_interval
from ketaclinic.outcomes.survival import kaplan_meier
from ketaclinic.screening.diagnoses import get_diagnosis

FORMAT = "ketaclinic-cohort-aggregate"
VERSION = 1
# Table name in the file -> the report key its pooled rates go to.
TABLES = {"diagnosis": "by_diagnosis", "mechanism": "by_mechanism", "group": "by_diagnosis_group"}
ENDPOINTS = {"relief": "weeks", "dropout": "sessions completed"}
RISK_COLUMNS = ("time", "at_risk", "events", "censored")
NOT_POOLED = {
    "nrs_change": "medians, the Wilcoxon test and the daily-NRS AUC need patient values",
    "logistic": "a regression needs patient rows",
    "adverse_events": "not part of the aggregate format (version 1)",
    "completion": "not part of the aggregate format (version 1)",
    "dose": "medians need patient values",
}
MAX_SITE_LABEL = 100
# Pooling rebuilds one (time, event) pair per patient; a file claiming more patients than any clinic
# network holds is refused rather than allowed to exhaust memory.
MAX_PATIENTS_PER_FILE = 10_000_000
SMALL_REASON = "a count from 1 to min_cell - 1"


def _counts(row: Mapping[str, Any]) -> dict[str, int]:
    return {
        "n": int(row["n"]),
        "responders": int(row["responders"]),
        "missing_followup": int(row["missing_followup"]),
    }


def _risk_table(time: npt.NDArray[np.float64], event: npt.NDArray[np.bool_]) -> dict[str, list[Any]]:
    """Risk set, events and censorings at each distinct time of the patients who have a time."""
    have = ~np.isnan(time)
    unique, inverse = np.unique(time[have], return_inverse=True)
    events = np.bincount(inverse, weights=event[have].astype(np.float64), minlength=unique.size).astype(
        np.int64
    )
    leaving = np.bincount(inverse, minlength=unique.size).astype(np.int64)
    at_risk = int(have.sum()) - np.concatenate(([0], np.cumsum(leaving)))[:-1].astype(np.int64)
    return {
        "time": unique.tolist(),
        "at_risk": at_risk.tolist(),
        "events": events.tolist(),
        "censored": (leaving - events).tolist(),
    }


def _small(value: int, min_cell: int) -> bool:
    return 0 < value < min_cell


def _suppress_rows(
    rows: dict[str, Any], sizes: dict[str, int], is_small: dict[str, bool], total_shown: bool
) -> list[tuple[str, str]]:
    """Hide rows with a small cell; hide the smallest other row too when one hidden row could be recovered."""
    hidden = [(level, SMALL_REASON) for level in sorted(rows) if is_small[level]]
    shown = sorted((level for level in rows if not is_small[level]), key=lambda lv: (sizes[lv], lv))
    if len(hidden) == 1 and total_shown and shown:
        hidden.append((shown[0], "complementary: the total minus the other rows would reveal a hidden row"))
    for level, _ in hidden:
        rows[level] = None
    return hidden


def site_aggregate(
    cohort: Cohort,
    *,
    site: str,
    definition_id: str = DEFAULT_DEFINITION,
    min_cell: int | None = None,
) -> dict[str, Any]:
    """A site's sufficient statistics as a JSON-ready aggregate file, small cells suppressed.

    `min_cell` defaults to the local-policy minimum; 0 or 1 suppresses nothing.
    """
    site = site.strip()
    if not 1 <= len(site) <= MAX_SITE_LABEL:
        raise InputError(f"a site label must be 1-{MAX_SITE_LABEL} characters", field="site")
    policy = aggregate_min_cell()
    minimum = int(policy.value) if min_cell is None else min_cell
    if minimum < 0:
        raise InputError("min_cell must not be negative", field="min_cell")
    definition = get_definition(definition_id)
    res = evaluate_responders(definition, cohort.baseline_nrs, cohort.followup_nrs, cohort.discontinued)
    labels = {
        "diagnosis": cohort.diagnosis,
        "mechanism": cohort.pain_mechanism,
        "group": cohort.diagnosis_group,
    }

    def row_is_small(row: Mapping[str, int]) -> bool:
        return _small(row["responders"], minimum) or _small(row["n"] - row["responders"], minimum)

    def hide_missing(row: dict[str, Any] | None, table: str, level: str | None) -> None:
        # Nothing else in the file gives the missing follow-ups, so only that cell goes.
        if row is not None and _small(row["missing_followup"], minimum):
            row["missing_followup"] = None
            suppressed.append(
                {"table": table, "level": level, "cell": "missing_followup", "reason": SMALL_REASON}
            )

    totals: dict[str, int] | None = {
        "n": cohort.n,
        "responders": int(res.responder.sum()),
        "missing_followup": int(res.missing_followup.sum()),
    }
    assert totals is not None
    suppressed: list[dict[str, Any]] = []
    if row_is_small(totals):
        totals = None
        suppressed.append({"table": "totals", "level": None, "reason": SMALL_REASON})
    hide_missing(totals, "totals", None)
    tables: dict[str, dict[str, Any]] = {}
    for name, column in labels.items():
        rows: dict[str, Any] = {
            level: _counts(row)
            for level, row in rates_by_level(column, res.responder, res.missing_followup).items()
        }
        small = {level: row_is_small(row) for level, row in rows.items()}
        sizes = {level: row["n"] for level, row in rows.items()}
        for level, reason in _suppress_rows(rows, sizes, small, totals is not None):
            suppressed.append({"table": f"responders.{name}", "level": level, "reason": reason})
        for level, row in rows.items():
            hide_missing(row, f"responders.{name}", level)
        tables[name] = rows
    survival: dict[str, Any] = {}
    for endpoint, (time, event) in survival_inputs(cohort).items():
        everyone = _risk_table(time, event)
        size_all = len(time) - int(np.isnan(time).sum())
        entry: dict[str, Any] = {"time_unit": ENDPOINTS[endpoint], "all": everyone}
        if _small(size_all, minimum):
            entry["all"] = None
            suppressed.append(
                {"table": f"{endpoint}.all", "level": None, "reason": "fewer than min_cell patients"}
            )
        for name, column in labels.items():
            by_level: dict[str, Any] = {}
            for level in np.unique(column).tolist():
                sel = column == level
                by_level[str(level)] = _risk_table(time[sel], event[sel])
            sizes = {level: sum(t["events"]) + sum(t["censored"]) for level, t in by_level.items()}
            small = {level: _small(size, minimum) for level, size in sizes.items()}
            for level, reason in _suppress_rows(by_level, sizes, small, entry["all"] is not None):
                suppressed.append({"table": f"{endpoint}.{name}", "level": level, "reason": reason})
            entry[name] = by_level
        survival[endpoint] = entry
    return {
        "format": FORMAT,
        "version": VERSION,
        "site": site,
        "definition": definition_summary(definition.id),
        "relief_margin_pct": relief_margin_summary(),
        "synthetic": cohort.synthetic,
        "suppression": {
            "min_cell": minimum,
            "source": policy.source if min_cell is None else "set for this export",
            "status": policy.status.value if min_cell is None else "local-policy",
            "cells": suppressed,
            "effect": (
                "nothing suppressed: pooled results from this file are exact"
                if not suppressed
                else f"{len(suppressed)} rows or cells hidden (null): pooled results that need them "
                "leave this site's patients out of those rows and are not exact"
            ),
            "not_suppressed": "the event and censoring counts at each time of a shown survival row",
        },
        "totals": totals,
        "responders": tables,
        "survival": survival,
    }


def _fail(where: str, message: str) -> InputError:
    return InputError(f"{where}: {message}", field="file")


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PATIENTS_PER_FILE:
        raise _fail(where, f"a count is not a whole number from 0 to {MAX_PATIENTS_PER_FILE:,}")
    return value


def _check_rates(row: Any, where: str) -> dict[str, int | None] | None:
    """A responder row (None when suppressed; its missing_followup None when only that cell was)."""
    if row is None:
        return None
    if not isinstance(row, dict):
        raise _fail(where, "a responder row is not an object")
    n, responders = _count(row.get("n"), where), _count(row.get("responders"), where)
    missing = None if row.get("missing_followup") is None else _count(row["missing_followup"], where)
    if responders > n or (missing or 0) > n:
        raise _fail(where, "more responders or missing follow-ups than patients")
    return {"n": n, "responders": responders, "missing_followup": missing}


def _check_risk(table: Any, where: str) -> dict[str, list[Any]] | None:
    """A risk table whose risk sets agree with its events and censorings (time ascending)."""
    if table is None:
        return None
    if not isinstance(table, dict) or any(not isinstance(table.get(c), list) for c in RISK_COLUMNS):
        raise _fail(where, f"a survival row needs the lists {', '.join(RISK_COLUMNS)}")
    times = table["time"]
    if any(isinstance(t, bool) or not isinstance(t, int | float) or not 0 <= t < math.inf for t in times):
        raise _fail(where, "a survival time is not a finite number >= 0")
    columns = {c: [_count(v, where) for v in table[c]] for c in RISK_COLUMNS[1:]}
    if any(len(v) != len(times) for v in columns.values()):
        raise _fail(where, "the survival lists differ in length")
    if any(b <= a for a, b in itertools.pairwise(times)):
        raise _fail(where, "survival times are not increasing")
    following = [*columns["at_risk"][1:], 0][: len(times)]
    for at_risk, events, censored, after in zip(*columns.values(), following, strict=True):
        if at_risk != events + censored + after:
            raise _fail(where, "a risk set does not equal the events, censorings and later risk set")
    return {"time": [float(t) for t in times], **columns}


def _check_file(doc: Any, where: str) -> dict[str, Any]:
    """One aggregate file, structurally checked."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _fail(where, f"not a {FORMAT} file")
    if doc.get("version") != VERSION:
        raise _fail(where, f"aggregate version {doc.get('version')!r}, this version reads {VERSION}")
    site = doc.get("site")
    if not isinstance(site, str) or not site:
        raise _fail(where, "no site label")
    for key in ("definition", "relief_margin_pct", "responders", "survival"):
        if not isinstance(doc.get(key), dict):
            raise _fail(where, f"no {key}")
    if not isinstance(doc["definition"].get("id"), str):
        raise _fail(where, "the responder definition has no id")
    responders = {}
    for name in TABLES:
        rows = doc["responders"].get(name)
        if not isinstance(rows, dict):
            raise _fail(where, f"no responder table {name}")
        responders[name] = {str(k): _check_rates(v, where) for k, v in rows.items()}
    survival: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        entry = doc["survival"].get(endpoint)
        if not isinstance(entry, dict) or any(not isinstance(entry.get(name), dict) for name in TABLES):
            raise _fail(where, f"no survival tables for {endpoint}")
        survival[endpoint] = {"all": _check_risk(entry.get("all"), where)}
        for name in TABLES:
            survival[endpoint][name] = {str(k): _check_risk(v, where) for k, v in entry[name].items()}
    return {
        "site": site,
        "definition": doc["definition"],
        "relief_margin_pct": doc["relief_margin_pct"],
        "synthetic": bool(doc.get("synthetic", False)),
        "totals": _check_rates(doc.get("totals"), where),
        "responders": responders,
        "survival": survival,
        "suppressed": len(doc.get("suppression", {}).get("cells", [])),
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
    files = [_check_file(doc, where) for where, doc in documents]
    first = files[0]
    for (where, _), f in zip(documents[1:], files[1:], strict=True):
        if f["definition"] != first["definition"]:
            raise _fail(
                where,
                f"responder definition {f['definition'].get('id')!r} differs from "
                f"{first['definition'].get('id')!r} (pool files of one definition)",
            )
        if f["relief_margin_pct"] != first["relief_margin_pct"]:
            raise _fail(where, "sustained-relief margin differs from the first file's")
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
