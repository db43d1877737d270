"""Responder definitions (Vallé 2024, IMMPACT 30 % / 50 %) and sustained relief, over column arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from ketaclinic.data import Status, load_toml, parse_status
from ketaclinic.errors import DataFileError, InputError, NotFoundError

_FILE = "outcome_definitions.toml"
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# The responder definition used where none is chosen: the published ketamine-infusion cohort's own
# (Valle 2024, see outcome_definitions.toml).
DEFAULT_DEFINITION = "valle2024"
DISCONTINUATION_REASONS = ("none", "lack_of_effect", "adverse_event", "other")


@dataclass(frozen=True, slots=True)
class OutcomeDefinition:
    """A responder definition: minimum % NRS reduction at the endpoint; discontinuations that disqualify."""

    id: str
    label: str
    min_reduction_pct: float
    exclude_discontinued: tuple[str, ...]
    source: str
    status: Status


@dataclass(frozen=True, slots=True)
class PolicyValue:
    """A configurable analysis parameter with its source."""

    value: float
    source: str
    status: Status


@dataclass(frozen=True, slots=True)
class ResponderResult:
    """Per-patient responder flags, missing-follow-up flags and % reduction (NaN when not computable)."""

    responder: BoolArray
    missing_followup: BoolArray
    reduction_pct: FloatArray


@cache
def _file() -> dict[str, Any]:
    return load_toml(_FILE)


@cache
def list_definitions() -> tuple[OutcomeDefinition, ...]:
    """Every shipped responder definition, in file order."""
    out = []
    for row in _file()["definition"]:
        where = f"{_FILE} {row.get('id')}"
        excluded = tuple(row["exclude_discontinued"])
        if bad := [r for r in excluded if r not in DISCONTINUATION_REASONS]:
            raise DataFileError(f"{where}: unknown discontinuation reason {bad[0]!r}")
        pct = float(row["min_reduction_pct"])
        if not 0 < pct <= 100:
            raise DataFileError(f"{where}: min_reduction_pct {pct} is outside (0, 100]")
        out.append(
            OutcomeDefinition(
                id=row["id"],
                label=row["label"],
                min_reduction_pct=pct,
                exclude_discontinued=excluded,
                source=row["source"],
                status=parse_status(row["status"], where),
            )
        )
    return tuple(out)


def get_definition(definition_id: str) -> OutcomeDefinition:
    """The responder definition with this id (`valle2024`, `immpact30`, `immpact50`)."""
    for definition in list_definitions():
        if definition.id == definition_id:
            return definition
    known = ", ".join(d.id for d in list_definitions())
    raise NotFoundError(f"unknown outcome definition {definition_id!r} (known: {known})", field="definition")


def _policy(section: str, key: str) -> PolicyValue:
    row = _file()[section]
    return PolicyValue(float(row[key]), row["source"], parse_status(row["status"], f"{_FILE} [{section}]"))


def relief_margin_pct() -> PolicyValue:
    """Sustained-relief margin (% of baseline) with its source (local policy)."""
    return _policy("sustained_relief", "margin_pct")


def min_events_per_variable() -> PolicyValue:
    """Minimum events per parameter before a logistic model is fitted."""
    return _policy("logistic", "min_events_per_variable")


def aggregate_min_cell() -> PolicyValue:
    """Smallest count an aggregate export shows; counts from 1 to this minus 1 are suppressed."""
    return _policy("aggregate_suppression", "min_cell")


def followup_policy() -> dict[str, Any]:
    """The follow-up schedule policy section (offsets, instruments, source, status)."""
    row: dict[str, Any] = dict(_file()["followup"])
    row["status"] = parse_status(row["status"], f"{_FILE} [followup]")
    return row


def reduction_pct(baseline_nrs: FloatArray, followup_nrs: FloatArray) -> FloatArray:
    """Percent NRS reduction from baseline (positive = better); NaN where missing or baseline is 0."""
    base = np.asarray(baseline_nrs, dtype=np.float64)
    follow = np.asarray(followup_nrs, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = (base - follow) / base * 100.0
    pct[~(base > 0)] = np.nan
    return pct


# Percentages computed from decimal NRS values (4.0 -> 3.2 gives 19.999999999999996) land a few ulps
# off the threshold; this many percentage points of slack keeps an exact 20 % or 50 % at the threshold.
REDUCTION_TOLERANCE_PCT = 1e-9


def reduction_floor_pct(threshold_pct: float) -> float:
    """The lowest % reduction that still counts as reaching `threshold_pct` (the slack above)."""
    return threshold_pct - REDUCTION_TOLERANCE_PCT


def reaches_reduction(reduction: FloatArray, threshold_pct: float) -> BoolArray:
    """True where the % reduction is at least `threshold_pct` (an exact threshold counts; NaN never does).

    Examples
    --------
    >>> import numpy as np
    >>> reaches_reduction(reduction_pct(np.array([4.0, 4.0]), np.array([3.2, 3.3])), 20.0).tolist()
    [True, False]
    """
    pct = np.nan_to_num(np.asarray(reduction, dtype=np.float64), nan=-np.inf)
    return np.asarray(pct >= reduction_floor_pct(threshold_pct), dtype=np.bool_)


def evaluate_responders(
    definition: OutcomeDefinition,
    baseline_nrs: FloatArray,
    followup_nrs: FloatArray,
    discontinued: Sequence[str] | npt.NDArray[np.str_],
) -> ResponderResult:
    """Responder flags for every patient; missing follow-up counts as non-response and is flagged.

    Examples
    --------
    >>> import numpy as np
    >>> result = evaluate_responders(
    ...     get_definition("valle2024"),  # >= 50 % NRS reduction, not stopped for lack of effect
    ...     np.array([8.0, 9.0, 7.0, 6.0]),
    ...     np.array([4.0, 8.0, np.nan, 2.0]),
    ...     ["none", "none", "none", "lack_of_effect"],
    ... )
    >>> result.responder.tolist(), result.missing_followup.tolist()
    ([True, False, False, False], [False, False, True, False])
    >>> [round(float(p), 1) for p in result.reduction_pct]
    [50.0, 11.1, nan, 66.7]
    """
    base = np.asarray(baseline_nrs, dtype=np.float64)
    follow = np.asarray(followup_nrs, dtype=np.float64)
    reasons = np.asarray(discontinued, dtype=str)
    if not base.shape == follow.shape == reasons.shape:
        raise InputError("baseline, follow-up and discontinued arrays differ in length", field="cohort")
    pct = reduction_pct(base, follow)
    missing = np.isnan(follow)
    meets = reaches_reduction(pct, definition.min_reduction_pct)
    disqualified = np.isin(reasons, definition.exclude_discontinued)
    return ResponderResult(
        responder=meets & ~missing & ~disqualified, missing_followup=missing, reduction_pct=pct
    )


def sustained_relief_weeks(
    baseline_nrs: float,
    weeks: Sequence[float],
    nrs: Sequence[float],
    *,
    margin_pct: float | None = None,
) -> tuple[float, bool]:
    """Weeks until pain is back within `margin_pct` of baseline; (last contact week, True) if still relieved.

    Relief ends at the first follow-up whose NRS reduction from baseline is below the margin; a
    reduction of exactly the margin (4.0 -> 3.2 at 20 %) is still relief.
    """
    margin = relief_margin_pct().value if margin_pct is None else margin_pct
    t = np.asarray(weeks, dtype=np.float64)
    y = np.asarray(nrs, dtype=np.float64)
    if t.shape != y.shape or t.size == 0:
        raise InputError("weeks and NRS series must be non-empty and of equal length", field="nrs")
    if np.any(np.diff(t) <= 0) or t[0] < 0:
        raise InputError("follow-up weeks must be increasing and not negative", field="weeks")
    if not 0 < baseline_nrs <= 10:
        raise InputError(f"{baseline_nrs:g} is outside (0, 10]: no pain to relieve", field="baseline_nrs")
    if np.any((y < 0) | (y > 10)):
        raise InputError("an NRS value is outside 0-10", field="nrs")
    lost = ~reaches_reduction(reduction_pct(np.full(y.shape, baseline_nrs), y), margin)
    if lost.any():
        return float(t[int(np.argmax(lost))]), False
    return float(t[-1]), True
