"""Dose plans: create (checked against the clinic's drug library), give soft-override reasons, approve,
co-sign, cancel, view.

status: draft -> approved, or draft -> awaiting_cosign -> approved when the plan breaches a soft limit
(every breach needs a reason and a second clinician's co-signature); draft/awaiting_cosign/approved ->
cancelled. An approved plan is locked: a change is a new plan. The approval that makes a plan approved
(or its co-signature) opens the patient's treatment course or joins the open one, in its transaction.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select

from ketaclinic.dosing import DosePlan, HardLimitError
from ketaclinic.dosing.bounds import (
    MAX_CONTAINER_VOLUME_ML,
    MAX_HEIGHT_CM,
    MAX_WEIGHT_KG,
    MIN_CONTAINER_VOLUME_ML,
    MIN_HEIGHT_CM,
    MIN_WEIGHT_KG,
)
from ketaclinic.errors import ConflictError, InputError
from ketaclinic.inputs import CleanText, IsoDate, SingleLine
from ketaclinic.services import eligibility
from ketaclinic.services.audit import audit
from ketaclinic.services.outcomes.course_opening import open_for_plan
from ketaclinic.services.patients.records import latest_measure, load_patient
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.plans.recheck import build_from_inputs, recheck
from ketaclinic.services.plans.records import (
    STATUS_LABELS,
    PlanOut,
    plan_out,
    plan_row,
    soft_breaches_out,
    stored_plan,
)
from ketaclinic.services.plans.weight_override import (
    override_breach,
    require_override_reason,
    with_override_breach,
)
from ketaclinic.services.reference import clinic_library
from ketaclinic.services.versions import ReadVersion, check_version, version_change
from ketaclinic.settings import Settings
from ketaclinic.store.audit import canonical_json
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.plans import DosePlanRow
from ketaclinic.store.tables.sessions import InfusionSession

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000), CleanText]


class PlanCreate(BaseModel):
    """What creating a dose plan takes; weight, height and sex default to the patient's record."""

    model_config = ConfigDict(extra="forbid")
    protocol_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), SingleLine
    ]
    dosing_weight: Literal["actual", "ideal", "adjusted"] = "actual"
    weight_kg: float | None = Field(default=None, ge=MIN_WEIGHT_KG, le=MAX_WEIGHT_KG)
    height_cm: float | None = Field(default=None, ge=MIN_HEIGHT_CM, le=MAX_HEIGHT_CM)
    sex: Literal["female", "male"] | None = None
    concentration_mg_ml: float | None = Field(default=None, gt=0, le=100)
    volume_ml: float | None = Field(default=None, ge=MIN_CONTAINER_VOLUME_ML, le=MAX_CONTAINER_VOLUME_ML)
    start_date: IsoDate = Field(default_factory=date.today)
    model_key: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40), SingleLine] | None = (
        None
    )
    weight_reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), CleanText] = ""
    # The protocol's choosable numbers (e.g. cohen2018-series: dose_mg_kg, duration_min, sessions).
    choices: dict[Annotated[str, StringConstraints(max_length=40), SingleLine], float] = Field(
        default_factory=dict, max_length=10
    )


class SoftReasonIn(BaseModel):
    """A reason for overriding one soft-limit breach (by its index in the plan's soft_breaches)."""

    model_config = ConfigDict(extra="forbid")
    check: int = Field(ge=0)
    reason: Reason


class SoftReasonsIn(BaseModel):
    """Reasons for one or more soft-limit breaches, with the `version` of the draft that was read."""

    model_config = ConfigDict(extra="forbid")
    version: ReadVersion
    reasons: list[SoftReasonIn] = Field(min_length=1, max_length=50)


class CancelIn(BaseModel):
    """Cancelling a plan needs a reason."""

    model_config = ConfigDict(extra="forbid")
    reason: Reason


def _require_status(row: DosePlanRow, allowed: tuple[str, ...], doing: str) -> None:
    if row.status not in allowed:
        raise ConflictError(
            f"dose plan {row.id} is {STATUS_LABELS[row.status]}: cannot {doing}"
            + (" (approved plans are locked; make a new plan)" if row.status == "approved" else ""),
            field="status",
        )


def _key_numbers(plan: DosePlan) -> dict[str, Any]:
    """The audited summary of a computed plan."""
    segments = [s for x in plan.sessions for s in x.segments]
    return {
        "protocol": plan.protocol_id,
        "context": plan.context,
        "dosing_weight_kg": plan.weight.weight_kg,
        "dosing_weight_kind": plan.weight.kind,
        "concentration_mg_ml": plan.concentration_mg_ml,
        "sessions": len(plan.sessions),
        "max_pump_ml_h": max((s.pump_ml_h for s in segments), default=0.0),
        "max_rate_mg_kg_h": max((s.rate_mg_kg_h for s in segments), default=0.0),
        "series_total_mg": plan.series_total_mg,
        "verdict": plan.verdict,
        "soft_breaches": [c.message for c in plan.soft_breaches],
    }


def create_plan(
    db: Database, actor: Actor, patient_id: int, data: PlanCreate, *, config: Settings | Path | None
) -> PlanOut:
    """Compute and check a plan for a patient and store it as a draft; a hard-limit breach is refused.

    A refusal stores no plan; it is audited (action "refuse") in its own transaction.
    """
    require(actor, Permission.PLANS_CREATE)
    reference = clinic_library(config)
    protocol = reference.protocol(data.protocol_id)
    with db.transaction() as session:
        patient = load_patient(session, patient_id)
        recorded_kg = latest_measure(patient, "weight_kg")
        require_override_reason(data.weight_kg, recorded_kg, data.weight_reason)
        weight_kg = data.weight_kg if data.weight_kg is not None else recorded_kg
        if weight_kg is None:
            raise InputError(
                "the patient has no recorded weight: record one or give weight_kg", field="weight_kg"
            )
        height_cm = data.height_cm if data.height_cm is not None else latest_measure(patient, "height_cm")
        sex = data.sex or (patient.sex if patient.sex in ("female", "male") else None)
    inputs = {
        "protocol_id": protocol.id,
        "dosing_weight": data.dosing_weight,
        "weight_kg": weight_kg,
        "weight_from_record": data.weight_kg is None,
        "recorded_weight_kg": recorded_kg,
        "height_cm": height_cm,
        "sex": sex,
        "concentration_mg_ml": data.concentration_mg_ml,
        "volume_ml": data.volume_ml,
        "start_date": data.start_date.isoformat(),
        "model_key": data.model_key,
        "weight_reason": data.weight_reason,
        "choices": data.choices,
        "library_override": str(reference.library.override_path) if reference.library.override_path else None,
    }
    try:
        plan = build_from_inputs(reference, inputs)
    except HardLimitError as refused:
        with db.transaction() as session:
            audit(
                session,
                actor,
                "refuse",
                "dose_plan",
                f"patient:{patient_id}",
                {
                    "inputs": {"old": None, "new": inputs},
                    "check": {"old": None, "new": refused.check.to_json_dict()},
                },
                str(refused),
            )
        raise
    plan = with_override_breach(plan, reference.weights, inputs)
    breach = override_breach(reference.weights, inputs)
    # The override's own breach carries the reason given with the override.
    reasons = {}
    if breach is not None:
        reasons[str(plan.soft_breaches.index(breach))] = {
            "reason": data.weight_reason,
            "by": actor.username,
            "at": utcnow().isoformat(),
        }
    with db.transaction() as session:
        patient = load_patient(session, patient_id)
        row = DosePlanRow(
            patient_id=patient.id,
            protocol_id=protocol.id,
            context_id=plan.context,
            drug=plan.drug,
            status="draft",
            verdict=plan.verdict,
            model_key=plan.model_key,
            dosing_weight_kg=plan.weight.weight_kg,
            concentration_mg_ml=plan.concentration_mg_ml,
            start_date=data.start_date,
            session_count=len(plan.sessions),
            series_total_mg=plan.series_total_mg,
            inputs_json=canonical_json(inputs),
            plan_json=canonical_json(plan.to_json_dict()),
            soft_reasons_json=canonical_json(reasons),
            created_by=actor.username,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        audit(
            session,
            actor,
            "create",
            "dose_plan",
            row.id,
            {"plan": {"old": None, "new": _key_numbers(plan)}, "inputs": {"old": None, "new": inputs}},
            data.weight_reason,
        )
        return plan_out(row, patient, actor)


def _reasons_on_record(reasons: dict[str, Any]) -> dict[str, Any]:
    """The stored override reasons as fields, `reasons.<check>` (how an edit names them)."""
    return {f"reasons.{check}": entry.get("reason") for check, entry in reasons.items()}


def give_soft_reasons(db: Database, actor: Actor, plan_id: int, data: SoftReasonsIn) -> PlanOut:
    """Record a reason for overriding each named soft-limit breach of a draft plan."""
    require(actor, Permission.PLANS_CREATE)
    with db.transaction() as session:
        row = plan_row(session, plan_id, for_update=True)
        _require_status(row, ("draft",), "change soft-override reasons")
        breaches = stored_plan(row).soft_breaches
        reasons = json.loads(row.soft_reasons_json)
        before = dict(reasons)
        check_version(session, "dose_plan", row, row.id, data.version, _reasons_on_record(before))
        now = utcnow().isoformat()
        for item in data.reasons:
            if item.check >= len(breaches):
                raise InputError(
                    f"plan {plan_id} has {len(breaches)} soft-limit breach(es); no check {item.check}",
                    field="reasons.check",
                )
            reasons[str(item.check)] = {"reason": item.reason, "by": actor.username, "at": now}
        row.soft_reasons_json = canonical_json(reasons)
        session.flush()
        for item in data.reasons:
            key = str(item.check)
            audit(
                session,
                actor,
                "soft_override",
                "dose_plan",
                row.id,
                {
                    "soft_breach": {"old": None, "new": breaches[item.check].message},
                    f"reasons.{key}": {"old": (before.get(key) or {}).get("reason"), "new": item.reason},
                }
                | version_change(data.version, row),
                item.reason,
            )
        return plan_out(row, load_patient(session, row.patient_id), actor)


def approve_plan(db: Database, actor: Actor, plan_id: int, *, config: Settings | Path | None) -> PlanOut:
    """Approve a draft: re-checked against today's library, soft breaches reasoned, screening met.

    Without soft breaches the plan is approved at once and opens (or joins) the patient's course.
    """
    require(actor, Permission.PLANS_APPROVE)
    with db.transaction() as session:
        row = plan_row(session, plan_id, for_update=True)
        _require_status(row, ("draft",), "approve")
        recheck(row, config)
        breaches = soft_breaches_out(row, stored_plan(row))
        missing_reasons = [b for b in breaches if not b.reason]
        if missing_reasons:
            listed = "; ".join(f"[{b.index}] {b.message}" for b in missing_reasons)
            raise ConflictError(
                f"soft-limit breaches need a reason before approval: {listed}", field="reasons"
            )
        missing = eligibility.plan_prerequisites(session, row.patient_id, row.protocol_id)
        if missing:
            raise ConflictError(f"cannot approve: {'; '.join(missing)}", field="prerequisites")
        row.status = "awaiting_cosign" if breaches else "approved"
        row.approved_by = actor.username
        row.approved_at = utcnow()
        audit(
            session,
            actor,
            "approve",
            "dose_plan",
            row.id,
            {
                "status": {"old": "draft", "new": row.status},
                "approved_by": {"old": None, "new": actor.username},
            },
        )
        if row.status == "approved":
            open_for_plan(session, actor, row)
        return plan_out(row, load_patient(session, row.patient_id), actor)


def cosign_plan(db: Database, actor: Actor, plan_id: int) -> PlanOut:
    """Co-sign an approved plan that breaches soft limits (a second clinician); opens or joins the course."""
    require(actor, Permission.PLANS_COSIGN)
    with db.transaction() as session:
        row = plan_row(session, plan_id, for_update=True)
        _require_status(
            row, ("awaiting_cosign",), "co-sign (only an approved plan with soft overrides is co-signed)"
        )
        if actor.username == row.approved_by:
            raise ConflictError(
                f"{actor.username} approved plan {plan_id}: the co-signature must be a second clinician's",
                field="cosigned_by",
            )
        row.status = "approved"
        row.cosigned_by = actor.username
        row.cosigned_at = utcnow()
        audit(
            session,
            actor,
            "cosign",
            "dose_plan",
            row.id,
            {
                "status": {"old": "awaiting_cosign", "new": "approved"},
                "cosigned_by": {"old": None, "new": actor.username},
            },
        )
        open_for_plan(session, actor, row)
        return plan_out(row, load_patient(session, row.patient_id), actor)


def cancel_plan(db: Database, actor: Actor, plan_id: int, data: CancelIn) -> PlanOut:
    """Cancel a plan (any status but cancelled) with a reason; the record stays."""
    require(actor, Permission.PLANS_CREATE)
    with db.transaction() as session:
        row = plan_row(session, plan_id)
        _require_status(row, ("draft", "awaiting_cosign", "approved"), "cancel")
        infusing = session.execute(
            select(InfusionSession.id).where(
                InfusionSession.plan_id == plan_id, InfusionSession.state.in_(("running", "paused"))
            )
        ).scalar()
        if infusing is not None:
            raise ConflictError(f"session {infusing} of this plan is infusing: end it first", field="session")
        old = row.status
        row.status = "cancelled"
        row.cancelled_by = actor.username
        row.cancelled_at = utcnow()
        row.cancel_reason = data.reason
        audit(
            session,
            actor,
            "cancel",
            "dose_plan",
            row.id,
            {"status": {"old": old, "new": "cancelled"}},
            data.reason,
        )
        return plan_out(row, load_patient(session, row.patient_id), actor)
