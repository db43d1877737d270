"""The predicted plasma (and effect-site) concentration of one planned session path, and its summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ketaclinic.pharmacology import Infusion, Regimen, get_band, minutes_within, peak, simulate

_CURVE_POINTS = 241  # grid points per predicted session (JSON and summaries)
_TAIL_MIN = 60.0  # minutes predicted after the infusion ends (recovery)


class PlannedRate(Protocol):
    """What a prediction reads of a planned segment (a dosing.plan.Segment)."""

    @property
    def start_min(self) -> float: ...
    @property
    def end_min(self) -> float: ...
    @property
    def rate_mg_h(self) -> float: ...


@dataclass(frozen=True, slots=True)
class SessionPrediction:
    """Predicted plasma (and effect-site) concentration of one session path, and its summary."""

    model_key: str
    t_min: tuple[float, ...]
    cp_ng_ml: tuple[float, ...]
    ce_ng_ml: tuple[float, ...] | None
    peak_cp_ng_ml: float
    peak_cp_t_min: float
    peak_ce_ng_ml: float | None
    minutes_in_analgesic_window: float
    window_low_ng_ml: float
    window_high_ng_ml: float
    window_source: str
    warnings: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON values (the curve included)."""
        return {
            "model": self.model_key,
            "peak_cp_ng_ml": self.peak_cp_ng_ml,
            "peak_cp_t_min": self.peak_cp_t_min,
            "peak_ce_ng_ml": self.peak_ce_ng_ml,
            "minutes_in_analgesic_window": self.minutes_in_analgesic_window,
            "analgesic_window_ng_ml": [self.window_low_ng_ml, self.window_high_ng_ml],
            "analgesic_window_source": self.window_source,
            "warnings": list(self.warnings),
            "curve": {
                "t_min": list(self.t_min),
                "cp_ng_ml": list(self.cp_ng_ml),
                "ce_ng_ml": None if self.ce_ng_ml is None else list(self.ce_ng_ml),
            },
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> SessionPrediction:
        """The prediction back from `to_json_dict`."""
        curve = data["curve"]
        low, high = data["analgesic_window_ng_ml"]
        return cls(
            model_key=data["model"],
            t_min=tuple(curve["t_min"]),
            cp_ng_ml=tuple(curve["cp_ng_ml"]),
            ce_ng_ml=None if curve["ce_ng_ml"] is None else tuple(curve["ce_ng_ml"]),
            peak_cp_ng_ml=data["peak_cp_ng_ml"],
            peak_cp_t_min=data["peak_cp_t_min"],
            peak_ce_ng_ml=data["peak_ce_ng_ml"],
            minutes_in_analgesic_window=data["minutes_in_analgesic_window"],
            window_low_ng_ml=low,
            window_high_ng_ml=high,
            window_source=data["analgesic_window_source"],
            warnings=tuple(data["warnings"]),
        )


def predict_session(model_key: str, weight_kg: float, segments: Sequence[PlannedRate]) -> SessionPrediction:
    """Predicted Cp (and Ce) of one session path from zero drug, and the analgesic-window summary."""
    end = segments[-1].end_min
    t = np.linspace(0.0, end + _TAIL_MIN, _CURVE_POINTS)
    regimen = Regimen(
        infusions=tuple(Infusion(s.start_min, s.end_min, s.rate_mg_h) for s in segments if s.rate_mg_h > 0)
    )
    prediction = simulate(model_key, weight_kg, regimen, t)
    band = get_band("analgesic")
    t_peak, cp_peak = peak(prediction)
    ce = prediction.ce_ng_ml
    return SessionPrediction(
        model_key=prediction.model_key,
        t_min=tuple(float(x) for x in prediction.t_min),
        cp_ng_ml=tuple(float(x) for x in prediction.cp_ng_ml),
        ce_ng_ml=None if ce is None else tuple(float(x) for x in ce),
        peak_cp_ng_ml=cp_peak,
        peak_cp_t_min=t_peak,
        peak_ce_ng_ml=None if ce is None else float(np.max(ce)),
        minutes_in_analgesic_window=minutes_within(
            prediction.t_min, prediction.cp_ng_ml, band.low_ng_ml, band.high_ng_ml
        ),
        window_low_ng_ml=band.low_ng_ml,
        window_high_ng_ml=band.high_ng_ml,
        window_source=band.source,
        warnings=tuple(prediction.warnings),
    )
