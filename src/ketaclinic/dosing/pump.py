"""Pump arithmetic, the one place it lives: mg/h <-> mL/h <-> mg/kg/h, volumes and durations."""

from __future__ import annotations

import math
from decimal import Decimal

from ketaclinic.dosing.bounds import MAX_WEIGHT_KG, MIN_WEIGHT_KG
from ketaclinic.errors import InputError

DEFAULT_RESOLUTION_ML_H = 0.1  # used only for plans stored before the library named a resolution
MAX_RESOLUTION_ML_H = 10.0


def require_weight(weight_kg: float, *, field: str = "weight_kg") -> float:
    """A body weight in [MIN_WEIGHT_KG, MAX_WEIGHT_KG] (1-400 kg), else InputError.

    Examples
    --------
    >>> require_weight(70.0)
    70.0
    >>> require_weight(0.0)
    Traceback (most recent call last):
    ...
    ketaclinic.errors.InputError: weight_kg: weight 0.0 kg is outside [1, 400] kg
    """
    if not math.isfinite(weight_kg) or not MIN_WEIGHT_KG <= weight_kg <= MAX_WEIGHT_KG:
        raise InputError(
            f"weight {weight_kg} kg is outside [{MIN_WEIGHT_KG:g}, {MAX_WEIGHT_KG:g}] kg", field=field
        )
    return weight_kg


def require_non_negative(value: float, *, field: str) -> float:
    """A finite value >= 0, else InputError naming `field`."""
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{value} must be a finite number >= 0", field=field)
    return value


def require_concentration(concentration_mg_ml: float) -> float:
    """A finite concentration > 0 mg/mL."""
    if not math.isfinite(concentration_mg_ml) or concentration_mg_ml <= 0:
        raise InputError(
            f"concentration {concentration_mg_ml} mg/mL must be > 0", field="concentration_mg_ml"
        )
    return concentration_mg_ml


def pump_ml_h(rate_mg_h: float, concentration_mg_ml: float) -> float:
    """Pump rate (mL/h) that delivers `rate_mg_h` at this concentration.

    Examples
    --------
    >>> pump_ml_h(35.0, 2.0)  # 35 mg/h of a 2 mg/mL bag
    17.5
    """
    require_non_negative(rate_mg_h, field="rate_mg_h")
    return rate_mg_h / require_concentration(concentration_mg_ml)


def rate_mg_h_from_pump(pump_ml_h: float, concentration_mg_ml: float) -> float:
    """Drug rate (mg/h) that a pump running at `pump_ml_h` delivers.

    Examples
    --------
    >>> rate_mg_h_from_pump(30.0, 1.0)
    30.0
    """
    require_non_negative(pump_ml_h, field="pump_ml_h")
    return pump_ml_h * require_concentration(concentration_mg_ml)


def rate_mg_h_from_per_kg(rate_mg_kg_h: float, weight_kg: float) -> float:
    """Absolute rate (mg/h) of a weight-based rate.

    Examples
    --------
    >>> rate_mg_h_from_per_kg(0.5, 70.0)  # 0.5 mg/kg/h for 70 kg
    35.0
    """
    require_non_negative(rate_mg_kg_h, field="rate_mg_kg_h")
    return rate_mg_kg_h * require_weight(weight_kg)


def rate_mg_kg_h(rate_mg_h: float, weight_kg: float) -> float:
    """Weight-based rate (mg/kg/h) of an absolute rate.

    Examples
    --------
    >>> rate_mg_kg_h(40.0, 80.0)
    0.5
    """
    require_non_negative(rate_mg_h, field="rate_mg_h")
    return rate_mg_h / require_weight(weight_kg)


def rate_mg_kg_h_from_ug_kg_min(rate_ug_kg_min: float) -> float:
    """ug/kg/min (a common pump unit) to mg/kg/h: x 60 min/h / 1000 ug/mg.

    Examples
    --------
    >>> rate_mg_kg_h_from_ug_kg_min(5.0)
    0.3
    """
    require_non_negative(rate_ug_kg_min, field="rate_ug_kg_min")
    return rate_ug_kg_min * 60.0 / 1000.0


def dose_mg_from_per_kg(dose_mg_kg: float, weight_kg: float) -> float:
    """Absolute dose (mg) of a weight-based dose.

    Examples
    --------
    >>> dose_mg_from_per_kg(0.3, 80.0)
    24.0
    """
    require_non_negative(dose_mg_kg, field="dose_mg_kg")
    return dose_mg_kg * require_weight(weight_kg)


def mg_delivered(rate_mg_h: float, duration_min: float) -> float:
    """Drug delivered (mg) at `rate_mg_h` for `duration_min` minutes.

    Examples
    --------
    >>> mg_delivered(40.0, 45.0)
    30.0
    """
    require_non_negative(duration_min, field="duration_min")
    return require_non_negative(rate_mg_h, field="rate_mg_h") * duration_min / 60.0


def rate_mg_h_for_dose(dose_mg: float, duration_min: float) -> float:
    """Constant rate (mg/h) that gives `dose_mg` over `duration_min` minutes.

    Examples
    --------
    >>> rate_mg_h_for_dose(150.0, 120.0)  # 150 mg over 2 h
    75.0
    """
    require_non_negative(dose_mg, field="dose_mg")
    if not math.isfinite(duration_min) or duration_min <= 0:
        raise InputError(f"duration {duration_min} min must be > 0", field="duration_min")
    return dose_mg * 60.0 / duration_min


def volume_ml(dose_mg: float, concentration_mg_ml: float) -> float:
    """Volume (mL) that holds `dose_mg` at this concentration.

    Examples
    --------
    >>> volume_ml(150.0, 2.0)
    75.0
    """
    require_non_negative(dose_mg, field="dose_mg")
    return dose_mg / require_concentration(concentration_mg_ml)


def minutes_per_container(container_ml: float, pump_ml_h: float) -> float | None:
    """Minutes until a bag or syringe of `container_ml` runs empty at `pump_ml_h` (None when stopped).

    Examples
    --------
    >>> minutes_per_container(250.0, 40.0)
    375.0
    >>> minutes_per_container(250.0, 0.0) is None
    True
    """
    require_non_negative(container_ml, field="volume_ml")
    if require_non_negative(pump_ml_h, field="pump_ml_h") == 0:
        return None
    return container_ml / pump_ml_h * 60.0


def resolution_decimals(resolution_ml_h: float) -> int:
    """Decimal places a pump of this resolution shows (0.1 -> 1, 0.05 -> 2, 1 -> 0).

    Examples
    --------
    >>> resolution_decimals(0.1), resolution_decimals(0.05), resolution_decimals(1.0)
    (1, 2, 0)
    """
    exponent = Decimal(repr(require_resolution(resolution_ml_h))).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def require_resolution(resolution_ml_h: float) -> float:
    """A pump resolution in (0, 10] mL/h with at most 3 decimal places, else InputError."""
    valid = math.isfinite(resolution_ml_h) and 0 < resolution_ml_h <= MAX_RESOLUTION_ML_H
    if not valid or round(resolution_ml_h, 3) != resolution_ml_h:
        raise InputError(
            f"pump resolution {resolution_ml_h} mL/h must be > 0 and <= {MAX_RESOLUTION_ML_H:g} mL/h "
            "with at most 3 decimal places",
            field="pump_resolution_ml_h",
        )
    return resolution_ml_h


def programmable_pump_ml_h(pump_ml_h: float, resolution_ml_h: float) -> float:
    """The rate the pump is set to: `pump_ml_h` rounded DOWN to the pump's resolution.

    Down is the safe direction for rates whose hard limits are maxima: the programmed rate never
    exceeds the rate that was computed (within float noise of 1e-12), so it never exceeds a limit that
    rate passed. A positive rate that rounds to zero is bad input, not a silent stop.

    Examples
    --------
    >>> programmable_pump_ml_h(15.05, 0.1)  # 0.5 mg/kg/h x 30.1 kg at 1 mg/mL
    15.0
    >>> programmable_pump_ml_h(17.5, 0.1)
    17.5
    >>> programmable_pump_ml_h(0.0, 0.1)
    0.0
    """
    require_non_negative(pump_ml_h, field="pump_ml_h")
    decimals = resolution_decimals(resolution_ml_h)
    steps = math.floor(pump_ml_h / resolution_ml_h * (1 + 1e-12))
    programmed = round(steps * resolution_ml_h, decimals)
    if pump_ml_h > 0 and programmed == 0:
        raise InputError(
            f"{pump_ml_h:.4g} mL/h is below the pump's resolution {resolution_ml_h:g} mL/h: the pump cannot "
            "be set to it (a lower concentration runs at more mL/h)",
            field="pump_ml_h",
        )
    return programmed


def pump_ml_h_text(pump_ml_h: float, resolution_ml_h: float) -> str:
    """A programmed rate written as the pump shows it, to the resolution's decimals.

    Examples
    --------
    >>> pump_ml_h_text(15.0, 0.1), pump_ml_h_text(15.05, 0.01), pump_ml_h_text(40.0, 1.0)
    ('15.0', '15.05', '40')
    """
    return f"{pump_ml_h:.{resolution_decimals(resolution_ml_h)}f}"
