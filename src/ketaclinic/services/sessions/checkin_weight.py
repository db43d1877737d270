"""The check-in weight against the plan's: beyond the local-policy fraction it needs a reason, and then
the chart carries a flag and an alert of kind `weight_discrepancy` tells the physician."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError
from ketaclinic.monitoring.alert_groups import AlertGroup
from ketaclinic.monitoring.alert_rules import Advice, Severity
from ketaclinic.monitoring.rules import AlertFinding
from ketaclinic.services.reference import clinic_library
from ketaclinic.services.sessions.alert_raising import insert_findings
from ketaclinic.services.sessions.charting import Config, plan_of
from ketaclinic.store.tables.sessions import InfusionSession

WEIGHT_DISCREPANCY = "weight_discrepancy"


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


def raise_weight_alert(session: Session, row: InfusionSession, flag: dict[str, Any]) -> list[str]:
    """One durable alert (kind weight_discrepancy) so the physician reviews the reasoned weight."""
    finding = AlertFinding(
        rule_key=WEIGHT_DISCREPANCY,
        severity=Severity.WARNING,
        advice=Advice.CONTINUE_AND_RECHECK,
        message=f"Check-in weight: {flag['message']}. Reason given: {flag['reason']}. Physician to review.",
        field="weight_kg",
        value=flag["weight_kg"],
        threshold=flag["plan_weight_kg"],
        t_min=0.0,
        trigger_key=WEIGHT_DISCREPANCY,
        source=flag["source"],
        status=flag["status"],
        group=AlertGroup.WEIGHT,
        notify_physician=True,
    )
    return insert_findings(session, row.id, [finding])
