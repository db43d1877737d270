"""What a session reads of an approved plan: its planned segments, drug, weight and cadence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.dosing import Premedication, Segment
from ketaclinic.errors import ConflictError, InputError
from ketaclinic.services.plans.records import STATUS_LABELS, plan_row, stored_plan
from ketaclinic.store.tables.plans import DosePlanRow


@dataclass(frozen=True, slots=True)
class PlannedSession:
    """What a session needs of its approved plan (segments are the plan's maximum path when titrated)."""

    plan_id: int
    patient_id: int
    protocol_id: str
    context_id: str
    drug: str
    model_key: str | None
    concentration_mg_ml: float
    weight_kg: float
    actual_weight_kg: float
    session_number: int
    date: date
    label: str
    titrated: bool
    segments: tuple[Segment, ...]
    min_path_segments: tuple[Segment, ...]
    total_mg: float
    premedication: tuple[Premedication, ...]
    cadence: str


def approved_plan_ids(session: Session, patient_id: int) -> list[int]:
    """Ids of the patient's approved (and, where needed, co-signed) plans, oldest first."""
    return list(
        session.execute(
            select(DosePlanRow.id)
            .where(DosePlanRow.patient_id == patient_id, DosePlanRow.status == "approved")
            .order_by(DosePlanRow.id)
        ).scalars()
    )


def planned_session(
    session: Session, plan_id: int, session_number: int, *, approved_only: bool = True
) -> PlannedSession:
    """Session `session_number` (1-based) of an approved plan, in the caller's transaction.

    `approved_only=False` reads the contract of a session already made, whatever the plan's status since.
    """
    row = plan_row(session, plan_id)
    if approved_only and row.status != "approved":
        raise ConflictError(
            f"dose plan {plan_id} is {STATUS_LABELS[row.status]}; only an approved plan can be given",
            field="plan_id",
        )
    plan = stored_plan(row)
    if not 1 <= session_number <= len(plan.sessions):
        raise InputError(
            f"dose plan {plan_id} has sessions 1-{len(plan.sessions)}; no session {session_number}",
            field="session_number",
        )
    item = plan.sessions[session_number - 1]
    return PlannedSession(
        plan_id=row.id,
        patient_id=row.patient_id,
        protocol_id=row.protocol_id,
        context_id=row.context_id,
        drug=row.drug,
        model_key=row.model_key,
        concentration_mg_ml=row.concentration_mg_ml,
        weight_kg=row.dosing_weight_kg,
        actual_weight_kg=plan.weight.actual_weight_kg,
        session_number=session_number,
        date=item.date,
        label=item.label,
        titrated=item.titrated,
        segments=item.segments,
        min_path_segments=item.min_path_segments,
        total_mg=item.total_mg,
        premedication=plan.premedication,
        cadence=plan.observation_cadence,
    )
