"""Dosing regimens: boluses (mg at t) and constant-rate infusions (mg/h from t0 to t1, overlapping add up)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ketaclinic.errors import InputError


def _finite(value: float, field: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InputError(f"must be a finite number, got {value!r}", field=field)
    return float(value)


@dataclass(frozen=True, slots=True)
class Bolus:
    """A dose given at once at `t_min` minutes from the start."""

    t_min: float
    dose_mg: float

    def __post_init__(self) -> None:
        if _finite(self.t_min, "bolus.t_min") < 0:
            raise InputError(f"bolus time must be >= 0 min, got {self.t_min}", field="bolus.t_min")
        if _finite(self.dose_mg, "bolus.dose_mg") < 0:
            raise InputError(f"bolus dose must be >= 0 mg, got {self.dose_mg}", field="bolus.dose_mg")


@dataclass(frozen=True, slots=True)
class Infusion:
    """A constant rate from `start_min` to `end_min`."""

    start_min: float
    end_min: float
    rate_mg_h: float

    def __post_init__(self) -> None:
        start = _finite(self.start_min, "infusion.start_min")
        end = _finite(self.end_min, "infusion.end_min")
        if start < 0 or end <= start:
            raise InputError(
                f"infusion needs 0 <= start < end, got {self.start_min}-{self.end_min} min",
                field="infusion",
            )
        if _finite(self.rate_mg_h, "infusion.rate_mg_h") < 0:
            raise InputError(f"infusion rate must be >= 0, got {self.rate_mg_h} mg/h", field="infusion.rate")

    @property
    def dose_mg(self) -> float:
        """Amount delivered by the whole infusion."""
        return self.rate_mg_h * (self.end_min - self.start_min) / 60.0


@dataclass(frozen=True, slots=True)
class Regimen:
    """Any number of boluses and infusions."""

    boluses: tuple[Bolus, ...] = ()
    infusions: tuple[Infusion, ...] = ()

    def __post_init__(self) -> None:
        if not all(isinstance(b, Bolus) for b in self.boluses):
            raise InputError("boluses must be Bolus values", field="boluses")
        if not all(isinstance(i, Infusion) for i in self.infusions):
            raise InputError("infusions must be Infusion values", field="infusions")
        # accept lists too, but store tuples so the value stays immutable and hashable
        object.__setattr__(self, "boluses", tuple(self.boluses))
        object.__setattr__(self, "infusions", tuple(self.infusions))

    @property
    def total_mg(self) -> float:
        """Everything the regimen delivers."""
        return sum(b.dose_mg for b in self.boluses) + sum(i.dose_mg for i in self.infusions)

    def scaled(self, factor: float) -> Regimen:
        """Every dose and rate multiplied by `factor` (e.g. a per-kg regimen times a weight)."""
        return Regimen(
            tuple(Bolus(b.t_min, b.dose_mg * factor) for b in self.boluses),
            tuple(Infusion(i.start_min, i.end_min, i.rate_mg_h * factor) for i in self.infusions),
        )

    def breakpoints(self) -> npt.NDArray[np.float64]:
        """Sorted distinct times where the input changes (always includes 0)."""
        times = {0.0}
        times.update(b.t_min for b in self.boluses)
        for inf in self.infusions:
            times.update((inf.start_min, inf.end_min))
        return np.array(sorted(times), dtype=np.float64)

    def rate_mg_min_on(self, starts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Total infusion rate (mg/min) on each piece starting at `starts` (pieces between breakpoints)."""
        rates = np.zeros(len(starts))
        for inf in self.infusions:
            rates += np.where((starts >= inf.start_min) & (starts < inf.end_min), inf.rate_mg_h / 60.0, 0.0)
        return rates

    def bolus_mg_at(self, times: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Total bolus dose (mg) given at each of `times`."""
        doses = np.zeros(len(times))
        for b in self.boluses:
            doses += np.where(times == b.t_min, b.dose_mg, 0.0)
        return doses
