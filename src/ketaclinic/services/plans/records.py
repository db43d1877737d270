"""How a stored dose plan reads (labels, summary, record, soft breaches); opening and listing plans."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.dosing import DosePlan
from ketaclinic.errors import InputError, NotFoundError
from ketaclinic.services.audit import audit
from ketaclinic.services.patients.records import load_patient, patient_label
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.plans import DosePlanRow

PlanStatus = Literal["draft", "awaiting_cosign", "approved", "cancelled"]


STATUS_LABELS: dict[str, str] = {
    "draft": "draft",
    "awaiting_cosign": "awaiting co-signature",
    "approved": "approved",
    "cancelled": "cancelled",
}


class SoftBreachOut(BaseModel):
    """A soft-limit breach, its limit and source, and the reason given to override it (if any)."""

    index: int
    message: str
    quantity: str
    value: float
    unit: str
    limit: float | None
    limit_kind: str | None
    source: str | None
    status: str | None
    reason: str | None
    reason_by: str | None
    reason_at: datetime | None


class PlanSummary(BaseModel):
    """A plan as listed."""

    id: int
    version: int
    patient_id: int
    patient_label: str
    protocol_id: str
    protocol_name: str
    drug: str
    status: str
    status_label: str
    verdict: str
    dosing_weight_kg: float
    concentration_mg_ml: float
    start_date: date
    session_count: int
    series_total_mg: float
    soft_breach_count: int
    created_by: str
    created_at: datetime
    approved_by: str | None
    cosigned_by: str | None


class PlanOut(PlanSummary):
    """The whole plan record: inputs, the computed plan document, overrides and signatures."""

    context_id: str
    model_key: str | None
    inputs: dict[str, Any]
    plan: dict[str, Any]
    soft_breaches: list[SoftBreachOut]
    needs_cosign: bool
    approved_at: datetime | None
    cosigned_at: datetime | None
    cancelled_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None


def plan_row(session: Session, plan_id: int, *, for_update: bool = False) -> DosePlanRow:
    """A stored plan; `for_update` locks it until the edit's transaction ends (a concurrent editor waits)."""
    row = session.get(DosePlanRow, plan_id, with_for_update=for_update)
    if row is None:
        raise NotFoundError(f"no dose plan {plan_id}")
    return row


def stored_plan(row: DosePlanRow) -> DosePlan:
    """The plan as computed and stored when it was drafted."""
    return DosePlan.from_json_dict(json.loads(row.plan_json))


def soft_breaches_out(row: DosePlanRow, plan: DosePlan) -> list[SoftBreachOut]:
    reasons = json.loads(row.soft_reasons_json)
    out = []
    for index, check in enumerate(plan.soft_breaches):
        given = reasons.get(str(index))
        out.append(
            SoftBreachOut(
                index=index,
                message=check.message,
                quantity=check.quantity,
                value=check.value,
                unit=check.unit,
                limit=check.limit,
                limit_kind=check.limit_kind,
                source=check.source,
                status=check.status,
                reason=given["reason"] if given else None,
                reason_by=given["by"] if given else None,
                reason_at=datetime.fromisoformat(given["at"]) if given else None,
            )
        )
    return out


def _summary_fields(row: DosePlanRow, patient: Patient, actor: Actor, plan: DosePlan) -> dict[str, Any]:
    return {
        "id": row.id,
        "version": row.version,
        "patient_id": row.patient_id,
        "patient_label": patient_label(patient, actor),
        "protocol_id": row.protocol_id,
        "protocol_name": plan.protocol_name,
        "drug": row.drug,
        "status": row.status,
        "status_label": STATUS_LABELS[row.status],
        "verdict": row.verdict,
        "dosing_weight_kg": row.dosing_weight_kg,
        "concentration_mg_ml": row.concentration_mg_ml,
        "start_date": row.start_date,
        "session_count": row.session_count,
        "series_total_mg": row.series_total_mg,
        "soft_breach_count": len(plan.soft_breaches),
        "created_by": row.created_by,
        "created_at": row.created_at,
        "approved_by": row.approved_by,
        "cosigned_by": row.cosigned_by,
    }


def plan_summary(row: DosePlanRow, patient: Patient, actor: Actor) -> PlanSummary:
    return PlanSummary(**_summary_fields(row, patient, actor, stored_plan(row)))


def plan_out(row: DosePlanRow, patient: Patient, actor: Actor) -> PlanOut:
    plan = stored_plan(row)
    breaches = soft_breaches_out(row, plan)
    return PlanOut(
        **_summary_fields(row, patient, actor, plan),
        context_id=row.context_id,
        model_key=row.model_key,
        inputs=json.loads(row.inputs_json),
        plan=plan.to_json_dict(),
        soft_breaches=breaches,
        needs_cosign=bool(breaches),
        approved_at=row.approved_at,
        cosigned_at=row.cosigned_at,
        cancelled_by=row.cancelled_by,
        cancelled_at=row.cancelled_at,
        cancel_reason=row.cancel_reason,
    )


def view_plan(db: Database, actor: Actor, plan_id: int) -> PlanOut:
    """Open a plan (audited as a view of the patient's clinical record)."""
    require(actor, Permission.PLANS_VIEW)
    with db.transaction() as session:
        row = plan_row(session, plan_id)
        patient = load_patient(session, row.patient_id)
        audit(session, actor, "view", "dose_plan", row.id)
        return plan_out(row, patient, actor)


def list_plans(
    db: Database,
    actor: Actor,
    *,
    patient_id: int | None = None,
    statuses: tuple[str, ...] = (),
    limit: int = 200,
) -> list[PlanSummary]:
    """Plans, newest first, optionally of one patient and/or in some statuses."""
    require(actor, Permission.PLANS_VIEW)
    unknown = [s for s in statuses if s not in STATUS_LABELS]
    if unknown:
        raise InputError(f"unknown status {unknown[0]!r} (known: {', '.join(STATUS_LABELS)})", field="status")
    if not 1 <= limit <= 1000:
        raise InputError("limit must be 1-1000", field="limit")
    with db.transaction() as session:
        statement = select(DosePlanRow, Patient).join(Patient, Patient.id == DosePlanRow.patient_id)
        if patient_id is not None:
            load_patient(session, patient_id)
            statement = statement.where(DosePlanRow.patient_id == patient_id)
        if statuses:
            statement = statement.where(DosePlanRow.status.in_(statuses))
        statement = statement.order_by(DosePlanRow.created_at.desc(), DosePlanRow.id.desc()).limit(limit)
        return [plan_summary(row, patient, actor) for row, patient in session.execute(statement).all()]
