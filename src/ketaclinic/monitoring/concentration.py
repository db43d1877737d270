"""Predicted plasma concentration from the rate segments actually charted (PK: ketaclinic.pharmacology)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from ketaclinic.errors import InputError
from ketaclinic.pharmacology import Bolus, Infusion, Regimen, simulate


class ChartedPrediction(BaseModel):
    """Cp (and Ce when the model has a ke0) up to `until_min`, plus a projection to the plan's end."""

    model_config = ConfigDict(frozen=True)

    model_key: str
    weight_kg: float
    t_min: list[float]
    cp_ng_ml: list[float]
    ce_ng_ml: list[float] | None
    peak_cp_ng_ml: float
    t_peak_min: float
    projected_t_min: list[float]
    projected_cp_ng_ml: list[float]
    warnings: list[str]


def clip_segments(segments: Sequence[Infusion], until_min: float) -> tuple[Infusion, ...]:
    """The part of each segment delivered before `until_min` (a running segment is cut at `until_min`)."""
    return tuple(
        Infusion(seg.start_min, min(seg.end_min, until_min), seg.rate_mg_h)
        for seg in segments
        if seg.start_min < until_min
    )


def _future(planned: Sequence[Infusion], from_min: float) -> tuple[Infusion, ...]:
    """The part of each planned segment still to come after `from_min`."""
    return tuple(
        Infusion(max(seg.start_min, from_min), seg.end_min, seg.rate_mg_h)
        for seg in planned
        if seg.end_min > from_min
    )


def _grid(
    start_min: float, end_min: float, step_min: float, extra: Sequence[float]
) -> npt.NDArray[np.float64]:
    """Regular grid from start to end inclusive, plus the rate-change times inside it (so peaks are exact)."""
    n = math.floor((end_min - start_min) / step_min + 1e-9)
    points = {start_min + i * step_min for i in range(n + 1)} | {end_min}
    points |= {t for t in extra if start_min <= t <= end_min}
    return np.array(sorted(points), dtype=np.float64)


def _check_until(until_min: float, step_min: float) -> None:
    if not math.isfinite(until_min) or until_min < 0:
        raise InputError(f"{until_min!r} must be a finite number of minutes >= 0", field="until_min")
    if not math.isfinite(step_min) or step_min <= 0:
        raise InputError(f"{step_min!r} must be a positive number of minutes", field="step_min")


def predicted_cp_at(
    model_key: str,
    weight_kg: float,
    segments: Sequence[Infusion],
    t_min: float,
    *,
    boluses: Sequence[Bolus] = (),
) -> float:
    """Predicted Cp (ng/mL) at `t_min` from what was charted up to then (e.g. at adverse-event onset)."""
    if not math.isfinite(t_min) or t_min < 0:
        raise InputError(f"{t_min!r} must be a finite number of minutes >= 0", field="t_min")
    regimen = Regimen(
        boluses=tuple(b for b in boluses if b.t_min <= t_min), infusions=clip_segments(segments, t_min)
    )
    return float(simulate(model_key, weight_kg, regimen, [t_min]).cp_ng_ml[0])


def charted_prediction(
    model_key: str,
    weight_kg: float,
    segments: Sequence[Infusion],
    until_min: float,
    step_min: float = 1.0,
    *,
    planned_segments: Sequence[Infusion] | None = None,
    planned_end_min: float | None = None,
    boluses: Sequence[Bolus] = (),
) -> ChartedPrediction:
    """Cp from the charted segments on 0..`until_min`; with `planned_segments`, a projection to the end.

    The projection keeps what was charted up to `until_min` and adds the rest of the plan after it.
    The planned end is `planned_end_min`, else the end of the last planned segment.
    """
    _check_until(until_min, step_min)
    charted = clip_segments(segments, until_min)
    given = tuple(b for b in boluses if b.t_min <= until_min)
    changes = [t for seg in charted for t in (seg.start_min, seg.end_min)]
    grid = _grid(0.0, until_min, step_min, changes)
    prediction = simulate(model_key, weight_kg, Regimen(boluses=given, infusions=charted), grid)
    i_peak = int(np.argmax(prediction.cp_ng_ml))

    projected_t: list[float] = []
    projected_cp: list[float] = []
    if planned_segments:
        end = planned_end_min if planned_end_min is not None else max(seg.end_min for seg in planned_segments)
        if end > until_min:
            future = _future(planned_segments, until_min)
            future_changes = [t for seg in future for t in (seg.start_min, seg.end_min)]
            future_grid = _grid(until_min, end, step_min, future_changes)
            projection = simulate(
                model_key, weight_kg, Regimen(boluses=given, infusions=charted + future), future_grid
            )
            projected_t = projection.t_min.tolist()
            projected_cp = projection.cp_ng_ml.tolist()

    return ChartedPrediction(
        model_key=prediction.model_key,
        weight_kg=float(weight_kg),
        t_min=prediction.t_min.tolist(),
        cp_ng_ml=prediction.cp_ng_ml.tolist(),
        ce_ng_ml=None if prediction.ce_ng_ml is None else prediction.ce_ng_ml.tolist(),
        peak_cp_ng_ml=float(prediction.cp_ng_ml[i_peak]),
        t_peak_min=float(prediction.t_min[i_peak]),
        projected_t_min=projected_t,
        projected_cp_ng_ml=projected_cp,
        warnings=list(prediction.warnings),
    )


def minute_cp_falls_below(
    model_key: str,
    weight_kg: float,
    segments: Sequence[Infusion],
    end_min: float,
    threshold_ng_ml: float,
    *,
    boluses: Sequence[Bolus] = (),
    horizon_min: float = 24 * 60.0,
    step_min: float = 1.0,
) -> float | None:
    """Minute (from the start) after `end_min` from which predicted Cp stays below the threshold.

    Nothing is given after `end_min`. The grid is searched for the last crossing from above and the
    time interpolated linearly within that step; None when Cp is still above it at the horizon.
    """
    _check_until(end_min, step_min)
    given = Regimen(
        boluses=tuple(b for b in boluses if b.t_min <= end_min), infusions=clip_segments(segments, end_min)
    )
    grid = _grid(end_min, end_min + horizon_min, step_min, ())
    cp = simulate(model_key, weight_kg, given, grid).cp_ng_ml
    above = np.flatnonzero(cp >= threshold_ng_ml)
    if above.size == 0:
        return float(end_min)
    last = int(above[-1])
    if last == len(grid) - 1:
        return None
    t0, t1, c0, c1 = float(grid[last]), float(grid[last + 1]), float(cp[last]), float(cp[last + 1])
    return t0 + (t1 - t0) * (c0 - threshold_ng_ml) / (c0 - c1)
