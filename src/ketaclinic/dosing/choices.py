"""The physician's choices within a protocol's published ranges (e.g. dose per kg, duration, sessions).

A protocol number with `min` and `max` is chosen when the plan is built (its `value` is the default).
A choice outside the published range is a soft breach that needs a reason, like any soft limit; a
choice that cannot be dosed at all (not finite, zero, part of a session) is bad input naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ketaclinic.dosing.checks import LimitCheck, evaluate
from ketaclinic.dosing.library import LimitSet, LimitValue
from ketaclinic.dosing.protocols import CHOOSABLE_BLOCK_KEYS, DosingBlock, Param, Protocol
from ketaclinic.errors import InputError

CHOICE_UNITS: dict[str, str] = {
    "sessions": "sessions",
    "interval_days": "days",
    "duration_min": "min",
    "dose_mg": "mg",
    "dose_mg_kg": "mg/kg",
    "rate_mg_h": "mg/h",
    "rate_mg_kg_h": "mg/kg/h",
}
CHOICE_LABELS: dict[str, str] = {
    "sessions": "Sessions in the series",
    "interval_days": "Days between sessions",
    "duration_min": "Infusion duration",
    "dose_mg": "Dose per session",
    "dose_mg_kg": "Dose per kg",
    "rate_mg_h": "Rate",
    "rate_mg_kg_h": "Rate per kg",
}
# Plausibility, not clinical limits (a choice outside the published range is already a soft breach
# with its source): refuse only what cannot be a series (more than 30 sessions) or a session (longer
# than the 7 days of the longest continuous protocols), i.e. a typo.
MAX_SESSIONS = 30
MAX_DURATION_MIN = 7 * 24 * 60


def choosable(protocol: Protocol) -> dict[str, Param]:
    """The protocol's numbers the physician chooses, by key (at most one block offers each: see
    protocol_files.parse_protocol)."""
    out: dict[str, Param] = {}
    for block in protocol.dosing:
        for key in CHOOSABLE_BLOCK_KEYS:
            param = getattr(block, key)
            if param is not None and param.published_range is not None:
                out[key] = param
    schedule = (("sessions", protocol.schedule.sessions), ("interval_days", protocol.schedule.interval_days))
    for key, param in schedule:
        if param.published_range is not None:
            out[key] = param
    return out


def _require_dosable(key: str, value: float) -> float:
    field = f"choices.{key}"
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InputError(f"{value!r} must be a number > 0 ({CHOICE_UNITS[key]})", field=field)
    if key == "sessions" and (value != int(value) or value > MAX_SESSIONS):
        raise InputError(f"{value:g} must be a whole number of sessions, 1-{MAX_SESSIONS}", field=field)
    if key == "duration_min" and value > MAX_DURATION_MIN:
        raise InputError(f"{value:g} min is longer than 7 days", field=field)
    return float(value)


def choice_check(key: str, param: Param, value: float) -> LimitCheck:
    """Is this choice within the published range (ok) or outside it (soft: needs a reason)?"""
    assert param.published_range is not None
    low, high = param.published_range
    published = LimitSet(
        key,
        CHOICE_UNITS[key],
        soft_min=LimitValue(low, param.source, param.status),
        soft_max=LimitValue(high, param.source, param.status),
    )
    check = evaluate(published, value, context="protocol")
    unit = CHOICE_UNITS[key]
    where = "within" if check.verdict == "ok" else ("below" if check.limit_kind == "soft_min" else "above")
    message = (
        f"physician's choice, {CHOICE_LABELS[key].lower()}: {value:g} {unit} is {where} the published range "
        f"{low:g}-{high:g} {unit}" + ("" if check.verdict == "ok" else f" ({param.source})")
    )
    return replace(check, message=message)


def _chosen(param: Param, value: float) -> Param:
    return replace(param, value=value)


def apply_choices(
    protocol: Protocol, choices: Mapping[str, float]
) -> tuple[Protocol, tuple[LimitCheck, ...]]:
    """The protocol with the physician's choices in place, and one check per choosable number."""
    options = choosable(protocol)
    unknown = sorted(set(choices) - set(options))
    if unknown:
        offered = ", ".join(options) or "none"
        raise InputError(
            f"protocol {protocol.id} has no choice {', '.join(unknown)} (its choices: {offered})",
            field="choices",
        )
    values = {
        key: _require_dosable(key, choices[key]) if key in choices else p.value for key, p in options.items()
    }
    schedule = protocol.schedule
    if "sessions" in values:
        schedule = replace(schedule, sessions=_chosen(schedule.sessions, values["sessions"]))
    if "interval_days" in values:
        schedule = replace(schedule, interval_days=_chosen(schedule.interval_days, values["interval_days"]))

    def block_with_choices(block: DosingBlock) -> DosingBlock:
        changes: dict[str, Any] = {
            key: _chosen(param, values[key])
            for key in CHOOSABLE_BLOCK_KEYS
            if (param := getattr(block, key)) is not None and param.published_range is not None
        }
        return replace(block, **changes)

    chosen = replace(
        protocol, schedule=schedule, dosing=tuple(block_with_choices(b) for b in protocol.dosing)
    )
    uncovered = [
        n for n in range(1, schedule.session_count + 1) if not any(b.applies_to(n) for b in chosen.dosing)
    ]
    if uncovered:
        raise InputError(f"protocol {protocol.id} doses no session {uncovered[0]}", field="choices.sessions")
    return chosen, tuple(choice_check(key, options[key], values[key]) for key in options)
