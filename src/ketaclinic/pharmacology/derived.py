"""Quantities derived from a prediction or a model: peak, time in a band, AUC, steady state, CSHT."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ketaclinic.errors import InputError
from ketaclinic.pharmacology.engine import disposition
from ketaclinic.pharmacology.models import PKModel, resolve_model
from ketaclinic.pharmacology.simulate import Prediction


def _pair(
    t_min: npt.ArrayLike, conc: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    t = np.asarray(t_min, dtype=np.float64)
    c = np.asarray(conc, dtype=np.float64)
    if t.ndim != 1 or t.shape != c.shape or t.size == 0:
        raise InputError(
            "times and concentrations must be 1-D arrays of equal non-zero length", field="times"
        )
    if np.any(np.diff(t) < 0):
        raise InputError("times must be sorted in increasing order", field="times")
    return t, c


def peak(prediction: Prediction, *, site: str = "plasma") -> tuple[float, float]:
    """(t_min, concentration ng/mL) of the highest grid point, plasma or effect site.

    Examples
    --------
    >>> from ketaclinic.pharmacology import Bolus, Regimen, simulate
    >>> p = simulate("domino1984", 70, Regimen(boluses=(Bolus(0, 35),)), [0.5 * i for i in range(20)])
    >>> peak(p)[0], peak(p, site="effect")[0]
    (0.0, 1.5)
    """
    conc = prediction.cp_ng_ml if site == "plasma" else prediction.ce_ng_ml
    if conc is None or site not in ("plasma", "effect"):
        raise InputError(f"no {site} concentrations in this prediction", field="site")
    i = int(np.argmax(conc))
    return float(prediction.t_min[i]), float(conc[i])


def minutes_within(t_min: npt.ArrayLike, conc: npt.ArrayLike, low: float, high: float) -> float:
    """Minutes with low <= C <= high, C linear between grid points (crossings interpolated)."""
    t, c = _pair(t_min, conc)
    if not low <= high:
        raise InputError(f"band needs low <= high, got {low}-{high}", field="band")
    a, b = c[:-1], c[1:]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    overlap = np.clip(np.minimum(hi, high) - np.maximum(lo, low), 0.0, None)
    flat = (lo >= low) & (lo <= high)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(hi > lo, overlap / np.where(hi > lo, hi - lo, 1.0), flat.astype(np.float64))
    return float(np.sum(np.diff(t) * fraction))


def minutes_above(t_min: npt.ArrayLike, conc: npt.ArrayLike, threshold: float) -> float:
    """Minutes with C >= threshold."""
    return minutes_within(t_min, conc, threshold, math.inf)


def minutes_below(t_min: npt.ArrayLike, conc: npt.ArrayLike, threshold: float) -> float:
    """Minutes with C <= threshold."""
    return minutes_within(t_min, conc, -math.inf, threshold)


def auc(t_min: npt.ArrayLike, conc: npt.ArrayLike) -> float:
    """Area under the curve by the trapezoidal rule (ng/mL x min); exact to O(dt^2) on the grid."""
    t, c = _pair(t_min, conc)
    return float(np.sum(np.diff(t) * (c[:-1] + c[1:]) / 2.0))


def steady_state_cp_ng_ml(model: str | PKModel, weight_kg: float, rate_mg_h: float) -> float:
    """The plasma concentration a constant rate tends to: rate / CL.

    Examples
    --------
    >>> round(steady_state_cp_ng_ml("domino1984", 70, 35), 1)
    302.0
    """
    pk = resolve_model(model)
    if not weight_kg > 0 or not rate_mg_h >= 0:
        raise InputError("needs weight > 0 kg and rate >= 0 mg/h", field="rate_mg_h")
    return rate_mg_h / 60.0 / pk.clearance_l_min(weight_kg) * 1000.0


def context_sensitive_half_time_min(model: str | PKModel, weight_kg: float, infusion_min: float) -> float:
    """Minutes for Cp to halve after stopping a constant infusion that ran `infusion_min` (Hughes 1992)."""
    pk = resolve_model(model)
    if not weight_kg > 0 or not infusion_min > 0:
        raise InputError("needs weight > 0 kg and an infusion duration > 0 min", field="infusion_min")
    d = disposition(pk, np.array([float(weight_kg)]))
    r, coef = d.rates_per_min[0], d.cp_coef[0]
    state = (1.0 - np.exp(-r * infusion_min)) / r  # unit-rate states when the infusion stops

    def excess(tau: float) -> float:
        return float(np.sum(coef * state * np.exp(-r * tau))) - 0.5 * float(np.sum(coef * state))

    from scipy.optimize import brentq  # on first use: SciPy costs a command's start-up ~0.3 s

    upper = 1.0
    while excess(upper) > 0:
        upper *= 2.0
    return float(brentq(excess, 0.0, upper, xtol=1e-9))


def ke0_from_t_peak(model: str | PKModel, weight_kg: float, t_peak_min: float) -> float:
    """The ke0 (1/min) whose effect site peaks `t_peak_min` after a bolus (for models without one).

    Examples
    --------
    >>> round(ke0_from_t_peak("domino1984", 70, 1.6), 2)  # reference: ke0 0.238 gives t_peak ~1.6 min
    0.24
    """
    from scipy.optimize import brentq  # on first use: SciPy costs a command's start-up ~0.3 s

    pk = resolve_model(model)
    if not weight_kg > 0 or not (math.isfinite(t_peak_min) and t_peak_min > 0):
        raise InputError("needs weight > 0 kg and a time to peak effect > 0 min", field="t_peak_min")
    cp_disp = disposition(pk, np.array([float(weight_kg)]))
    lam, a = cp_disp.rates_per_min[0], cp_disp.cp_coef[0]

    def t_peak(ke0: float) -> float:
        b = a * ke0 / (ke0 - lam)

        def slope(t: float) -> float:  # Cp - Ce, zero at the Ce peak
            ce = float(np.sum(b * (np.exp(-lam * t) - np.exp(-ke0 * t))))
            return float(np.sum(a * np.exp(-lam * t))) - ce

        upper = 1e-3
        while slope(upper) > 0:
            upper *= 2.0
        return float(brentq(slope, upper / 2 if upper > 1e-3 else 0.0, upper, xtol=1e-12))

    low, high = 1e-4, 1e3
    if not t_peak(high) < t_peak_min < t_peak(low):
        raise InputError(f"no ke0 gives a peak at {t_peak_min} min for {pk.key}", field="t_peak_min")
    # t_peak falls as ke0 rises; solve on log ke0 for even steps across decades
    return math.exp(
        brentq(lambda x: t_peak(math.exp(x)) - t_peak_min, math.log(low), math.log(high), xtol=1e-12)
    )
