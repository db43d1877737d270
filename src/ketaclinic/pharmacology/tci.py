"""Target-controlled infusion: plasma and effect-site targeting (Shafer & Gregg 1992), pump-practical plans.

Each plan works on the exact exponential state of one patient (see `engine`): every update interval
it predicts the concentration with no further drug, and the response to a unit rate held for the
interval, and picks the rate that brings the site to the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ketaclinic.errors import InputError
from ketaclinic.pharmacology.engine import Disposition, disposition
from ketaclinic.pharmacology.models import PKModel, check_patient, resolve_model
from ketaclinic.pharmacology.regimen import Infusion, Regimen
from ketaclinic.pharmacology.simulate import Prediction, simulate

Site = Literal["plasma", "effect"]
FloatArray = npt.NDArray[np.float64]
_HORIZON_CAP_MIN = 60.0


@dataclass(frozen=True, slots=True)
class RateSegment:
    """A constant pump rate from `start_min` to `end_min`."""

    start_min: float
    end_min: float
    rate_mg_h: float


@dataclass(frozen=True, slots=True)
class TciResult:
    """A rate schedule (consecutive equal rates merged), its total dose and the predicted Cp/Ce."""

    segments: tuple[RateSegment, ...]
    total_mg: float
    prediction: Prediction

    @property
    def regimen(self) -> Regimen:
        """The schedule as a regimen (to simulate or chart it)."""
        return Regimen(infusions=tuple(Infusion(s.start_min, s.end_min, s.rate_mg_h) for s in self.segments))


@dataclass(frozen=True, slots=True)
class PracticalResult:
    """A pump-practical plan: a loading interval, then a rate that changes at most every `hold_min`."""

    segments: tuple[RateSegment, ...]
    total_mg: float
    prediction: Prediction
    hold_min: float
    loading_end_min: float
    max_deviation_pct: float
    tolerance_pct: float

    @property
    def within_tolerance(self) -> bool:
        """Whether the site stayed within the tolerance of target after loading."""
        return self.max_deviation_pct <= self.tolerance_pct


def merge_segments(
    starts_min: FloatArray, ends_min: FloatArray, rates_mg_h: FloatArray
) -> tuple[RateSegment, ...]:
    """Segments with consecutive equal rates merged."""
    out: list[RateSegment] = []
    for start, end, rate in zip(starts_min.tolist(), ends_min.tolist(), rates_mg_h.tolist(), strict=True):
        if out and math.isclose(out[-1].rate_mg_h, rate, rel_tol=1e-12, abs_tol=1e-12):
            out[-1] = RateSegment(out[-1].start_min, end, out[-1].rate_mg_h)
        else:
            out.append(RateSegment(start, end, rate))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Patient:
    """One patient's exponential form: rates r, Cp and Ce coefficients (ng/mL per mg of state)."""

    r: FloatArray
    cp: FloatArray
    ce: FloatArray | None

    @classmethod
    def of(cls, disp: Disposition) -> _Patient:
        return cls(disp.rates_per_min[0], disp.cp_coef[0], None if disp.ce_coef is None else disp.ce_coef[0])

    def unit_states(self, tau: FloatArray, on_min: float) -> FloatArray:
        """States (m, K) at tau after a rate of 1 mg/min held for `on_min` from tau = 0."""
        r = self.r[:, None]
        during = (1.0 - np.exp(-r * np.minimum(tau, on_min))) / r
        return np.asarray(during * np.exp(-r * np.maximum(tau - on_min, 0.0)))


def _validate(
    weight_kg: float, target_ng_ml: float, duration_min: float, interval_s: float, max_rate_mg_h: float | None
) -> None:
    if not (math.isfinite(target_ng_ml) and target_ng_ml > 0):
        raise InputError(f"target must be > 0 ng/mL, got {target_ng_ml}", field="target_ng_ml")
    if not (math.isfinite(duration_min) and duration_min > 0):
        raise InputError(f"duration must be > 0 min, got {duration_min}", field="duration_min")
    if not (math.isfinite(interval_s) and interval_s > 0):
        raise InputError(f"update interval must be > 0 s, got {interval_s}", field="interval_s")
    if max_rate_mg_h is not None and not (math.isfinite(max_rate_mg_h) and max_rate_mg_h > 0):
        raise InputError(f"pump maximum rate must be > 0 mg/h, got {max_rate_mg_h}", field="max_rate_mg_h")
    if not weight_kg > 0:
        raise InputError(f"weight must be > 0 kg, got {weight_kg}", field="weight_kg")


def _setup(
    model: str | PKModel, weight_kg: float, ke0_per_min: float | None, need_ke0: bool
) -> tuple[PKModel, float | None, _Patient]:
    pk = resolve_model(model)
    if ke0_per_min is not None and not (math.isfinite(ke0_per_min) and ke0_per_min > 0):
        raise InputError(f"ke0 must be > 0 per min, got {ke0_per_min}", field="ke0")
    ke0 = ke0_per_min if ke0_per_min is not None else pk.ke0_for(weight_kg)
    if need_ke0 and ke0 is None:
        raise InputError(
            f"{pk.key} has no published ke0: effect-site targeting needs --ke0 (1/min)", field="ke0"
        )
    return pk, ke0, _Patient.of(disposition(pk, np.array([float(weight_kg)]), ke0_per_min=ke0))


def _result(
    pk: PKModel,
    weight_kg: float,
    age_y: float | None,
    ke0: float | None,
    segments: tuple[RateSegment, ...],
    duration_min: float,
    interval_s: float,
) -> TciResult:
    regimen = Regimen(infusions=tuple(Infusion(s.start_min, s.end_min, s.rate_mg_h) for s in segments))
    steps = round(duration_min * 60.0 / interval_s)
    grid = np.unique(np.append(np.arange(steps + 1) * (interval_s / 60.0), duration_min))
    prediction = simulate(pk, weight_kg, regimen, grid[grid <= duration_min], age_y=age_y, ke0_per_min=ke0)
    return TciResult(segments, regimen.total_mg, prediction)


def _planned(
    pk: PKModel,
    weight_kg: float,
    age_y: float | None,
    ke0: float | None,
    patient: _Patient,
    rates_mg_h: FloatArray,
    states: FloatArray,
    interval_s: float,
    duration_min: float,
) -> TciResult:
    """The result of `_plan`: concentrations at every update are read off its exact states."""
    segments = _schedule(rates_mg_h, interval_s, duration_min)
    t = np.minimum(np.arange(len(states)) * (interval_s / 60.0), duration_min)
    ce = None if patient.ce is None else states @ patient.ce
    prediction = Prediction(
        pk.key, float(weight_kg), t, states @ patient.cp, ce, check_patient(pk, weight_kg, age_y), ke0
    )
    total = float(sum(s.rate_mg_h * (s.end_min - s.start_min) for s in segments) / 60.0)
    return TciResult(segments, total, prediction)


def _horizon(patient: _Patient, coef: FloatArray, on_min: float) -> FloatArray:
    """A 1-s grid long enough to hold the peak of the site's response to one interval of infusion."""
    fine = np.arange(1, int(_HORIZON_CAP_MIN * 60) + 1) / 60.0
    unit = coef @ patient.unit_states(fine, on_min)
    t_peak = float(fine[int(np.argmax(unit))])
    end = min(_HORIZON_CAP_MIN, max(3.0 * t_peak, t_peak + 5.0, on_min))
    return fine[fine <= end]


def _plan(
    patient: _Patient,
    target_ng_ml: float,
    duration_min: float,
    interval_s: float,
    max_rate_mg_h: float | None,
    site: Site,
    plasma_cap_ng_ml: float | None,
) -> tuple[FloatArray, FloatArray]:
    """Rates (mg/h) for each update interval, and the exponential states at every interval boundary."""
    dt = interval_s / 60.0
    steps = math.ceil(duration_min / dt - 1e-9)
    r_max = math.inf if max_rate_mg_h is None else max_rate_mg_h / 60.0
    decay = np.exp(-patient.r * dt)
    gain = (1.0 - decay) / patient.r
    u = np.zeros_like(patient.r)
    rates = np.empty(steps)
    # limits: every (coef, target, tau grid) pair must stay <= target over its grid
    limits: list[tuple[FloatArray, float, FloatArray, FloatArray]] = []
    if site == "effect" and patient.ce is not None:
        tau = _horizon(patient, patient.ce, dt)
        limits.append(
            (
                patient.ce,
                target_ng_ml,
                np.exp(-patient.r[:, None] * tau),
                patient.ce @ patient.unit_states(tau, dt),
            )
        )
    else:
        tau = np.array([dt])
        limits.append((patient.cp, target_ng_ml, decay[:, None], np.array([patient.cp @ gain])))
    if plasma_cap_ng_ml is not None:
        tau = _horizon(patient, patient.cp, dt)
        limits.append(
            (
                patient.cp,
                plasma_cap_ng_ml,
                np.exp(-patient.r[:, None] * tau),
                patient.cp @ patient.unit_states(tau, dt),
            )
        )
    states = np.zeros((steps + 1, len(u)))
    for k in range(steps):
        rate = r_max
        for coef, level, decays, unit in limits:
            free = (coef * u) @ decays
            positive = unit > 0
            # Shafer & Gregg: the largest rate whose predicted peak does not pass the target
            rate = min(rate, float(np.min((level - free[positive]) / unit[positive])))
        # below 1e-9 mg/h is rounding noise, not a pump rate: keep it from splitting segments
        rate = rate if rate * 60.0 > 1e-9 else 0.0
        rates[k] = rate * 60.0
        h = min(dt, duration_min - k * dt)
        if h < dt:  # the last interval is cut at the end of the plan
            u = rate / patient.r + (u - rate / patient.r) * np.exp(-patient.r * h)
        else:
            u = u * decay + rate * gain
        states[k + 1] = u
    return rates, states


def _schedule(rates_mg_h: FloatArray, interval_s: float, duration_min: float) -> tuple[RateSegment, ...]:
    dt = interval_s / 60.0
    starts = np.arange(len(rates_mg_h), dtype=np.float64) * dt
    ends = np.minimum(np.append(starts[1:], duration_min), duration_min)  # exact tiling
    return merge_segments(starts, ends, rates_mg_h)


def tci_plasma(
    model: str | PKModel,
    weight_kg: float,
    target_ng_ml: float,
    duration_min: float,
    *,
    interval_s: float = 10.0,
    max_rate_mg_h: float | None = None,
    ke0_per_min: float | None = None,
    age_y: float | None = None,
) -> TciResult:
    """Plasma targeting (Jacobs 1990): each interval, the rate that puts Cp on target at its end.

    Examples
    --------
    >>> res = tci_plasma("domino1984", 70, 120, 60)
    >>> round(float(res.prediction.cp_ng_ml[-1]), 6)
    120.0
    """
    _validate(weight_kg, target_ng_ml, duration_min, interval_s, max_rate_mg_h)
    pk, ke0, patient = _setup(model, weight_kg, ke0_per_min, need_ke0=False)
    rates, states = _plan(patient, target_ng_ml, duration_min, interval_s, max_rate_mg_h, "plasma", None)
    return _planned(pk, weight_kg, age_y, ke0, patient, rates, states, interval_s, duration_min)


def tci_effect(
    model: str | PKModel,
    weight_kg: float,
    target_ng_ml: float,
    duration_min: float,
    *,
    interval_s: float = 10.0,
    max_rate_mg_h: float | None = None,
    ke0_per_min: float | None = None,
    max_plasma_ng_ml: float | None = None,
    age_y: float | None = None,
) -> TciResult:
    """Effect-site targeting (Shafer & Gregg 1992): each interval's rate makes the peak Ce equal the target.

    `max_plasma_ng_ml` optionally caps the plasma overshoot the plan may cause.

    Examples
    --------
    >>> res = tci_effect("domino1984", 70, 120, 60)
    >>> round(res.segments[0].rate_mg_h, 1), round(res.segments[0].end_min * 60)  # mg/h, s
    (1711.5, 10)
    >>> round(float(res.prediction.ce_ng_ml.max()), 2)
    119.99
    """
    _validate(weight_kg, target_ng_ml, duration_min, interval_s, max_rate_mg_h)
    if max_plasma_ng_ml is not None and not max_plasma_ng_ml >= target_ng_ml:
        raise InputError("the plasma cap must be >= the target", field="max_plasma_ng_ml")
    check_patient(resolve_model(model), weight_kg, age_y)
    pk, ke0, patient = _setup(model, weight_kg, ke0_per_min, need_ke0=True)
    rates, states = _plan(
        patient, target_ng_ml, duration_min, interval_s, max_rate_mg_h, "effect", max_plasma_ng_ml
    )
    return _planned(pk, weight_kg, age_y, ke0, patient, rates, states, interval_s, duration_min)


def practical_schedule(
    model: str | PKModel,
    weight_kg: float,
    target_ng_ml: float,
    duration_min: float,
    *,
    site: Site = "plasma",
    hold_min: float = 15.0,
    tolerance_pct: float = 10.0,
    interval_s: float = 10.0,
    max_rate_mg_h: float | None = None,
    ke0_per_min: float | None = None,
    age_y: float | None = None,
) -> PracticalResult:
    """A plan a nurse can run: the TCI loading interval, then rates held for `hold_min` minutes each.

    Steps: (1) the first update interval of the exact TCI plan is the loading dose; (2) loading ends
    when the exact plan first brings the site within `tolerance_pct` of target; (3) for each hold
    block, the constant rate minimising the largest relative deviation from target over the block
    (checked every `interval_s`, from the end of loading) is chosen; (4) the achieved maximum
    deviation after loading is reported (it may exceed the tolerance: see `within_tolerance`).
    """
    if not (math.isfinite(hold_min) and hold_min > 0):
        raise InputError(f"hold must be > 0 min, got {hold_min}", field="hold_min")
    if not (math.isfinite(tolerance_pct) and tolerance_pct > 0):
        raise InputError(f"tolerance must be > 0 %, got {tolerance_pct}", field="tolerance_pct")
    planner = tci_effect if site == "effect" else tci_plasma
    exact = planner(
        model,
        weight_kg,
        target_ng_ml,
        duration_min,
        interval_s=interval_s,
        max_rate_mg_h=max_rate_mg_h,
        ke0_per_min=ke0_per_min,
        age_y=age_y,
    )
    pk, ke0, patient = _setup(model, weight_kg, ke0_per_min, need_ke0=site == "effect")
    coef = patient.ce if site == "effect" and patient.ce is not None else patient.cp
    exact_site = exact.prediction.ce_ng_ml if site == "effect" else exact.prediction.cp_ng_ml
    assert exact_site is not None  # tci_effect always has a ke0
    near = np.abs(exact_site - target_ng_ml) <= tolerance_pct / 100.0 * target_ng_ml
    loading_end = float(exact.prediction.t_min[int(np.argmax(near))]) if near.any() else duration_min
    dt = interval_s / 60.0
    first = exact.segments[0]
    load_end = min(dt, duration_min)
    starts, ends, rates = [0.0], [load_end], [first.rate_mg_h]
    u = (first.rate_mg_h / 60.0) * (1.0 - np.exp(-patient.r * load_end)) / patient.r
    from scipy.optimize import minimize_scalar  # on first use: SciPy costs a command's start-up ~0.3 s

    r_max = math.inf if max_rate_mg_h is None else max_rate_mg_h / 60.0
    start = load_end
    while start < duration_min - 1e-9:
        end = min(start + hold_min, duration_min)
        tau = np.arange(1, max(1, round((end - start) / dt)) + 1, dtype=np.float64) * dt
        tau = tau[tau <= end - start + 1e-9]
        checked = start + tau >= loading_end - 1e-9
        if not checked.any():
            checked[-1] = True
        free = (coef * u) @ np.exp(-patient.r[:, None] * tau[checked][None, :])
        unit = coef @ patient.unit_states(tau[checked], end - start)
        upper = min(r_max, max(0.0, float(np.max((target_ng_ml * 2.0 - free) / np.maximum(unit, 1e-300)))))

        def worst(rate: float, free: FloatArray = free, unit: FloatArray = unit) -> float:
            return float(np.max(np.abs(free + rate * unit - target_ng_ml)))

        best = float(minimize_scalar(worst, bounds=(0.0, upper), method="bounded", options={"xatol": 1e-9}).x)
        starts.append(start)
        ends.append(end)
        rates.append(best * 60.0)
        u = best / patient.r + (u - best / patient.r) * np.exp(-patient.r * (end - start))
        start = end
    segments = merge_segments(np.array(starts), np.array(ends), np.array(rates))
    result = _result(pk, weight_kg, age_y, ke0, segments, duration_min, interval_s)
    achieved = result.prediction.ce_ng_ml if site == "effect" else result.prediction.cp_ng_ml
    assert achieved is not None
    after = result.prediction.t_min >= loading_end - 1e-9
    deviation = (
        float(np.max(np.abs(achieved[after] - target_ng_ml)) / target_ng_ml * 100.0) if after.any() else 0.0
    )
    return PracticalResult(
        segments, result.total_mg, result.prediction, hold_min, loading_end, deviation, tolerance_pct
    )
