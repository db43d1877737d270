"""When observations are due (cadence.toml) and which were missed.

Clock semantics: a reading of any field of a group resets that group's clock; the next reading is
due `every_min` after it, taken from the phase (minutes since infusion start) the clock time falls
in. A due time not met within the grace period is an overdue slot, counted once; the clock then
runs on from that due time, so a long gap yields one slot per missed interval.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from ketaclinic.data import Status, load_toml, parse_status
from ketaclinic.errors import DataFileError, InputError, NotFoundError
from ketaclinic.monitoring.observations import Observation


@dataclass(frozen=True, slots=True)
class Phase:
    """Readings every `every_min` from `from_min` until `until_min` (minutes since infusion start)."""

    from_min: float
    until_min: float
    every_min: float


@dataclass(frozen=True, slots=True)
class Cadence:
    """A charting schedule: phases per field group, with its source."""

    key: str
    label: str
    phases: Mapping[str, tuple[Phase, ...]]
    source: str
    status: Status

    def interval_min(self, group: str, elapsed_min: float) -> float:
        """The charting interval in force `elapsed_min` after the infusion start."""
        phases = self.phases[group]
        for phase in phases:
            if phase.from_min <= elapsed_min < phase.until_min:
                return phase.every_min
        # Before the first phase (pre-infusion) the first interval applies.
        return phases[0].every_min


class OverdueSlot(BaseModel):
    """A reading of `group` that was due at `t_due_min` and not charted within the grace period."""

    model_config = ConfigDict(frozen=True)

    t_due_min: float
    group: str


@dataclass(frozen=True, slots=True)
class _CadenceFile:
    cadences: Mapping[str, Cadence]
    group_fields: Mapping[str, tuple[str, ...]]
    grace_min: float
    grace_source: str
    grace_status: Status


def _phases(rows: Any, where: str) -> tuple[Phase, ...]:
    if not isinstance(rows, list) or not rows:
        raise DataFileError(f"{where}: needs at least one phase")
    phases: list[Phase] = []
    for index, row in enumerate(rows):
        try:
            phase = Phase(
                float(row["from_min"]), float(row.get("until_min", math.inf)), float(row["every_min"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFileError(f"{where}[{index}]: {exc!r}") from None
        if phase.every_min <= 0 or phase.until_min <= phase.from_min:
            raise DataFileError(f"{where}[{index}]: every_min must be positive and until_min after from_min")
        if phases and phase.from_min != phases[-1].until_min:
            raise DataFileError(f"{where}[{index}]: phases must follow each other without gap")
        phases.append(phase)
    if phases[-1].until_min != math.inf:
        raise DataFileError(f"{where}: the last phase must have no until_min")
    return tuple(phases)


@cache
def _cadence_file() -> _CadenceFile:
    raw = load_toml("cadence.toml")
    try:
        groups = {name: tuple(fields) for name, fields in raw["groups"].items()}
        cadences = {}
        for key in ("outpatient", "inpatient"):
            entry = raw[key]
            cadences[key] = Cadence(
                key=key,
                label=entry["label"],
                phases={group: _phases(entry.get(group), f"cadence.toml {key}.{group}") for group in groups},
                source=entry["source"],
                status=parse_status(entry["status"], f"cadence.toml {key}"),
            )
        return _CadenceFile(
            cadences=cadences,
            group_fields=groups,
            grace_min=float(raw["grace_min"]),
            grace_source=raw["grace_source"],
            grace_status=parse_status(raw["grace_status"], "cadence.toml grace"),
        )
    except KeyError as exc:
        raise DataFileError(f"cadence.toml: missing {exc.args[0]!r}") from None


def get_cadence(key: str) -> Cadence:
    """The cadence "outpatient" or "inpatient"."""
    cadences = _cadence_file().cadences
    if key not in cadences:
        raise NotFoundError(f"unknown cadence {key!r} (known: {', '.join(cadences)})", field="cadence")
    return cadences[key]


def field_groups() -> Mapping[str, tuple[str, ...]]:
    """Observation fields per charting group (e.g. vitals: sbp, dbp, hr, spo2)."""
    return _cadence_file().group_fields


def default_grace_min() -> float:
    """The local-policy grace period before a due reading counts as overdue."""
    return _cadence_file().grace_min


def groups_charted(fields: Collection[str]) -> list[str]:
    """The field groups a reading with these charted fields counts for (any field of the group set)."""
    return [group for group, names in field_groups().items() if any(name in fields for name in names)]


def times_by_group(observations: Iterable[Observation]) -> dict[str, list[float]]:
    """Times at which each group was charted."""
    out: dict[str, list[float]] = {group: [] for group in field_groups()}
    for obs in observations:
        for group in groups_charted(obs.charted().keys()):
            out[group].append(obs.t_min)
    return out


def _check_group(group: str) -> None:
    if group not in field_groups():
        raise InputError(
            f"unknown field group {group!r} (known: {', '.join(field_groups())})", field="field_group"
        )


def _chain(
    cadence: Cadence, group: str, start_min: float, times: Sequence[float], now_min: float, grace_min: float
) -> tuple[list[float], float]:
    """Walk the group's clock through `times` to `now_min`: (missed due times, next due time)."""
    missed: list[float] = []
    clock = start_min
    due = clock + cadence.interval_min(group, 0.0)
    for t in sorted(t for t in times if t >= start_min and t <= now_min):
        while due + grace_min < t:
            missed.append(due)
            due += cadence.interval_min(group, due - start_min)
        clock = t
        due = clock + cadence.interval_min(group, clock - start_min)
    while due + grace_min < now_min:
        missed.append(due)
        due += cadence.interval_min(group, due - start_min)
    return missed, due


def _grace(grace_min: float | None) -> float:
    grace = default_grace_min() if grace_min is None else float(grace_min)
    if not math.isfinite(grace) or grace < 0:
        raise InputError(f"{grace_min!r} must be a non-negative number of minutes", field="grace_min")
    return grace


def next_due_min(
    cadence_key: str,
    infusion_start_min: float,
    last_obs_t_min: float | None,
    now_min: float,
    field_group: str = "vitals",
    *,
    grace_min: float | None = None,
) -> float:
    """When the next reading of `field_group` is due (a past time means it is due now, late but in grace).

    Slots already missed beyond the grace period are skipped here; `overdue` lists them.
    """
    cadence = get_cadence(cadence_key)
    _check_group(field_group)
    times = [] if last_obs_t_min is None else [last_obs_t_min]
    _, due = _chain(cadence, field_group, infusion_start_min, times, now_min, _grace(grace_min))
    return due


def overdue(
    cadence_key: str,
    observation_times: Sequence[float] | Mapping[str, Sequence[float]],
    now_min: float,
    grace_min: float | None = None,
    *,
    infusion_start_min: float = 0.0,
    groups: Sequence[str] | None = None,
) -> list[OverdueSlot]:
    """Every slot missed by `now_min`, sorted by due time then group.

    `observation_times` is either one list of reading times used for every group, or a mapping
    group -> times (see `times_by_group`). Readings before the infusion start do not count.
    """
    cadence = get_cadence(cadence_key)
    grace = _grace(grace_min)
    wanted = list(field_groups()) if groups is None else list(groups)
    slots: list[OverdueSlot] = []
    for group in wanted:
        _check_group(group)
        times = (
            observation_times.get(group, []) if isinstance(observation_times, Mapping) else observation_times
        )
        missed, _ = _chain(cadence, group, infusion_start_min, list(times), now_min, grace)
        slots.extend(OverdueSlot(t_due_min=t, group=group) for t in missed)
    return sorted(slots, key=lambda s: (s.t_due_min, s.group))
