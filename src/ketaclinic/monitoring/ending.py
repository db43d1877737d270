"""Ending an infusion and going home (session_ending.toml, local-policy): early end, recovery, timing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from ketaclinic.data import Status, load_toml, load_toml_path, parse_status
from ketaclinic.errors import DataFileError
from ketaclinic.monitoring.discharge import DischargeItem, DischargeResult
from ketaclinic.monitoring.observations import Observation

_FILE = "session_ending.toml"
FULL_VITALS = ("sbp", "dbp", "hr", "spo2")


@dataclass(frozen=True, slots=True)
class PolicyValue:
    """One local-policy number (or key) with its source."""

    value: float | str
    source: str
    status: Status


@dataclass(frozen=True, slots=True)
class EndingPolicy:
    """The early-end margin, the minimum observed recovery and the band the PK decrement time uses."""

    early_end_margin_min: float
    recovery_min: float
    decrement_band: str
    sources: Mapping[str, PolicyValue]


def _entry(raw: Mapping[str, Any], key: str, where: str) -> PolicyValue:
    row = raw.get(key)
    if not isinstance(row, Mapping) or "value" not in row:
        raise DataFileError(f"{where}: [{key}] needs a value")
    return PolicyValue(row["value"], str(row.get("source", where)), parse_status(row.get("status"), where))


def _policy(entries: Mapping[str, PolicyValue], where: str) -> EndingPolicy:
    try:
        margin = float(entries["early_end_margin_min"].value)
        recovery = float(entries["recovery_min"].value)
    except (TypeError, ValueError) as exc:
        raise DataFileError(f"{where}: {exc}") from None
    band = entries["decrement_band"].value
    if not (0 <= margin <= 240 and 0 <= recovery <= 24 * 60) or not isinstance(band, str):
        raise DataFileError(f"{where}: margin 0-240 min, recovery 0-1440 min, band a key")
    return EndingPolicy(margin, recovery, band, dict(entries))


_KEYS = ("early_end_margin_min", "recovery_min", "decrement_band")


@cache
def _shipped() -> EndingPolicy:
    raw = load_toml(_FILE)
    return _policy({key: _entry(raw, key, _FILE) for key in _KEYS}, _FILE)


def load_ending_policy(override_path: Path | None = None) -> EndingPolicy:
    """The shipped policy, with any key the clinic's file gives replacing the shipped one."""
    shipped = _shipped()
    if override_path is None or not override_path.is_file():
        return shipped
    raw = load_toml_path(override_path)
    unknown = set(raw) - set(_KEYS)
    if unknown:
        raise DataFileError(f"{override_path}: unknown keys {sorted(unknown)}; known: {', '.join(_KEYS)}")
    where = str(override_path)
    entries = dict(shipped.sources)
    for key in raw:
        row = dict(raw[key]) if isinstance(raw[key], Mapping) else {}
        row.setdefault("source", override_path.name)
        row.setdefault("status", Status.LOCAL_POLICY.value)
        entries[key] = _entry({key: row}, key, where)
    return _policy(entries, where)


def ends_early(elapsed_min: float, planned_end_min: float | None, margin_min: float) -> bool:
    """True when completing at `elapsed_min` is more than the margin before the planned end."""
    return planned_end_min is not None and elapsed_min < planned_end_min - margin_min


def has_full_vitals(obs: Observation) -> bool:
    """A reading with systolic and diastolic BP, heart rate and SpO2."""
    return all(obs.value_of(name) is not None for name in FULL_VITALS)


def recovery_items(
    minutes_since_end: float, recovery_min: float, after_end: Sequence[Observation]
) -> list[DischargeItem]:
    """The recovery lines of the checklist: time observed since the end, and a full set of vitals after it."""
    left = recovery_min - minutes_since_end
    waited = DischargeItem(
        key="recovery_time",
        label=f"At least {recovery_min:g} min observed since the infusion ended",
        ok=left <= 0,
        detail=f"{max(minutes_since_end, 0):.0f} min so far"
        + ("" if left <= 0 else f", {left:.0f} min to go"),
    )
    full = [o for o in after_end if has_full_vitals(o)]
    vitals = DischargeItem(
        key="vitals_after_end",
        label="A full set of vitals (BP, heart rate, SpO2) charted after the infusion ended",
        ok=bool(full),
        detail=f"{len(full)} full set(s) since the end" if full else "none charted since the end",
    )
    return [waited, vitals]


def with_items(result: DischargeResult, extra: Sequence[DischargeItem]) -> DischargeResult:
    """The checklist with `extra` lines first; met only when every line is."""
    items = [*extra, *result.items]
    return DischargeResult(
        ok=all(item.ok for item in items), items=items, source=result.source, status=result.status
    )


def start_timing_concerns(
    planned_on: date,
    start_on: date,
    previous: tuple[int, date] | None,
    interval_days: float,
) -> list[str]:
    """Why starting on `start_on` needs a reason: before the planned date, or sooner than the interval.

    `previous` is (session number, date started) of the plan's latest earlier session; an interval
    of 0 (a single session or one continuous course) sets no spacing.
    """
    concerns = []
    if start_on < planned_on:
        concerns.append(f"before its planned date {planned_on.isoformat()}")
    if previous is not None and interval_days > 0:
        number, started_on = previous
        gap = (start_on - started_on).days
        if gap < interval_days:
            concerns.append(
                f"{gap} day(s) after session {number}, "
                f"sooner than the protocol's {interval_days:g}-day interval"
            )
    return concerns
