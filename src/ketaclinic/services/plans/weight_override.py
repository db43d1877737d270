"""A plan's weight override: it needs a reason, and beyond the local-policy fraction of the recorded weight
it is a soft breach, so the plan needs a second clinician's co-signature."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ketaclinic.dosing import DosePlan, LimitCheck
from ketaclinic.dosing.weight_checks import WeightPolicy
from ketaclinic.errors import InputError

# An override equal to the recorded weight (to this tolerance) is the recorded weight.
_SAME_KG = 1e-9


def is_override(weight_kg: float | None, recorded_kg: float | None) -> bool:
    """A weight given for the plan that is not the weight on record (none on record: not an override)."""
    return weight_kg is not None and recorded_kg is not None and abs(weight_kg - recorded_kg) > _SAME_KG


def require_override_reason(weight_kg: float | None, recorded_kg: float | None, reason: str) -> None:
    """422 naming weight_reason when an override comes without a reason."""
    if is_override(weight_kg, recorded_kg) and not reason.strip():
        raise InputError(
            f"a plan weight of {weight_kg:g} kg overrides the recorded {recorded_kg:g} kg: give the reason",
            field="weight_reason",
        )


def override_breach(policy: WeightPolicy, inputs: dict[str, Any]) -> LimitCheck | None:
    """The soft breach of an override beyond the fraction of the recorded weight, else None."""
    weight_kg: float = inputs["weight_kg"]
    recorded_kg: float | None = inputs.get("recorded_weight_kg")
    if recorded_kg is None or not is_override(weight_kg, recorded_kg):
        return None
    found = policy.discrepancy(weight_kg, recorded_kg)
    if found is None:
        return None
    above = weight_kg > recorded_kg
    return LimitCheck(
        verdict="soft",
        quantity="weight_kg",
        value=weight_kg,
        unit="kg",
        limit=recorded_kg * (1 + found.limit_fraction if above else 1 - found.limit_fraction),
        limit_kind="soft_max" if above else "soft_min",
        source=policy.discrepancy_source,
        status=policy.discrepancy_status.value,
        message=f"weight override: {found.describe('the recorded weight')}",
    )


def with_override_breach(plan: DosePlan, policy: WeightPolicy, inputs: dict[str, Any]) -> DosePlan:
    """The plan with the override's soft breach (if any) as its weight-override check."""
    breach = override_breach(policy, inputs)
    return replace(plan, weight_override_checks=() if breach is None else (breach,))
