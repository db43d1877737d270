"""PK explorer use case: simulate a free regimen for a weight (no patient data, nothing stored)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ketaclinic.dosing.bounds import MAX_WEIGHT_KG, MIN_WEIGHT_KG
from ketaclinic.dosing.pump import rate_mg_h_from_per_kg
from ketaclinic.errors import InputError
from ketaclinic.pharmacology import (
    Bolus,
    Infusion,
    Prediction,
    Regimen,
    concentration_bands,
    get_model,
    minutes_within,
    peak,
    simulate,
)
from ketaclinic.services.permissions import Actor, Permission, require

MAX_POINTS = 20_000
BAND_KEYS = ("analgesic", "dissociative")


class BolusIn(BaseModel):
    """A bolus at `t_min` minutes from the start."""

    model_config = ConfigDict(extra="forbid")
    t_min: float = Field(ge=0, le=100_000)
    dose_mg: float = Field(ge=0, le=10_000)


class InfusionIn(BaseModel):
    """A constant rate from start_min to end_min, in mg/h or mg/kg/h (exactly one)."""

    model_config = ConfigDict(extra="forbid")
    start_min: float = Field(ge=0, le=100_000)
    end_min: float = Field(gt=0, le=100_000)
    rate_mg_h: float | None = Field(default=None, ge=0, le=10_000)
    rate_mg_kg_h: float | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _one_rate(self) -> InfusionIn:
        if (self.rate_mg_h is None) == (self.rate_mg_kg_h is None):
            raise ValueError("give exactly one of rate_mg_h and rate_mg_kg_h")
        if self.end_min <= self.start_min:
            raise ValueError("end_min must be after start_min")
        return self


class SimulateIn(BaseModel):
    """A PK simulation request: model, patient, regimen and the time grid (times, or until_min + step_s)."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=40)
    weight_kg: float = Field(ge=MIN_WEIGHT_KG, le=MAX_WEIGHT_KG)
    age_y: float | None = Field(default=None, ge=0, le=130)
    boluses: list[BolusIn] = Field(default_factory=list, max_length=100)
    infusions: list[InfusionIn] = Field(default_factory=list, max_length=100)
    times: list[float] | None = Field(default=None, max_length=MAX_POINTS + 1)
    until_min: float | None = Field(default=None, gt=0, le=100_000)
    step_s: float | None = Field(default=None, gt=0, le=86_400)
    ke0: float | None = Field(default=None, gt=0, le=100)

    @model_validator(mode="after")
    def _grid(self) -> SimulateIn:
        try:
            check_grid_choice(self.times, self.until_min, self.step_s)
        except InputError as exc:  # a model-level error: the API names the whole body, as before
            raise ValueError(exc.message) from None
        return self


class GridNames(NamedTuple):
    """How a caller spells the grid's inputs in its messages; the error's field drops leading dashes."""

    times: str
    until: str
    step: str


API_GRID = GridNames("times", "until_min", "step_s")


def _field(name: str) -> str:
    return name.lstrip("-").replace("-", "_")


def check_grid_choice(
    times: Sequence[float] | str | None,
    until_min: float | None,
    step_s: float | None,
    names: GridNames = API_GRID,
) -> None:
    """Exactly one way to ask for a grid: explicit times, or until and step together."""
    if times is not None and (until_min is not None or step_s is not None):
        raise InputError(
            f"give either {names.times} or {names.until} with {names.step}, not both",
            field=_field(names.times),
        )
    if times is None and (until_min is None or step_s is None):
        raise InputError(f"give {names.times}, or {names.until} and {names.step}", field=_field(names.times))


def minutes_grid(
    times: Sequence[float] | None,
    until_min: float | None,
    step_s: float | None,
    *,
    max_points: int = MAX_POINTS,
    names: GridNames = API_GRID,
) -> npt.NDArray[np.float64]:
    """The simulation times (min): as given, or 0 to until_min every step_s (until_min always included).

    The one time-grid parser of the API, the PK page and the CLI; each passes its own spelling and
    point limit, and more than `max_points` is bad input naming the fix.
    """
    check_grid_choice(times, until_min, step_s, names)
    if times is not None:
        if len(times) > max_points:
            raise InputError(
                f"too many times ({len(times)}); at most {max_points}", field=_field(names.times)
            )
        if not times:
            raise InputError(f"{names.times} is empty", field=_field(names.times))
        return np.array(times, dtype=np.float64)
    assert until_min is not None and step_s is not None  # guaranteed by check_grid_choice
    if not (until_min > 0 and step_s > 0):  # NaN lands here too
        raise InputError(f"{names.until} and {names.step} must be > 0", field=_field(names.until))
    if not (math.isfinite(until_min) and math.isfinite(step_s)):
        raise InputError(f"{names.until} and {names.step} must be finite", field=_field(names.until))
    steps = until_min * 60.0 / step_s + 1e-9  # inf for a step of 1e-305 s: too many, not an overflow
    if not steps < max_points:
        requested = math.floor(steps) + 1 if math.isfinite(steps) else "too many"
        raise InputError(
            f"{requested} points requested ({names.until} {until_min:g} at {names.step} {step_s:g}); "
            f"at most {max_points}: raise {names.step}",
            field=_field(names.step),
        )
    count = math.floor(steps) + 1
    t = np.arange(count, dtype=np.float64) * (step_s / 60.0)
    return t if t[-1] >= until_min - 1e-12 else np.append(t, np.float64(until_min))


def time_grid(data: SimulateIn) -> npt.NDArray[np.float64]:
    """The requested times; more than MAX_POINTS is bad input naming the fix."""
    return minutes_grid(data.times, data.until_min, data.step_s)


def regimen_of(data: SimulateIn) -> Regimen:
    """The pure Regimen (per-kg rates converted with the given weight)."""
    return Regimen(
        boluses=tuple(Bolus(b.t_min, b.dose_mg) for b in data.boluses),
        infusions=tuple(
            Infusion(
                i.start_min,
                i.end_min,
                i.rate_mg_h
                if i.rate_mg_h is not None
                else rate_mg_h_from_per_kg(i.rate_mg_kg_h or 0.0, data.weight_kg),
            )
            for i in data.infusions
        ),
    )


def run_simulation(actor: Actor, data: SimulateIn) -> Prediction:
    """Simulate the request (bad model, times or regimen are InputError/NotFoundError)."""
    require(actor, Permission.PK_EXPLORE)
    get_model(data.model)
    return simulate(
        data.model, data.weight_kg, regimen_of(data), time_grid(data), age_y=data.age_y, ke0_per_min=data.ke0
    )


def points(prediction: Prediction) -> list[dict[str, float]]:
    """One dict per time: t_min, cp_ng_ml and, when a ke0 is known, ce_ng_ml (the CLI's JSON rows)."""
    ce = prediction.ce_ng_ml
    return [
        {"t_min": t, "cp_ng_ml": cp} | ({} if ce is None else {"ce_ng_ml": float(ce[i])})
        for i, (t, cp) in enumerate(zip(prediction.t_min.tolist(), prediction.cp_ng_ml.tolist(), strict=True))
    ]


def simulation_json(prediction: Prediction) -> dict[str, Any]:
    """What the API answers: like `ketaclinic pk simulate --json`."""
    return {
        "model": prediction.model_key,
        "weight_kg": prediction.weight_kg,
        "warnings": list(prediction.warnings),
        "points": points(prediction),
    }


def chart_bands() -> list[dict[str, Any]]:
    """The analgesic and dissociative bands as the charts draw them (with source and status)."""
    return [
        {
            "key": b.key,
            "label": b.label,
            "low": b.low_ng_ml,
            "high": b.high_ng_ml,
            "source": b.source,
            "status": b.status.value,
        }
        for b in concentration_bands()
        if b.key in BAND_KEYS
    ]


def summary(prediction: Prediction) -> dict[str, Any]:
    """Peak Cp (and Ce) and minutes within each charted band."""
    t_peak, cp_peak = peak(prediction)
    ce = prediction.ce_ng_ml
    return {
        "peak_cp_ng_ml": cp_peak,
        "peak_cp_t_min": t_peak,
        "peak_ce_ng_ml": None if ce is None else float(np.max(ce)),
        "minutes_within": {
            b["key"]: minutes_within(prediction.t_min, prediction.cp_ng_ml, b["low"], b["high"])
            for b in chart_bands()
        },
    }
