"""Session rate paths from a protocol's dosing blocks: fixed rates, and titration envelopes and steps.

A titrated session has two paths: the minimum path (pain never above the threshold: the start rate
throughout) and the maximum path (one step up every interval until the top). The top is the
protocol's maximum for the weight, lowered to a library cap when that is lower: a plan's top to the
soft maxima (a plan proposes no rate that needs an override; going higher at the bedside needs a
reason), a bedside suggestion's top to the hard maxima (never a refused rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ketaclinic.dosing import pump
from ketaclinic.dosing.library import DrugLibrary, LimitKind
from ketaclinic.dosing.protocols import DosingBlock, Param, Protocol, Titration
from ketaclinic.errors import InputError

TitrationAction = Literal["increase", "hold", "decrease"]


@dataclass(frozen=True, slots=True)
class RateStep:
    """A constant rate from start_min to end_min of a session."""

    start_min: float
    end_min: float
    rate_mg_h: float


@dataclass(frozen=True, slots=True)
class Envelope:
    """Lowest and highest rate paths a session may follow (equal for a fixed-rate session)."""

    min_path: tuple[RateStep, ...]
    max_path: tuple[RateStep, ...]
    top_rate_mg_h: float
    note: str | None = None

    @property
    def titrated(self) -> bool:
        """True when the paths differ."""
        return self.min_path != self.max_path


@dataclass(frozen=True, slots=True)
class ResolvedTitration:
    """Titration numbers in mg/h for one weight, the top lowered to the library's hard limit."""

    start_rate_mg_h: float
    step_mg_h: float
    interval_min: float
    protocol_max_mg_h: float
    top_rate_mg_h: float
    nrs_threshold: float
    note: str | None


@dataclass(frozen=True, slots=True)
class TitrationSuggestion:
    """What the titration rule says to do now."""

    action: TitrationAction
    rate_mg_h: float
    previous_rate_mg_h: float
    next_review_min: float
    reason: str


def _library_cap_mg_h(
    library: DrugLibrary, context_id: str, weight_kg: float | None, kinds: tuple[LimitKind, ...]
) -> float:
    ctx = library.context(context_id)
    caps = [math.inf]
    for kind in kinds:
        absolute = ctx.limit_set("rate_mg_h").get(kind)
        if absolute is not None:
            caps.append(absolute.value)
        per_kg = ctx.limit_set("rate_mg_kg_h").get(kind)
        if per_kg is not None and weight_kg is not None:
            caps.append(pump.rate_mg_h_from_per_kg(per_kg.value, weight_kg))
    return min(caps)


def library_hard_cap_mg_h(library: DrugLibrary, context_id: str, weight_kg: float | None) -> float:
    """The highest rate (mg/h) the library's hard limits allow for this weight (inf when none)."""
    return _library_cap_mg_h(library, context_id, weight_kg, ("hard_max",))


def library_soft_cap_mg_h(library: DrugLibrary, context_id: str, weight_kg: float | None) -> float:
    """The highest rate (mg/h) that breaches no soft or hard maximum for this weight (inf when none)."""
    return _library_cap_mg_h(library, context_id, weight_kg, ("soft_max", "hard_max"))


def _per_weight(
    mg_h: float | None, mg_kg_h: float | None, weight_kg: float | None, what: str
) -> float | None:
    if mg_h is not None:
        return mg_h
    if mg_kg_h is None:
        return None
    if weight_kg is None:
        raise InputError(f"this protocol gives the {what} per kg: a weight is needed", field="weight_kg")
    return pump.rate_mg_h_from_per_kg(mg_kg_h, weight_kg)


def _value(param: Param | None) -> float | None:
    return None if param is None else param.value


def resolve_titration(
    titration: Titration, weight_kg: float | None, cap_mg_h: float, cap_name: str = "hard limit"
) -> ResolvedTitration:
    """Titration rates in mg/h for this weight; the top is min(protocol maxima, the library cap)."""
    start = _per_weight(
        _value(titration.start_rate_mg_h), _value(titration.start_rate_mg_kg_h), weight_kg, "start rate"
    )
    step = _per_weight(_value(titration.step_mg_h), _value(titration.step_mg_kg_h), weight_kg, "step")
    maxima = [
        m
        for m in (
            _value(titration.max_rate_mg_h),
            _per_weight(None, _value(titration.max_rate_mg_kg_h), weight_kg, "maximum rate"),
        )
        if m is not None
    ]
    if start is None or step is None or not maxima:
        raise InputError("titration needs a start rate, a step and a maximum", field="protocol")
    protocol_max = max(start, min(maxima))
    top = max(start, min(protocol_max, cap_mg_h))
    note = None
    if top < protocol_max:
        note = f"titration top lowered from {protocol_max:.4g} to {top:.4g} mg/h by the library {cap_name}"
    return ResolvedTitration(
        start,
        step,
        titration.interval_min.value,
        protocol_max,
        top,
        titration.increase_if_nrs_above.value,
        note,
    )


def _max_path(resolved: ResolvedTitration, duration_min: float) -> tuple[RateStep, ...]:
    steps: list[RateStep] = []
    rate, t = resolved.start_rate_mg_h, 0.0
    while t < duration_min:
        at_top = rate >= resolved.top_rate_mg_h
        end = duration_min if at_top else min(duration_min, t + resolved.interval_min)
        steps.append(RateStep(t, end, rate))
        t = end
        rate = min(rate + resolved.step_mg_h, resolved.top_rate_mg_h)
    return tuple(steps)


def fixed_rate_mg_h(block: DosingBlock, weight_kg: float) -> float:
    """The constant rate (mg/h) of a fixed block for this weight (capped by its max_rate_mg_h)."""
    duration = block.duration_min.value
    if block.dose_mg is not None:
        rate = pump.rate_mg_h_for_dose(block.dose_mg.value, duration)
    elif block.dose_mg_kg is not None:
        rate = pump.rate_mg_h_for_dose(pump.dose_mg_from_per_kg(block.dose_mg_kg.value, weight_kg), duration)
    elif block.rate_mg_kg_h is not None:
        rate = pump.rate_mg_h_from_per_kg(block.rate_mg_kg_h.value, weight_kg)
    elif block.rate_mg_h is not None:
        rate = block.rate_mg_h.value
    else:
        raise InputError("this dosing block is titrated, not fixed", field="protocol")
    if block.max_rate_mg_h is not None:
        rate = min(rate, block.max_rate_mg_h.value)
    return rate


def block_envelope(
    block: DosingBlock, weight_kg: float, cap_mg_h: float, cap_name: str = "hard limit"
) -> Envelope:
    """Min and max rate paths of one session dosed by `block`, a titration's top at most `cap_mg_h`."""
    duration = block.duration_min.value
    if block.titration is None:
        rate = fixed_rate_mg_h(block, weight_kg)
        path = (RateStep(0.0, duration, rate),)
        return Envelope(path, path, rate)
    resolved = resolve_titration(block.titration, weight_kg, cap_mg_h, cap_name)
    min_path = (RateStep(0.0, duration, resolved.start_rate_mg_h),)
    return Envelope(min_path, _max_path(resolved, duration), resolved.top_rate_mg_h, resolved.note)


def titration_envelope(
    protocol: Protocol, weight_kg: float, *, library: DrugLibrary, session_number: int = 1
) -> Envelope:
    """Min and max rate paths of a protocol session for this weight, the top capped by the clinic library."""
    pump.require_weight(weight_kg)
    cap = library_hard_cap_mg_h(library, protocol.context, weight_kg)
    return block_envelope(protocol.block_for(session_number), weight_kg, cap)


def next_titration_step(
    protocol: Protocol,
    current_rate_mg_h: float,
    nrs: int,
    limiting_side_effect: bool,
    *,
    weight_kg: float | None = None,
    library: DrugLibrary,
    session_number: int = 1,
) -> TitrationSuggestion:
    """Apply the protocol's titration rule: step up while pain NRS is above the threshold and no
    limiting side effect; on a limiting side effect hold or step down (never below the start rate)."""
    titration = protocol.block_for(session_number).titration
    if titration is None:
        raise InputError(f"protocol {protocol.id} has no titration rules", field="protocol")
    pump.require_non_negative(current_rate_mg_h, field="current_rate_mg_h")
    if isinstance(nrs, bool) or not isinstance(nrs, int) or not 0 <= nrs <= 10:
        raise InputError(f"pain NRS {nrs!r} must be an integer 0-10", field="nrs")
    if weight_kg is not None:
        pump.require_weight(weight_kg)
    cap = library_hard_cap_mg_h(library, protocol.context, weight_kg)
    r = resolve_titration(titration, weight_kg, cap)
    current = current_rate_mg_h

    def answer(action: TitrationAction, rate: float, reason: str) -> TitrationSuggestion:
        return TitrationSuggestion(action, rate, current, r.interval_min, reason)

    if current > r.top_rate_mg_h * (1 + 1e-9):
        return answer("decrease", r.top_rate_mg_h, f"above the titration top {r.top_rate_mg_h:.4g} mg/h")
    if limiting_side_effect:
        if titration.on_limiting_side_effect == "decrease" and current > r.start_rate_mg_h:
            lower = max(r.start_rate_mg_h, current - r.step_mg_h)
            return answer("decrease", lower, "limiting side effect: one step down")
        return answer("hold", current, "limiting side effect: no increase")
    if nrs > r.nrs_threshold:
        if current >= r.top_rate_mg_h * (1 - 1e-9):
            return answer(
                "hold", current, f"pain NRS {nrs} but already at the top {r.top_rate_mg_h:.4g} mg/h"
            )
        higher = min(current + r.step_mg_h, r.top_rate_mg_h)
        return answer("increase", higher, f"pain NRS {nrs} > {r.nrs_threshold:g} and no limiting side effect")
    return answer("hold", current, f"pain NRS {nrs} <= {r.nrs_threshold:g}: no increase")
