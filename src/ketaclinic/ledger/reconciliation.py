"""Reconcile a preparation: what was drawn against what the chart says was given and what was wasted.

The administered dose is never typed: it is the session's charted total (rate segments x time plus
boluses), computed by the same code the session's dose checks use, and passed in here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ketaclinic.errors import ConflictError, InputError

# Concentrations match when they agree to 0.1 % (a float written as mg/mL on two screens).
CONCENTRATION_REL_TOLERANCE = 1e-3


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Prepared, administered and wasted mg, what should have been wasted, and the unexplained rest."""

    prepared_mg: float
    administered_mg: float
    wasted_mg: float
    tolerance_mg: float

    @property
    def expected_waste_mg(self) -> float:
        """What was left to waste: prepared minus administered."""
        return self.prepared_mg - self.administered_mg

    @property
    def discrepancy_mg(self) -> float:
        """Prepared minus administered minus wasted (positive: drug unaccounted for)."""
        return round(self.prepared_mg - self.administered_mg - self.wasted_mg, 6) + 0.0  # never -0.0

    @property
    def within_tolerance(self) -> bool:
        """True when the unexplained rest is within the clinic's tolerance."""
        return abs(self.discrepancy_mg) <= self.tolerance_mg + 1e-9


def prepared_concentration_mg_ml(drawn_mg: float, final_volume_ml: float) -> float:
    """The bag's concentration: drug drawn over the final volume (diluent included)."""
    if final_volume_ml <= 0:
        raise InputError("the final volume is above zero", field="final_volume_ml")
    return drawn_mg / final_volume_ml


def check_concentration(prepared_mg_ml: float, charted_mg_ml: float) -> None:
    """ConflictError (409) when the bag's concentration is not the one the session charts with."""
    if not math.isclose(prepared_mg_ml, charted_mg_ml, rel_tol=CONCENTRATION_REL_TOLERANCE):
        raise ConflictError(
            f"the preparation is {prepared_mg_ml:.4g} mg/mL"
            f" but the session charts at {charted_mg_ml:.4g} mg/mL",
            field="final_volume_ml",
        )


def reconcile(
    prepared_mg: float, administered_mg: float, wasted_mg: float, *, tolerance_mg: float
) -> Reconciliation:
    """The reconciliation of one preparation; InputError for a negative quantity.

    100 mg drawn, 98 mg charted (24.5 mg/h for 4 h), 1 mg wasted: 1 mg unaccounted for.

    >>> result = reconcile(100.0, 98.0, 1.0, tolerance_mg=0.5)
    >>> (result.discrepancy_mg, result.within_tolerance)
    (1.0, False)
    """
    for name, value in (
        ("prepared_mg", prepared_mg),
        ("administered_mg", administered_mg),
        ("wasted_mg", wasted_mg),
    ):
        if value < 0 or not math.isfinite(value):
            raise InputError("is a finite quantity, not below zero", field=name)
    return Reconciliation(prepared_mg, administered_mg, wasted_mg, tolerance_mg)
