"""A patient's open treatment course, and the course an approved dose plan opens or joins."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.services.audit import audit, field_changes
from ketaclinic.services.permissions import Actor
from ketaclinic.store.base import utcnow
from ketaclinic.store.tables.outcomes import TreatmentCourse
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.plans import DosePlanRow


def lock_patient_courses(session: Session, patient_id: int) -> None:
    """Hold the patient's row until commit: two course openings for one patient run one after the other."""
    session.execute(select(Patient.id).where(Patient.id == patient_id).with_for_update())


def open_course_row(session: Session, patient_id: int) -> TreatmentCourse | None:
    """The patient's open course: its series end not recorded and not discontinued (at most one)."""
    return session.execute(
        select(TreatmentCourse)
        .where(
            TreatmentCourse.patient_id == patient_id,
            TreatmentCourse.is_open,
        )
        .order_by(TreatmentCourse.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def open_for_plan(session: Session, actor: Actor, plan: DosePlanRow) -> TreatmentCourse:
    """The course an approved plan belongs to: the patient's open course, else a new one (audited).

    Called in the approval's transaction. A course without a plan, or whose plan was cancelled, takes
    this plan; a course still carrying another approved plan keeps it and counts this plan's sessions by
    their dates (recorded as a join in the audit trail).
    """
    lock_patient_courses(session, plan.patient_id)
    reason = f"dose plan {plan.id} approved"
    course = open_course_row(session, plan.patient_id)
    if course is None:
        patient = session.get(Patient, plan.patient_id)
        assert patient is not None  # the plan's foreign key guarantees it
        course = TreatmentCourse(
            patient_id=plan.patient_id,
            plan_id=plan.id,
            started_on=plan.start_date,
            sessions_planned=plan.session_count,
            discontinued="none",
            created_at=utcnow(),
            synthetic=patient.synthetic,
        )
        session.add(course)
        session.flush()
        opened = {
            "plan_id": plan.id,
            "started_on": plan.start_date.isoformat(),
            "sessions_planned": plan.session_count,
        }
        audit(session, actor, "create", "treatment_course", course.id, field_changes(None, opened), reason)
        return course
    if course.plan_id == plan.id:
        return course
    current = session.get(DosePlanRow, course.plan_id) if course.plan_id is not None else None
    if current is None or current.status == "cancelled":
        old = {"plan_id": course.plan_id, "sessions_planned": course.sessions_planned}
        course.plan_id, course.sessions_planned = plan.id, plan.session_count
        new = {"plan_id": plan.id, "sessions_planned": plan.session_count}
        audit(session, actor, "update", "treatment_course", course.id, field_changes(old, new), reason)
    else:
        joined = {"joined_plan_id": {"old": None, "new": plan.id}}
        audit(session, actor, "join", "treatment_course", course.id, joined, reason)
    return course
