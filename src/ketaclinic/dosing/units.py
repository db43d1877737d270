"""Reading typed quantities such as "2.5mg/kg/h", "12 mL/h", "20mg" or "0.3mg/kg" (UCUM-like units)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from ketaclinic.dosing import pump
from ketaclinic.errors import InputError

RateUnit = Literal["mg/kg/h", "mg/h", "mL/h", "ug/kg/min"]
DoseUnit = Literal["mg", "mg/kg"]

_NUMBER = r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
_RATE_UNITS: dict[str, RateUnit] = {
    "mg/kg/h": "mg/kg/h",
    "mg/kg/hr": "mg/kg/h",
    "mg/h": "mg/h",
    "mg/hr": "mg/h",
    "ml/h": "mL/h",
    "ml/hr": "mL/h",
    "ug/kg/min": "ug/kg/min",
    "mcg/kg/min": "ug/kg/min",
    "µg/kg/min": "ug/kg/min",
}
_DOSE_UNITS: dict[str, DoseUnit] = {"mg": "mg", "mg/kg": "mg/kg"}


@dataclass(frozen=True, slots=True)
class RateQuantity:
    """A rate as typed: its value and unit."""

    value: float
    unit: RateUnit

    def to_rate_mg_h(self, *, weight_kg: float | None, concentration_mg_ml: float | None) -> float:
        """Absolute rate in mg/h; weight-based units need the weight, mL/h needs the concentration."""
        if self.unit == "mg/h":
            return self.value
        if self.unit == "mL/h":
            if concentration_mg_ml is None:
                raise InputError("a rate in mL/h needs --concentration-mg-ml", field="concentration_mg_ml")
            return pump.rate_mg_h_from_pump(self.value, concentration_mg_ml)
        if weight_kg is None:
            raise InputError(f"a rate in {self.unit} needs the weight", field="weight_kg")
        per_kg = self.value if self.unit == "mg/kg/h" else pump.rate_mg_kg_h_from_ug_kg_min(self.value)
        return pump.rate_mg_h_from_per_kg(per_kg, weight_kg)

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}"


@dataclass(frozen=True, slots=True)
class DoseQuantity:
    """A dose as typed: its value and unit."""

    value: float
    unit: DoseUnit

    def to_dose_mg(self, *, weight_kg: float | None) -> float:
        """Absolute dose in mg; mg/kg needs the weight."""
        if self.unit == "mg":
            return self.value
        if weight_kg is None:
            raise InputError("a dose in mg/kg needs the weight", field="weight_kg")
        return pump.dose_mg_from_per_kg(self.value, weight_kg)

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}"


def _split(text: str, field: str, known: str) -> tuple[float, str]:
    match = re.fullmatch(_NUMBER + r"\s*(\S+)", text.strip())
    if match is None:
        raise InputError(f"cannot read {text!r}: expected a number and a unit ({known})", field=field)
    value = float(match.group(1))
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{text!r}: the value must be a finite number >= 0", field=field)
    unit = match.group(2).replace(" ", "").lower().replace("per", "/")
    return value, unit


def parse_rate(text: str, *, field: str = "rate") -> RateQuantity:
    """Read a rate: mg/kg/h, mg/h, mL/h or ug/kg/min; anything else (e.g. "2.5mg") is an InputError."""
    known = ", ".join(sorted(set(_RATE_UNITS.values())))
    value, unit = _split(text, field, known)
    if unit not in _RATE_UNITS:
        raise InputError(f"cannot read {text!r} as a rate: unit {unit!r} is not one of {known}", field=field)
    return RateQuantity(value, _RATE_UNITS[unit])


def parse_dose(text: str, *, field: str = "dose") -> DoseQuantity:
    """Read a dose: mg or mg/kg; anything else (e.g. "2mg/h") is an InputError."""
    known = ", ".join(_DOSE_UNITS)
    value, unit = _split(text, field, known)
    if unit not in _DOSE_UNITS:
        raise InputError(f"cannot read {text!r} as a dose: unit {unit!r} is not one of {known}", field=field)
    return DoseQuantity(value, _DOSE_UNITS[unit])
