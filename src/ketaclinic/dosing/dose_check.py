"""Is this proposed rate or bolus allowed? The one check behind `POST /api/v1/dose/check` and `dose check`.

A rate may be typed in any unit the library's rate limits can be compared in (mg/kg/h, mg/h, ug/kg/min,
or mL/h at a concentration); a bolus in mg or mg/kg. A pump rate in mL/h means nothing without the
bag's concentration: the caller names it, and only a context that lists a single concentration
supplies one itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ketaclinic.dosing import pump
from ketaclinic.dosing.checks import LimitCheck, bolus_checks, check_concentration, rate_checks, worst_check
from ketaclinic.dosing.library import DrugContext, DrugLibrary
from ketaclinic.dosing.units import DoseQuantity, RateQuantity
from ketaclinic.errors import InputError

DoseKind = Literal["rate", "bolus"]


@dataclass(frozen=True, slots=True)
class DoseCheck:
    """The library's answer on one proposed rate or bolus: every check, the deciding one, the dose in mg."""

    context: str
    weight_kg: float
    kind: DoseKind
    input: str
    checks: tuple[LimitCheck, ...]
    concentration_mg_ml: float | None = None
    rate_mg_h: float | None = None
    rate_mg_kg_h: float | None = None
    pump_ml_h: float | None = None
    dose_mg: float | None = None
    dose_mg_kg: float | None = None

    @property
    def decisive(self) -> LimitCheck:
        """The check that decides the verdict (the worst; among all-ok ones the closest to its limit)."""
        return worst_check(self.checks)

    def to_json_dict(self) -> dict[str, Any]:
        """The deciding check's fields, the dose in every unit known, and every check."""
        out: dict[str, Any] = self.decisive.to_json_dict()
        out |= {"context": self.context, "weight_kg": self.weight_kg, "kind": self.kind, "input": self.input}
        optional = {
            "concentration_mg_ml": self.concentration_mg_ml,
            "rate_mg_h": self.rate_mg_h,
            "rate_mg_kg_h": self.rate_mg_kg_h,
            "pump_ml_h": self.pump_ml_h,
            "dose_mg": self.dose_mg,
            "dose_mg_kg": self.dose_mg_kg,
        }
        out |= {key: value for key, value in optional.items() if value is not None}
        out["checks"] = [c.to_json_dict() for c in self.checks]
        return out


def _concentration(
    library: DrugLibrary, ctx: DrugContext, concentration_mg_ml: float | None, needed: bool
) -> float | None:
    if concentration_mg_ml is not None:
        return check_concentration(library, ctx.id, concentration_mg_ml)
    if not needed:
        return None
    listed = ctx.concentrations.values_mg_ml
    if len(listed) == 1:
        return listed[0]
    raise InputError(
        f"a rate in mL/h needs the concentration: {ctx.id} lists {', '.join(f'{c:g}' for c in listed)} mg/mL",
        field="concentration_mg_ml",
    )


def check_dose(
    library: DrugLibrary,
    context_id: str,
    *,
    dose: RateQuantity | DoseQuantity,
    weight_kg: float,
    concentration_mg_ml: float | None,
) -> DoseCheck:
    """Judge a rate (RateQuantity) or a bolus (DoseQuantity) for this weight in this library context.

    `concentration_mg_ml`, when given, must be a library concentration of the context; a rate in mL/h
    without one is bad input unless the context lists exactly one concentration.
    """
    ctx = library.context(context_id)
    pump.require_weight(weight_kg)
    needs_concentration = isinstance(dose, RateQuantity) and dose.unit == "mL/h"
    concentration = _concentration(library, ctx, concentration_mg_ml, needs_concentration)
    if isinstance(dose, RateQuantity):
        rate_mg_h = dose.to_rate_mg_h(weight_kg=weight_kg, concentration_mg_ml=concentration)
        return DoseCheck(
            context=ctx.id,
            weight_kg=weight_kg,
            kind="rate",
            input=str(dose),
            checks=rate_checks(library, ctx.id, rate_mg_h=rate_mg_h, weight_kg=weight_kg),
            concentration_mg_ml=concentration,
            rate_mg_h=rate_mg_h,
            rate_mg_kg_h=pump.rate_mg_kg_h(rate_mg_h, weight_kg),
            pump_ml_h=None if concentration is None else pump.pump_ml_h(rate_mg_h, concentration),
        )
    dose_mg = dose.to_dose_mg(weight_kg=weight_kg)
    return DoseCheck(
        context=ctx.id,
        weight_kg=weight_kg,
        kind="bolus",
        input=str(dose),
        checks=bolus_checks(library, ctx.id, dose_mg=dose_mg, weight_kg=weight_kg),
        concentration_mg_ml=concentration,
        dose_mg=dose_mg,
        dose_mg_kg=dose_mg / weight_kg,
    )
