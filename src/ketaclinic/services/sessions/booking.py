"""Infusion sessions booked from an approved plan, and the day's list."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select

from ketaclinic.errors import ConflictError
from ketaclinic.inputs import RecordRef
from ketaclinic.monitoring import (
    SessionState,
)
from ketaclinic.services.audit import audit
from ketaclinic.services.events_bus import LiveEvent, publish
from ketaclinic.services.patients.records import load_patient, patient_label
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.plans.contract import approved_plan_ids, planned_session
from ketaclinic.services.scheduling.links import follow_session
from ketaclinic.services.sessions.charting import plan_model_key
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.sessions import InfusionSession

ACTIVE_STATES = ("checked_in", "running", "paused", "completed", "stopped", "recovery", "discharged")


class SessionCreate(BaseModel):
    """A session of an approved plan."""

    model_config = ConfigDict(extra="forbid")
    plan_id: RecordRef
    session_number: int = Field(ge=1, le=1000)


class SessionSummary(BaseModel):
    """One line of the sessions list."""

    id: int
    plan_id: int
    session_number: int
    patient_id: int
    patient_label: str
    state: str
    scheduled_on: date
    started_at: datetime | None
    drug: str


def _summary(row: InfusionSession, patient: Patient, actor: Actor) -> SessionSummary:
    return SessionSummary(
        id=row.id,
        plan_id=row.plan_id,
        session_number=row.session_number,
        patient_id=row.patient_id,
        patient_label=patient_label(patient, actor),
        state=row.state,
        scheduled_on=row.scheduled_on,
        started_at=row.started_at,
        drug=row.drug,
    )


def create_session(db: Database, actor: Actor, data: SessionCreate) -> SessionSummary:
    """Schedule a session of an approved plan (one record per plan and session number)."""
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        planned = planned_session(session, data.plan_id, data.session_number)
        if planned.plan_id not in approved_plan_ids(session, planned.patient_id):
            raise ConflictError(f"dose plan {data.plan_id} is not approved", field="plan_id")
        existing = session.execute(
            select(InfusionSession.id).where(
                InfusionSession.plan_id == data.plan_id, InfusionSession.session_number == data.session_number
            )
        ).scalar_one_or_none()
        if existing is not None:
            raise ConflictError(
                f"session {data.session_number} of plan {data.plan_id} already exists (id {existing})",
                field="session_number",
            )
        row = InfusionSession(
            plan_id=planned.plan_id,
            session_number=planned.session_number,
            patient_id=planned.patient_id,
            state=SessionState.SCHEDULED.value,
            scheduled_on=planned.date,
            drug=planned.drug,
            model_key=plan_model_key(planned),
            context_id=planned.context_id,
            concentration_mg_ml=planned.concentration_mg_ml,
            dosing_weight_kg=planned.weight_kg,
            cadence=planned.cadence,
            checkin_json="{}",
            discharge_json="{}",
            created_by=actor.username,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        audit(
            session,
            actor,
            "create",
            "infusion_session",
            row.id,
            {
                "plan_id": {"old": None, "new": row.plan_id},
                "session_number": {"old": None, "new": row.session_number},
                "state": {"old": None, "new": row.state},
            },
        )
        publish(session, LiveEvent("session", row.state, session_id=row.id))
        follow_session(session, actor, row)  # a session of a booked appointment links to it
        return _summary(row, load_patient(session, row.patient_id), actor)


def list_sessions(db: Database, actor: Actor, *, day: date | None = None) -> list[SessionSummary]:
    """Sessions scheduled on `day` (default today) plus every session not yet signed that has begun."""
    require(actor, Permission.SESSIONS_VIEW)
    on = day or date.today()
    with db.transaction() as session:
        rows = session.execute(
            select(InfusionSession, Patient)
            .join(Patient, Patient.id == InfusionSession.patient_id)
            .where(or_(InfusionSession.scheduled_on == on, InfusionSession.state.in_(ACTIVE_STATES)))
            .order_by(InfusionSession.scheduled_on, InfusionSession.id)
        ).all()
        return [_summary(r, p, actor) for r, p in rows]
