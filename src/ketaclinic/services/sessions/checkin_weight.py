"""The check-in weight against the plan's: beyond the local-policy fraction it needs a reason, and then
the chart carries a flag and the alert rules' `weight_discrepancy` rule tells the physician."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError
from ketaclinic.monitoring.rules import weight_discrepancy_findings
from ketaclinic.services.permissions import Actor
from ketaclinic.services.reference import clinic_library
from ketaclinic.services.sessions.alert_raising import insert_findings
from ketaclinic.services.sessions.charting import Config, plan_of
from ketaclinic.store.tables.sessions import InfusionSession

WEIGHT_DISCREPANCY = "weight_discrepancy"  # the chart flag, and the shipped rule of that name


def check_in_weight_flag(
    session: Session, row: InfusionSession, weight_kg: float, reason: str, *, config: Config
) -> dict[str, Any] | None:
    """The chart's flag when the weight differs from the plan's beyond the fraction (409 on weight_kg
    without a reason); None when it does not."""
    policy = clinic_library(config).weights
    plan_weight_kg = plan_of(session, row).actual_weight_kg
    found = policy.discrepancy(weight_kg, plan_weight_kg)
    if found is None:
        return None
    described = found.describe("the plan's")
    if not reason:
        raise ConflictError(
            f"{described}: check the weight, or give the reason it differs", field="weight_kg"
        )
    return {
        "weight_kg": weight_kg,
        "plan_weight_kg": plan_weight_kg,
        "fraction": round(found.fraction, 4),
        "limit_fraction": found.limit_fraction,
        "reason": reason,
        "message": described,
        "source": policy.discrepancy_source,
        "status": policy.discrepancy_status.value,
    }


def raise_weight_alert(
    session: Session, actor: Actor, row: InfusionSession, flag: dict[str, Any]
) -> list[str]:
    """The alert rules' weight-discrepancy alert, so the physician reviews the reasoned weight."""
    findings = weight_discrepancy_findings(
        flag["weight_kg"],
        flag["plan_weight_kg"],
        described=flag["message"],
        reason=flag["reason"],
        limit_source=flag["source"],
    )
    return insert_findings(session, actor, row.id, findings)
