"""Dosing weight: actual, ideal (Devine) or adjusted body weight.

Devine BJ. Gentamicin therapy. Drug Intell Clin Pharm 1974;8:650-655:
IBW = 50 kg (male) or 45.5 kg (female) + 2.3 kg per inch of height over 5 feet.
Adjusted body weight = IBW + 0.4 x (actual - IBW) (the 0.4 correction factor of Bauer LA,
Applied Clinical Pharmacokinetics, used for aminoglycosides and lipophilic drugs).
Neither ideal nor adjusted weight is allowed to exceed the actual weight: dosing a light patient on
a heavier nominal weight would raise the dose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ketaclinic.dosing.bounds import MAX_HEIGHT_CM, MIN_HEIGHT_CM
from ketaclinic.dosing.pump import require_weight
from ketaclinic.errors import InputError

DosingWeightKind = Literal["actual", "ideal", "adjusted"]
Sex = Literal["female", "male"]

_CM_PER_INCH = 2.54
_FIVE_FEET_IN = 60.0
_DEVINE_BASE_KG: dict[str, float] = {"male": 50.0, "female": 45.5}
_DEVINE_KG_PER_INCH = 2.3
_ADJUSTED_FACTOR = 0.4
# Formula validity, narrower than the heights a record may hold (dosing.bounds): below 100 cm the
# Devine formula (written for adults, from 5 feet up) gives meaningless or no ideal weights.
DEVINE_MIN_HEIGHT_CM = 100.0
DEVINE_MAX_HEIGHT_CM = MAX_HEIGHT_CM

SOURCES = {
    "ideal": "Devine BJ, Drug Intell Clin Pharm 1974;8:650-655",
    "adjusted": "IBW + 0.4 x (actual - IBW); Devine 1974 IBW, Bauer LA Applied Clinical Pharmacokinetics",
    "actual": "actual body weight",
}


@dataclass(frozen=True, slots=True)
class DosingWeight:
    """The weight a plan doses on, how it was chosen, and why."""

    kind: DosingWeightKind
    weight_kg: float
    actual_weight_kg: float
    ideal_weight_kg: float | None
    source: str
    note: str | None = None


def require_height(height_cm: float) -> float:
    """A height in [MIN_HEIGHT_CM, MAX_HEIGHT_CM] (30-250 cm), else InputError."""
    if not math.isfinite(height_cm) or not MIN_HEIGHT_CM <= height_cm <= MAX_HEIGHT_CM:
        raise InputError(
            f"height {height_cm} cm is outside [{MIN_HEIGHT_CM:g}, {MAX_HEIGHT_CM:g}] cm", field="height_cm"
        )
    return height_cm


def _devine_kg(height_cm: float, sex: str) -> float:
    return _DEVINE_BASE_KG[sex] + _DEVINE_KG_PER_INCH * (height_cm / _CM_PER_INCH - _FIVE_FEET_IN)


def devine_applies(height_cm: float, sex: str) -> bool:
    """True when the Devine ideal-weight formula is valid for this height (in range, a weight > 0)."""
    return (
        sex in _DEVINE_BASE_KG
        and math.isfinite(height_cm)
        and DEVINE_MIN_HEIGHT_CM <= height_cm <= DEVINE_MAX_HEIGHT_CM
        and _devine_kg(height_cm, sex) > 0
    )


def ideal_body_weight_kg(height_cm: float, sex: str) -> float:
    """Devine ideal body weight (kg) for height and sex."""
    if sex not in _DEVINE_BASE_KG:
        raise InputError(f"sex {sex!r} must be female or male", field="sex")
    require_height(height_cm)
    if not devine_applies(height_cm, sex):
        raise InputError(
            f"height {height_cm:g} cm is outside the range the Devine ideal-weight formula is valid for "
            f"([{DEVINE_MIN_HEIGHT_CM:g}, {DEVINE_MAX_HEIGHT_CM:g}] cm, giving a weight > 0): "
            "dose on the actual weight",
            field="height_cm",
        )
    return _devine_kg(height_cm, sex)


def adjusted_body_weight_kg(actual_weight_kg: float, ideal_weight_kg: float) -> float:
    """Adjusted body weight: IBW + 0.4 x (actual - IBW)."""
    return ideal_weight_kg + _ADJUSTED_FACTOR * (actual_weight_kg - ideal_weight_kg)


def dosing_weight(
    weight_kg: float,
    *,
    kind: str = "actual",
    height_cm: float | None = None,
    sex: str | None = None,
) -> DosingWeight:
    """Choose the dosing weight; ideal and adjusted need height and sex and never exceed the actual weight."""
    actual = require_weight(weight_kg)
    if kind == "actual":
        # the ideal weight is only shown beside an actual-weight plan: a height the formula does not
        # cover leaves it out rather than refusing the plan
        ibw = None
        if height_cm is not None and sex is not None and devine_applies(require_height(height_cm), sex):
            ibw = ideal_body_weight_kg(height_cm, sex)
        return DosingWeight("actual", actual, actual, ibw, SOURCES["actual"])
    if kind not in ("ideal", "adjusted"):
        raise InputError(f"dosing weight {kind!r} must be actual, ideal or adjusted", field="dosing_weight")
    if height_cm is None or sex is None:
        raise InputError(f"{kind} body weight needs --height-cm and --sex", field="dosing_weight")
    resolved: DosingWeightKind = "ideal" if kind == "ideal" else "adjusted"
    ibw = ideal_body_weight_kg(height_cm, sex)
    chosen = ibw if resolved == "ideal" else adjusted_body_weight_kg(actual, ibw)
    note = None
    if chosen > actual:
        note = f"{kind} weight {chosen:.1f} kg exceeds the actual weight; dosing on the actual weight"
        chosen = actual
    return DosingWeight(resolved, chosen, actual, ibw, SOURCES[resolved], note)
