"""The timed flowsheet: observation kinds (data), validated readings, and their interpretation.

Impossible values (outside `valid_min`..`valid_max`, wrong type, sbp <= dbp) are rejected with an
InputError naming the field; abnormal values are accepted and interpreted normal/abnormal/critical.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

from ketaclinic.data import Status, load_toml, parse_status
from ketaclinic.errors import DataFileError, InputError


class Interpretation(StrEnum):
    """How a charted value reads against the interpretation bands."""

    NORMAL = "normal"
    ABNORMAL = "abnormal"
    CRITICAL = "critical"


_RANK = {Interpretation.NORMAL: 0, Interpretation.ABNORMAL: 1, Interpretation.CRITICAL: 2}

COMPARATORS: dict[str, Any] = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


def compare(op: str, value: float, threshold: float) -> bool:
    """`value <op> threshold` for op in lt, le, gt, ge."""
    return bool(COMPARATORS[op](value, threshold))


@dataclass(frozen=True, slots=True)
class RangeBand:
    """One interpretation band: values matching `op value` are at least `interpretation`."""

    interpretation: Interpretation
    op: str
    value: float


@dataclass(frozen=True, slots=True)
class ObservationKind:
    """One flowsheet field with its codes, impossible range and interpretation bands."""

    key: str
    label: str
    short_label: str
    loinc: tuple[str, ...]
    ucum: str
    unit_label: str
    value_type: str  # number | integer | boolean | text | cadss6
    valid_min: float | None
    valid_max: float | None
    ranges: tuple[RangeBand, ...]
    abnormal_if_true: bool
    items: tuple[int, ...]
    source: str
    status: Status
    limits_source: str
    limits_status: Status
    ranges_source: str
    ranges_status: Status

    @property
    def value_unit(self) -> str:
        """The unit of a charted value as people write it ('' for scores and text)."""
        return "" if self.value_type == "text" else self.unit_label  # a note's unit is its length

    def heading(self) -> str:
        """The flowsheet column heading, e.g. 'SBP mmHg'."""
        return f"{self.short_label} {self.value_unit}".strip()

    def limits_text(self) -> str:
        """The valid range for people, e.g. '0-100 %'."""
        lo = "" if self.valid_min is None else f"{self.valid_min:g}"
        hi = "" if self.valid_max is None else f"{self.valid_max:g}"
        return f"{lo}-{hi} {self.unit_label}".strip()


_VALUE_TYPES = {"number", "integer", "boolean", "text", "cadss6"}


def _kind_from_row(row: Mapping[str, Any]) -> ObservationKind:
    where = f"observation_kinds.toml {row.get('key', '?')}"
    try:
        if row["value_type"] not in _VALUE_TYPES:
            raise DataFileError(
                f"{where}: value_type {row['value_type']!r} is not one of {sorted(_VALUE_TYPES)}"
            )
        bands = []
        for band in row.get("ranges", []):
            if band["op"] not in COMPARATORS:
                raise DataFileError(f"{where}: range op {band['op']!r} is not one of lt, le, gt, ge")
            bands.append(RangeBand(Interpretation(band["interpretation"]), band["op"], float(band["value"])))
        return ObservationKind(
            key=row["key"],
            label=row["label"],
            short_label=row.get("short_label", row["label"]),
            loinc=tuple(row.get("loinc", ())),
            ucum=row.get("ucum", ""),
            unit_label=row.get("unit_label", ""),
            value_type=row["value_type"],
            valid_min=None if row.get("valid_min") is None else float(row["valid_min"]),
            valid_max=None if row.get("valid_max") is None else float(row["valid_max"]),
            ranges=tuple(bands),
            abnormal_if_true=bool(row.get("abnormal_if_true", False)),
            items=tuple(int(i) for i in row.get("items", ())),
            source=row["source"],
            status=parse_status(row["status"], where),
            limits_source=row["limits_source"],
            limits_status=parse_status(row["limits_status"], f"{where} limits"),
            ranges_source=row["ranges_source"],
            ranges_status=parse_status(row["ranges_status"], f"{where} ranges"),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise DataFileError(f"{where}: {exc!r}") from exc


@cache
def observation_kinds() -> dict[str, ObservationKind]:
    """Every flowsheet field keyed by name, in file order."""
    return {kind.key: kind for kind in map(_kind_from_row, load_toml("observation_kinds.toml")["kind"])}


def get_kind(key: str) -> ObservationKind:
    """The observation kind `key`; an unknown key is an InputError."""
    try:
        return observation_kinds()[key]
    except KeyError:
        raise InputError(f"unknown observation field {key!r}", field=key) from None


# Fields of an Observation that are charted values (not time or identity), in flowsheet order.
VALUE_FIELDS: tuple[str, ...] = (
    "sbp",
    "dbp",
    "hr",
    "spo2",
    "rr",
    "temp_c",
    "rass",
    "moaas",
    "dissociation",
    "cadss6",
    "nausea",
    "hallucinations",
    "nrs",
    "note",
)


@dataclass(frozen=True, slots=True)
class Observation:
    """One timed flowsheet reading; any value may be absent. Construction validates every value.

    `t_min` is minutes from the session start (negative for pre-infusion readings). `obs_id` is the
    stored reading's identity (the service sets it); without it the identity is the time.
    `cadss6` holds the six item scores in the order of the kind's `items` (1, 2, 6, 7, 15, 22).
    """

    t_min: float
    sbp: float | None = None
    dbp: float | None = None
    hr: float | None = None
    spo2: float | None = None
    rr: float | None = None
    temp_c: float | None = None
    rass: int | None = None
    moaas: int | None = None
    dissociation: int | None = None
    cadss6: tuple[int, ...] | None = None
    nausea: int | None = None
    hallucinations: bool | None = None
    nrs: int | None = None
    note: str | None = None
    obs_id: str | None = None

    def __post_init__(self) -> None:
        check_observation(self)

    @property
    def identity(self) -> str:
        """Stable identity of this reading (stored id, else its time)."""
        return self.obs_id if self.obs_id is not None else f"t={self.t_min:g}"

    @property
    def cadss6_total(self) -> int | None:
        """CADSS-6 total 0..24, or None when not charted."""
        return None if self.cadss6 is None else sum(self.cadss6)

    def value_of(self, name: str) -> float | bool | str | None:
        """The charted value of a field (CADSS-6 as its total)."""
        if name == "cadss6":
            return self.cadss6_total
        value: float | bool | str | None = getattr(self, name)
        return value

    def charted(self) -> dict[str, float | bool | str]:
        """The fields that carry a value."""
        out: dict[str, float | bool | str] = {}
        for name in VALUE_FIELDS:
            value = self.value_of(name)
            if value is not None:
                out[name] = value
        return out


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_value(kind: ObservationKind, value: object, name: str) -> None:
    """Reject a value that cannot be charted for `kind` (type, integer-ness, impossible range)."""
    if kind.value_type == "boolean":
        if not isinstance(value, bool):
            raise InputError(f"{value!r} is not true or false", field=name)
        return
    if kind.value_type == "text":
        if not isinstance(value, str):
            raise InputError(f"{value!r} is not text", field=name)
        if kind.valid_max is not None and len(value) > kind.valid_max:
            raise InputError(f"is longer than {kind.valid_max:g} characters", field=name)
        return
    if not _is_number(value):
        raise InputError(f"{value!r} is not a number", field=name)
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise InputError(f"{value!r} is not a finite number", field=name)
    if kind.value_type in ("integer", "cadss6") and not number.is_integer():
        raise InputError(f"{value!r} is impossible (an integer {kind.limits_text()})", field=name)
    too_low = kind.valid_min is not None and number < kind.valid_min
    too_high = kind.valid_max is not None and number > kind.valid_max
    if too_low or too_high:
        raise InputError(f"{value!r} is impossible ({kind.limits_text()})", field=name)


def check_observation(obs: Observation) -> None:
    """Raise InputError naming the first impossible field of `obs`."""
    if not _is_number(obs.t_min) or not math.isfinite(obs.t_min):
        raise InputError(f"{obs.t_min!r} is not a finite number of minutes", field="t_min")
    kinds = observation_kinds()
    for name in VALUE_FIELDS:
        value = getattr(obs, name)
        if value is None:
            continue
        kind = kinds[name]
        if kind.value_type == "cadss6":
            _check_cadss6(kind, value)
        else:
            _check_value(kind, value, name)
    if obs.sbp is not None and obs.dbp is not None and obs.sbp <= obs.dbp:
        raise InputError(
            f"{obs.sbp:g} is impossible (systolic must be above diastolic {obs.dbp:g} mmHg)", field="sbp"
        )


def _check_cadss6(kind: ObservationKind, value: object) -> None:
    if not isinstance(value, tuple) or len(value) != len(kind.items):
        raise InputError(
            f"needs the {len(kind.items)} item scores (items {list(kind.items)})", field="cadss6"
        )
    for item, score in zip(kind.items, value, strict=True):
        _check_value(kind, score, f"cadss6.item_{item}")


def _parse_cadss6(raw: object, where: str) -> tuple[int, ...]:
    """CADSS-6 items from {"1": 0, "2": 1, ...} or a list in item order."""
    items = observation_kinds()["cadss6"].items
    if isinstance(raw, list | tuple):
        scores = list(raw)
    elif isinstance(raw, Mapping):
        unknown = sorted(str(k) for k in raw if str(k) not in {str(i) for i in items})
        if unknown:
            raise InputError(f"item {unknown[0]} is not a CADSS-6 item {list(items)}", field=f"{where}cadss6")
        missing = [i for i in items if str(i) not in {str(k) for k in raw}]
        if missing:
            raise InputError(f"item {missing[0]} is missing (items {list(items)})", field=f"{where}cadss6")
        by_item = {str(k): v for k, v in raw.items()}
        scores = [by_item[str(i)] for i in items]
    else:
        raise InputError(f"{raw!r} is not a list or mapping of item scores", field=f"{where}cadss6")
    if len(scores) != len(items):
        raise InputError(f"needs {len(items)} item scores (items {list(items)})", field=f"{where}cadss6")
    kind = observation_kinds()["cadss6"]
    for item, score in zip(items, scores, strict=True):
        _check_value(kind, score, f"{where}cadss6.item_{item}")
    return tuple(int(s) for s in scores)


def parse_observation(
    raw: Mapping[str, Any], *, where: str = "", default_t_min: float | None = None
) -> Observation:
    """Build an Observation from JSON-like input; errors name the field as `<where>.<field>`.

    Unknown keys are rejected (a misspelt field must not silently vanish from the chart).
    """
    prefix = f"{where}." if where else ""
    if not isinstance(raw, Mapping):
        raise InputError("is not an object", field=where or "observation")
    allowed = {"t_min", "obs_id", *VALUE_FIELDS}
    for key in raw:
        if key not in allowed:
            raise InputError(
                f"unknown observation field (known: {', '.join(sorted(allowed))})", field=prefix + key
            )
    t_raw = raw.get("t_min", default_t_min)
    if t_raw is None:
        raise InputError("is required (minutes from the session start)", field=prefix + "t_min")
    values: dict[str, Any] = {}
    kinds = observation_kinds()
    for name in VALUE_FIELDS:
        value = raw.get(name)
        if value is None:
            continue
        if name == "cadss6":
            values[name] = _parse_cadss6(value, prefix)
            continue
        _check_value(kinds[name], value, prefix + name)
        if kinds[name].value_type == "integer":
            value = int(value)
        elif kinds[name].value_type == "number":
            value = float(value)
        values[name] = value
    if not _is_number(t_raw) or not math.isfinite(float(t_raw)):
        raise InputError(f"{t_raw!r} is not a finite number of minutes", field=prefix + "t_min")
    obs_id = raw.get("obs_id")
    try:
        return Observation(t_min=float(t_raw), obs_id=None if obs_id is None else str(obs_id), **values)
    except InputError as exc:
        raise InputError(exc.message, field=prefix + (exc.field or "observation")) from None


def interpret_value(name: str, value: float | bool | str | None) -> Interpretation | None:
    """Interpret one charted value against its bands (None when absent or not interpreted)."""
    kind = get_kind(name)
    if value is None or kind.value_type == "text":
        return None
    if kind.value_type == "boolean":
        return Interpretation.ABNORMAL if (value is True and kind.abnormal_if_true) else Interpretation.NORMAL
    worst = Interpretation.NORMAL
    for band in kind.ranges:
        if compare(band.op, float(value), band.value) and _RANK[band.interpretation] > _RANK[worst]:
            worst = band.interpretation
    return worst


def interpret(obs: Observation) -> dict[str, Interpretation]:
    """Interpretation of every charted, interpretable field of `obs`."""
    out: dict[str, Interpretation] = {}
    for name, value in obs.charted().items():
        verdict = interpret_value(name, value)
        if verdict is not None:
            out[name] = verdict
    return out
