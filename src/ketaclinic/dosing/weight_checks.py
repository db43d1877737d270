"""Weight checks: when a newly entered body weight must be confirmed with a reason (local policy).

Two rules, both read from data/weight_checks.toml with a clinic's override on top: a weight that
differs from the one it is compared with by more than `discrepancy_fraction` of it, and a weight
outside the plausible band for the patient's age. Neither refuses a weight (dosing/bounds.py does
that); each asks for a reason, which the caller records.

>>> policy = load_weight_policy()
>>> policy.discrepancy(7.2, 72.5) is not None, policy.discrepancy(75.0, 72.5)
(True, None)
>>> policy.implausible_band(6.3, 40)
PlausibleBand(min_age_y=18, max_age_y=131, min_kg=30.0, max_kg=300.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ketaclinic.data import Status, load_toml, load_toml_path, parse_status
from ketaclinic.dosing.bounds import MAX_WEIGHT_KG, MIN_WEIGHT_KG
from ketaclinic.errors import DataFileError

WEIGHT_CHECKS_FILE = "weight_checks.toml"

# A weight exactly at the fraction is not beyond it, whatever the last bits of the division say.
_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class PlausibleBand:
    """Plausible weights for ages min_age_y (inclusive) to max_age_y (exclusive), completed years."""

    min_age_y: int
    max_age_y: int
    min_kg: float
    max_kg: float


@dataclass(frozen=True, slots=True)
class WeightDiscrepancy:
    """A weight that differs from its reference by more than the policy's fraction."""

    weight_kg: float
    reference_kg: float
    fraction: float
    limit_fraction: float

    def describe(self, reference: str) -> str:
        """One line naming both weights, the difference and the local-policy limit."""
        direction = "above" if self.weight_kg > self.reference_kg else "below"
        return (
            f"{self.weight_kg:g} kg is {self.fraction:.0%} {direction} {reference} {self.reference_kg:g} kg "
            f"(more than the {self.limit_fraction:.0%} local-policy limit)"
        )


@dataclass(frozen=True, slots=True)
class WeightPolicy:
    """The clinic's weight checks with their sources."""

    discrepancy_fraction: float
    discrepancy_source: str
    discrepancy_status: Status
    plausible: tuple[PlausibleBand, ...]
    plausible_source: str
    plausible_status: Status

    def discrepancy(self, weight_kg: float, reference_kg: float) -> WeightDiscrepancy | None:
        """The discrepancy when `weight_kg` is more than the fraction away from `reference_kg`, else None."""
        fraction = relative_difference(weight_kg, reference_kg)
        if fraction <= self.discrepancy_fraction + _TOLERANCE:
            return None
        return WeightDiscrepancy(weight_kg, reference_kg, fraction, self.discrepancy_fraction)

    def band_for(self, age_y: int) -> PlausibleBand:
        """The plausible band of an age (the last band beyond the table)."""
        for band in self.plausible:
            if band.min_age_y <= age_y < band.max_age_y:
                return band
        return self.plausible[-1]

    def implausible_band(self, weight_kg: float, age_y: int) -> PlausibleBand | None:
        """The age's band when `weight_kg` lies outside it, else None."""
        band = self.band_for(age_y)
        return None if band.min_kg <= weight_kg <= band.max_kg else band

    def implausibility(self, weight_kg: float, age_y: int) -> str | None:
        """One line when `weight_kg` is outside the age's plausible band, else None."""
        band = self.implausible_band(weight_kg, age_y)
        if band is None:
            return None
        return (
            f"{weight_kg:g} kg is outside {band.min_kg:g}-{band.max_kg:g} kg, the local-policy plausible "
            f"range for age {age_y}"
        )


def relative_difference(weight_kg: float, reference_kg: float) -> float:
    """|weight - reference| as a fraction of the reference (which is positive)."""
    if reference_kg <= 0:
        raise ValueError("reference weight must be positive")
    return abs(weight_kg - reference_kg) / reference_kg


def _fraction(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw < 1:
        raise DataFileError(f"{where}: discrepancy_fraction must be a number between 0 and 1, got {raw!r}")
    return float(raw)


def _bands(raw: Any, where: str) -> tuple[PlausibleBand, ...]:
    """The age bands, contiguous from age 0, each within the body-weight bounds."""
    if not isinstance(raw, list) or not raw:
        raise DataFileError(f"{where}: plausible_weight must be a non-empty list of bands")
    bands: list[PlausibleBand] = []
    expected_age = 0
    for index, item in enumerate(raw):
        at = f"{where}: plausible_weight[{index}]"
        try:
            band = PlausibleBand(
                int(item["min_age_y"]), int(item["max_age_y"]), float(item["min_kg"]), float(item["max_kg"])
            )
        except (KeyError, TypeError, ValueError):
            raise DataFileError(f"{at} needs numeric min_age_y, max_age_y, min_kg and max_kg") from None
        if band.min_age_y != expected_age or band.max_age_y <= band.min_age_y:
            raise DataFileError(f"{at}: ages must run on from {expected_age} without gap or overlap")
        if not MIN_WEIGHT_KG <= band.min_kg < band.max_kg <= MAX_WEIGHT_KG:
            raise DataFileError(f"{at}: need {MIN_WEIGHT_KG:g} <= min_kg < max_kg <= {MAX_WEIGHT_KG:g}")
        bands.append(band)
        expected_age = band.max_age_y
    return tuple(bands)


def load_weight_policy(override: Path | None = None) -> WeightPolicy:
    """The shipped weight checks, with a clinic's weight_checks.toml (fraction and/or bands) on top."""
    data = load_toml(WEIGHT_CHECKS_FILE)
    where = WEIGHT_CHECKS_FILE
    if override is not None:
        clinic = load_toml_path(override)
        unknown = set(clinic) - {
            "discrepancy_fraction",
            "discrepancy_source",
            "plausible_weight",
            "plausible_source",
        }
        if unknown:
            raise DataFileError(f"{override}: unknown key(s) {', '.join(sorted(unknown))}")
        if "discrepancy_fraction" in clinic:
            data["discrepancy_source"] = clinic.get("discrepancy_source", override.name)
        if "plausible_weight" in clinic:
            data["plausible_source"] = clinic.get("plausible_source", override.name)
        data |= {k: v for k, v in clinic.items() if k in ("discrepancy_fraction", "plausible_weight")}
        where = str(override)
    return WeightPolicy(
        discrepancy_fraction=_fraction(data["discrepancy_fraction"], where),
        discrepancy_source=str(data["discrepancy_source"]),
        discrepancy_status=parse_status(data["discrepancy_status"], where),
        plausible=_bands(data["plausible_weight"], where),
        plausible_source=str(data["plausible_source"]),
        plausible_status=parse_status(data["plausible_status"], where),
    )
