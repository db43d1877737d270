"""Is this dose or rate allowed here? One answer per number: ok, soft (needs a reason) or hard (refused).

Values are compared with a relative tolerance of 1e-9 so that arithmetic round-off (0.35 mg/kg/h x
70 kg / 70 kg) never turns an on-limit value into a breach; anything further above is a breach.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ketaclinic.dosing import pump
from ketaclinic.dosing.library import DrugLibrary, LimitKind, LimitSet
from ketaclinic.errors import InputError

Verdict = Literal["ok", "soft", "hard"]
_RANK: dict[str, int] = {"ok": 0, "soft": 1, "hard": 2}
REL_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """The library's verdict on one number, with the limit that decided it and that limit's source."""

    verdict: Verdict
    quantity: str
    value: float
    unit: str
    limit: float | None
    limit_kind: LimitKind | None
    source: str | None
    status: str | None
    message: str
    context: str = ""

    def to_json_dict(self) -> dict[str, object]:
        """Plain JSON values."""
        return {
            "verdict": self.verdict,
            "quantity": self.quantity,
            "value": self.value,
            "unit": self.unit,
            "limit": self.limit,
            "limit_kind": self.limit_kind,
            "source": self.source,
            "status": self.status,
            "message": self.message,
            "context": self.context,
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> LimitCheck:
        """The check back from `to_json_dict` (a stored plan or charted segment)."""
        return cls(
            verdict=data["verdict"],
            quantity=data["quantity"],
            value=data["value"],
            unit=data["unit"],
            limit=data["limit"],
            limit_kind=data["limit_kind"],
            source=data["source"],
            status=data["status"],
            message=data["message"],
            context=data.get("context", ""),
        )


class HardLimitError(InputError):
    """A planned or charted number breaches a hard limit of the drug library: refused."""

    def __init__(self, check: LimitCheck, *, field: str | None = None) -> None:
        super().__init__(f"refused, {check.message}", field=field or check.quantity)
        self.check = check


def worst_verdict(checks: Iterable[LimitCheck]) -> Verdict:
    """The most severe verdict of a list of checks ("ok" when empty)."""
    worst: Verdict = "ok"
    for check in checks:
        if _RANK[check.verdict] > _RANK[worst]:
            worst = check.verdict
    return worst


def worst_check(checks: Sequence[LimitCheck]) -> LimitCheck:
    """The first check with the worst verdict; among all-ok checks the one closest to its soft maximum."""
    if not checks:
        raise ValueError("worst_check needs at least one check")
    worst = worst_verdict(checks)
    if worst != "ok":
        return next(c for c in checks if c.verdict == worst)

    def headroom(c: LimitCheck) -> float:
        return c.value / c.limit if c.limit else 0.0

    return max(checks, key=headroom)


def _above(value: float, limit: float) -> bool:
    return value > limit * (1 + REL_TOL)


def _below(value: float, limit: float) -> bool:
    return value < limit * (1 - REL_TOL)


def evaluate(
    limit_set: LimitSet,
    value: float,
    *,
    context: str = "",
    allow_zero: bool = False,
    maxima_only: bool = False,
) -> LimitCheck:
    """Judge one value against the soft and hard limits of its quantity."""
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{value} {limit_set.unit} must be a finite number >= 0", field=limit_set.quantity)
    name = f"{limit_set.quantity} {value:.4g} {limit_set.unit}"
    skip_minima = maxima_only or (allow_zero and value == 0)  # a stopped pump is not an under-dose
    tests: tuple[tuple[LimitKind, Verdict, bool], ...] = (
        ("hard_max", "hard", True),
        ("hard_min", "hard", False),
        ("soft_max", "soft", True),
        ("soft_min", "soft", False),
    )
    for kind, verdict, is_max in tests:
        limit = limit_set.get(kind)
        if limit is None or (skip_minima and not is_max):
            continue
        breached = _above(value, limit.value) if is_max else _below(value, limit.value)
        if breached:
            word = "above" if is_max else "below"
            message = f"{name} is {word} the {kind.replace('_', ' ')} {limit.value:g} ({limit.source})"
            return LimitCheck(
                verdict,
                limit_set.quantity,
                value,
                limit_set.unit,
                limit.value,
                kind,
                limit.source,
                limit.status.value,
                message,
                context,
            )
    reference = limit_set.soft_max or limit_set.hard_max
    kind_ok: LimitKind | None = None
    if reference is not None:
        kind_ok = "soft_max" if limit_set.soft_max is not None else "hard_max"
    return LimitCheck(
        "ok",
        limit_set.quantity,
        value,
        limit_set.unit,
        reference.value if reference else None,
        kind_ok,
        reference.source if reference else None,
        reference.status.value if reference else None,
        f"{name} is within the library limits",
        context,
    )


def rate_checks(
    library: DrugLibrary, context_id: str, *, rate_mg_h: float, weight_kg: float
) -> tuple[LimitCheck, ...]:
    """Both rate checks: per kg (mg/kg/h) and the absolute cap (mg/h)."""
    ctx = library.context(context_id)
    per_kg = pump.rate_mg_kg_h(rate_mg_h, weight_kg)
    return (
        evaluate(ctx.limit_set("rate_mg_kg_h"), per_kg, context=ctx.id, allow_zero=True),
        evaluate(ctx.limit_set("rate_mg_h"), rate_mg_h, context=ctx.id, allow_zero=True),
    )


def check_rate(library: DrugLibrary, context_id: str, *, rate_mg_h: float, weight_kg: float) -> LimitCheck:
    """Is this infusion rate allowed in this context for this weight (worst of mg/kg/h and mg/h)?"""
    return worst_check(rate_checks(library, context_id, rate_mg_h=rate_mg_h, weight_kg=weight_kg))


def bolus_checks(
    library: DrugLibrary, context_id: str, *, dose_mg: float, weight_kg: float
) -> tuple[LimitCheck, ...]:
    """Both bolus checks: per kg (mg/kg) and the absolute cap (mg)."""
    ctx = library.context(context_id)
    per_kg = dose_mg / pump.require_weight(weight_kg)
    return (
        evaluate(ctx.limit_set("bolus_mg_kg"), per_kg, context=ctx.id),
        evaluate(ctx.limit_set("bolus_mg"), dose_mg, context=ctx.id),
    )


def check_bolus(library: DrugLibrary, context_id: str, *, dose_mg: float, weight_kg: float) -> LimitCheck:
    """Is this bolus allowed in this context for this weight (worst of mg/kg and mg)?"""
    return worst_check(bolus_checks(library, context_id, dose_mg=dose_mg, weight_kg=weight_kg))


def check_session_total(library: DrugLibrary, context_id: str, *, total_mg: float) -> LimitCheck:
    """Is this per-session total allowed in this context?"""
    ctx = library.context(context_id)
    return evaluate(ctx.limit_set("session_total_mg"), total_mg, context=ctx.id)


def check_charted_session_total(library: DrugLibrary, context_id: str, *, total_mg: float) -> LimitCheck:
    """Charting: would the session total (given so far, then the rate for the time left) pass a maximum?

    Only maxima apply: a session total below the soft minimum is a planning warning, never a reason to
    hold a nurse at a higher rate or to block a reduction.
    """
    ctx = library.context(context_id)
    check = evaluate(ctx.limit_set("session_total_mg"), total_mg, context=ctx.id, maxima_only=True)
    return with_subject(
        check, "projected session total (given so far, then the rate for the planned time left)"
    )


def with_subject(check: LimitCheck, subject: str) -> LimitCheck:
    """The same check with its message prefixed by what was checked."""
    return replace(check, message=f"{subject}: {check.message}")


def dose_response_note(
    library: DrugLibrary, context_id: str, *, total_mg: float, duration_min: float
) -> str | None:
    """Information when a session is below the context's dose-response minimum (never a breach)."""
    minimum = library.context(context_id).dose_response_minimum
    if minimum is None:
        return None
    if not _below(total_mg, minimum.total_mg.value) and duration_min > minimum.over_min.value:
        return None
    return (
        f"{total_mg:.4g} mg over {duration_min:.4g} min is short of at least {minimum.total_mg.value:g} mg "
        f"over more than {minimum.over_min.value:g} min ({minimum.total_mg.source}); information, not a limit"
    )


def check_series_total(library: DrugLibrary, context_id: str, *, total_mg: float) -> LimitCheck:
    """Is this per-series total allowed in this context?"""
    ctx = library.context(context_id)
    return evaluate(ctx.limit_set("series_total_mg"), total_mg, context=ctx.id)


def check_concentration(library: DrugLibrary, context_id: str, concentration_mg_ml: float) -> float:
    """The concentration if the context lists it; otherwise bad input (catches mg/h typed as mL/h)."""
    ctx = library.context(context_id)
    pump.require_concentration(concentration_mg_ml)
    if not ctx.allows_concentration(concentration_mg_ml):
        listed = ", ".join(f"{c:g}" for c in ctx.concentrations.values_mg_ml)
        raise InputError(
            f"{concentration_mg_ml:g} mg/mL is not a library concentration for {ctx.id} "
            f"(allowed: {listed} mg/mL)",
            field="concentration_mg_ml",
        )
    return concentration_mg_ml


def refuse_hard(checks: Iterable[LimitCheck]) -> None:
    """Raise HardLimitError for the first hard breach, if any."""
    for check in checks:
        if check.verdict == "hard":
            raise HardLimitError(check)
