"""What a course summary letter to the referring physician and a printable session record say (audited)."""

from __future__ import annotations

import json
from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import select

from ketaclinic.screening.diagnoses import get_diagnosis
from ketaclinic.services.audit import audit
from ketaclinic.services.outcomes.course_view import CourseView, course_view
from ketaclinic.services.outcomes.trajectory import PatientOutcomes, patient_outcomes
from ketaclinic.services.patients.records import ReferrerOut, full_name, load_patient, referrer_out
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.plans.records import plan_row
from ketaclinic.services.sessions.chart import SessionChart, build_chart
from ketaclinic.services.sessions.charting import Config, given_mg, session_row
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import User
from ketaclinic.store.tables.outcomes import ProResponse
from ketaclinic.store.tables.sessions import InfusionSession, SessionAdverseEvent


class LetterSession(BaseModel):
    """One session of the course as the letter lists it."""

    number: int
    on: date
    state: str
    given_mg: float | None


class LetterEvent(BaseModel):
    """An adverse event with how it was managed and how it ended."""

    on: datetime
    session_number: int
    kind: str
    severity: str
    cp_at_onset_ng_ml: float
    action: str
    outcome: str


class CourseLetter(BaseModel):
    """Everything the course summary letter says."""

    course: CourseView
    written_on: date
    author: str
    patient_name: str
    birth_date: date
    mrn: str
    referrer: ReferrerOut | None
    diagnoses: list[str]
    protocol_id: str | None
    planned_sessions: int | None
    planned_total_mg: float | None
    sessions: list[LetterSession]
    total_given_mg: float
    adverse_events: list[LetterEvent]
    outcomes: PatientOutcomes
    pgic: str | None
    synthetic: bool


def _pgic_label(answers_json: str) -> str | None:
    pgic = json.loads(answers_json).get("pgic")
    return str(pgic["label"]) if isinstance(pgic, dict) and "label" in pgic else None


def course_letter(db: Database, actor: Actor, course_id: int, *, format_name: str) -> CourseLetter:
    """The course summary for the patient's referrer: sessions, doses, events, NRS, PGIC, follow-up."""
    require(actor, Permission.PATIENTS_VIEW)
    require(actor, Permission.OUTCOMES_RECORD)  # the course and its answers, as their own pages need
    view = course_view(db, actor, course_id)
    outcomes = patient_outcomes(db, actor, view.patient_id)
    with db.transaction() as session:
        patient = load_patient(session, view.patient_id)
        author = session.execute(select(User.full_name).where(User.username == actor.username)).scalar()
        plan = plan_row(session, view.plan_id) if view.plan_id is not None else None
        sittings = {
            s.id: s
            for s in session.execute(
                select(InfusionSession).where(
                    InfusionSession.id.in_([c.session_id for c in view.sessions if c.session_id is not None])
                )
            ).scalars()
        }
        sessions = [
            LetterSession(
                number=c.number,
                on=c.on,
                state=c.state,
                given_mg=None
                if c.session_id is None or not c.given
                else round(
                    given_mg(session, sittings[c.session_id], sittings[c.session_id].ended_at or utcnow()), 1
                ),
            )
            for c in view.sessions
        ]
        events = [
            LetterEvent(
                on=e.onset_at,
                session_number=sittings[e.session_id].session_number,
                kind=e.kind,
                severity=e.severity,
                cp_at_onset_ng_ml=e.cp_at_onset_ng_ml,
                action=e.action,
                outcome=e.outcome,
            )
            for e in session.execute(
                select(SessionAdverseEvent)
                .where(SessionAdverseEvent.session_id.in_(list(sittings) or [-1]))
                .order_by(SessionAdverseEvent.onset_at)
            ).scalars()
        ]
        latest_pgic = session.execute(
            select(ProResponse.answers_json)
            .where(ProResponse.course_id == course_id, ProResponse.pgic.is_not(None))
            .order_by(ProResponse.collected_at.desc())
        ).first()
        audit(
            session,
            actor,
            "export",
            "treatment_course",
            course_id,
            {
                "format": {"old": None, "new": format_name},
                "deidentified": {"old": None, "new": False},
                "recipient": {"old": None, "new": patient.referrer_name},
            },
        )
        return CourseLetter(
            course=view,
            written_on=date.today(),
            author=author or actor.username,
            patient_name=full_name(patient),
            birth_date=patient.birth_date,
            mrn=patient.mrn,
            referrer=referrer_out(patient),
            diagnoses=[f"{d.code} {get_diagnosis(d.code).label}" for d in patient.diagnoses],
            protocol_id=plan.protocol_id if plan else None,
            planned_sessions=plan.session_count if plan else view.sessions_planned,
            planned_total_mg=plan.series_total_mg if plan else None,
            sessions=sessions,
            total_given_mg=round(sum(s.given_mg or 0.0 for s in sessions), 1),
            adverse_events=events,
            outcomes=outcomes,
            pgic=_pgic_label(latest_pgic[0]) if latest_pgic else None,
            synthetic=patient.synthetic,
        )


def session_record(
    db: Database, actor: Actor, session_id: int, *, config: Config, format_name: str
) -> SessionChart:
    """A session's full chart for its printable record, the export audited in the same transaction."""
    require(actor, Permission.SESSIONS_VIEW)
    with db.transaction() as session:
        row = session_row(session, session_id)
        chart = build_chart(session, actor, row, config, None)
        audit(
            session,
            actor,
            "export",
            "infusion_session",
            row.id,
            {"format": {"old": None, "new": format_name}, "deidentified": {"old": None, "new": False}},
        )
        return chart
