"""A site's aggregate file: its sufficient statistics (responder tables by diagnosis, diagnosis group and
mechanism; risk sets, events and censorings per time for Kaplan-Meier and log-rank), small cells hidden."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ketaclinic.errors import InputError
from ketaclinic.outcomes.aggregate_format import ENDPOINTS, FORMAT, VERSION
from ketaclinic.outcomes.analysis import (
    definition_summary,
    rates_by_level,
    relief_margin_summary,
    survival_inputs,
)
from ketaclinic.outcomes.cohort import Cohort
from ketaclinic.outcomes.definitions import (
    DEFAULT_DEFINITION,
    aggregate_min_cell,
    evaluate_responders,
    get_definition,
)

MAX_SITE_LABEL = 100


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
