"""How a treatment course reads on the patient page and the course page: its sessions, planned and given."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.services.outcomes.course_schedule import course_sessions
from ketaclinic.services.outcomes.courses import CourseDetail, get_course, list_courses
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.plans.records import plan_row, stored_plan
from ketaclinic.services.scheduling.counts import booked_times, missed_sessions, no_shows_by_plan
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import TreatmentCourse
from ketaclinic.store.tables.sessions import InfusionSession


class CourseSession(BaseModel):
    """One session of a course: booked or given (with its state), or still only planned by its plan."""

    plan_id: int
    number: int
    on: date
    at: datetime | None = None  # the booked arrival, when an appointment holds the session
    state: str
    session_id: int | None
    given: bool


class CourseView(CourseDetail):
    """A course with its sessions, planned and given, and whether it is still open."""

    open: bool
    sessions: list[CourseSession]
    no_shows: int = 0  # appointments of the course's plan the patient did not come to


def _sessions(session: Session, course: TreatmentCourse) -> list[CourseSession]:
    """The course's sessions on record, then its plan's sessions not yet made, each on the day its
    appointment holds (its date and time) or else its plan's planned day.

    Those not made are "planned" while the course is open, "not_given" once it ended or was discontinued.
    """
    s = InfusionSession
    times: dict[int, dict[int, datetime]] = {}

    def held(plan_id: int, number: int) -> datetime | None:
        if plan_id not in times:
            times[plan_id] = booked_times(session, plan_id)
        return times[plan_id].get(number)

    booked = []
    for row in session.execute(select(s).where(course_sessions(session, course))).scalars():
        at = held(row.plan_id, row.session_number)
        booked.append(
            CourseSession(
                plan_id=row.plan_id,
                number=row.session_number,
                on=at.astimezone().date() if at is not None else row.scheduled_on,
                at=at,
                state=row.state,
                session_id=row.id,
                given=row.started_at is not None,
            )
        )
    if course.plan_id is not None:
        plan = plan_row(session, course.plan_id)
        if plan.status == "approved":
            taken = {(b.plan_id, b.number) for b in booked}
            state = "planned" if course.is_open else "not_given"
            missed = missed_sessions(session, plan.id)
            for n, p in enumerate(stored_plan(plan).sessions, start=1):
                if (plan.id, n) in taken:
                    continue
                at = held(plan.id, n)
                booked.append(
                    CourseSession(
                        plan_id=plan.id,
                        number=n,
                        on=at.astimezone().date() if at is not None else p.date,  # local clinic day
                        at=at,
                        state="booked" if at is not None else "no_show" if n in missed else state,
                        session_id=None,
                        given=False,
                    )
                )
    return sorted(booked, key=lambda x: (x.on, x.plan_id, x.number))


def _view(session: Session, detail: CourseDetail) -> CourseView:
    course = session.get(TreatmentCourse, detail.id)
    assert course is not None  # just read by the caller
    return CourseView(
        **detail.model_dump(),
        open=course.is_open,
        sessions=_sessions(session, course),
        no_shows=0 if course.plan_id is None else no_shows_by_plan(session)[course.plan_id],
    )


def course_view(db: Database, actor: Actor, course_id: int) -> CourseView:
    """One course for its page."""
    detail = get_course(db, actor, course_id)
    with db.read() as session:
        return _view(session, detail)


def patient_course_views(db: Database, actor: Actor, patient_id: int) -> list[CourseView]:
    """A patient's courses for the patient page: the open one first, then the latest started."""
    require(actor, Permission.OUTCOMES_RECORD)
    details = [get_course(db, actor, c.id) for c in list_courses(db, actor, patient_id)]
    with db.read() as session:
        views = [_view(session, d) for d in details]
    return sorted(views, key=lambda v: (v.open, v.started_on, v.id), reverse=True)
