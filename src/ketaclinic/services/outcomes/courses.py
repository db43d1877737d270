"""Treatment courses: start, series end and its follow-up schedule, discontinuation.

A patient has at most one open course (series end not recorded, not discontinued); approving a dose
plan opens it or joins it (`course_opening`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.inputs import CleanText, IsoDate, RecordRef
from ketaclinic.outcomes.definitions import DISCONTINUATION_REASONS, followup_policy
from ketaclinic.services.audit import audit, field_changes
from ketaclinic.services.outcomes.course_opening import lock_patient_courses, open_course_row
from ketaclinic.services.outcomes.course_schedule import items_for, reschedule, schedule_lines, sessions_given
from ketaclinic.services.outcomes.link_state import LinkTimes, live_links
from ketaclinic.services.patients.records import load_patient, patient_label
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.versions import ReadVersion, bump, check_version, version_change
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import FollowupItem, TreatmentCourse
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.plans import DosePlanRow

Discontinuation = Literal["none", "lack_of_effect", "adverse_event", "other"]


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), CleanText]


class CourseIn(BaseModel):
    """Start a treatment course; with `series_end` its follow-up items are scheduled at once."""

    model_config = ConfigDict(extra="forbid")
    started_on: IsoDate
    plan_id: RecordRef | None = None
    sessions_planned: int | None = Field(default=None, ge=1, le=100)
    session_dates: list[IsoDate] = Field(default_factory=list, max_length=100)
    series_end: IsoDate | None = None
    endpoint_weeks: int | None = Field(default=None, ge=1, le=104)

    @model_validator(mode="after")
    def _order(self) -> CourseIn:
        if self.series_end is not None and self.series_end < self.started_on:
            raise ValueError("series_end is before started_on")
        if any(d < self.started_on for d in self.session_dates):
            raise ValueError("a session date is before started_on")
        return self


class SeriesEndIn(BaseModel):
    """When a course's series ended and why; without `session_dates` the charted sessions' days are used.

    `version` is the version of the course that was read.
    """

    model_config = ConfigDict(extra="forbid")
    version: ReadVersion
    series_end: IsoDate
    reason: Reason
    session_dates: list[IsoDate] | None = Field(default=None, max_length=100)


class DiscontinuationIn(BaseModel):
    """Why a course stopped (or `none` to clear), with the physician's reason text and the version read."""

    model_config = ConfigDict(extra="forbid")
    version: ReadVersion
    discontinued: Discontinuation
    reason: Reason


class FollowupOut(BaseModel):
    """A follow-up item as staff see it."""

    id: int
    course_id: int
    patient_id: int
    patient: str
    due_on: date
    kind: str
    session_number: int | None
    weeks_after_series: int | None
    instruments: list[str]
    status: str
    overdue: bool
    synthetic: bool
    answered_at: datetime | None = None
    link_issued_at: datetime | None = None
    link_expires_at: datetime | None = None


class CourseOut(BaseModel):
    """A treatment course with its follow-up items; an edit sends back the `version` it read."""

    id: int
    version: int
    patient_id: int
    patient: str
    plan_id: int | None
    started_on: date
    series_end: date | None
    sessions_planned: int | None
    endpoint_weeks: int | None
    discontinued: str
    followups: list[FollowupOut]


class CourseDetail(CourseOut):
    """One course as its page shows it: also the dates of the sessions charted for it."""

    sessions_given: list[date]


def followup_out(
    item: FollowupItem, patient: Patient, actor: Actor, today: date, link: LinkTimes | None
) -> FollowupOut:
    """One follow-up item as the pages and the API show it (with its live link's times, if any)."""
    return FollowupOut(
        id=item.id,
        course_id=item.course_id,
        patient_id=item.patient_id,
        patient=patient_label(patient, actor),
        due_on=item.due_on,
        kind=item.kind,
        session_number=item.session_number,
        weeks_after_series=item.weeks_after_series,
        instruments=item.instruments.split(","),
        status=item.status,
        overdue=item.status == "due" and item.due_on < today,
        synthetic=patient.synthetic,
        answered_at=item.completed_at,
        link_issued_at=link.issued_at if link else None,
        link_expires_at=link.expires_at if link else None,
    )


def _course_out(session: Session, course: TreatmentCourse, patient: Patient, actor: Actor) -> CourseOut:
    today = date.today()
    links = live_links(session, [i.id for i in course.followups])
    return CourseOut(
        id=course.id,
        version=course.version,
        patient_id=course.patient_id,
        patient=patient_label(patient, actor),
        plan_id=course.plan_id,
        started_on=course.started_on,
        series_end=course.series_end,
        sessions_planned=course.sessions_planned,
        endpoint_weeks=course.endpoint_weeks,
        discontinued=course.discontinued,
        followups=[followup_out(i, patient, actor, today, links.get(i.id)) for i in course.followups],
    )


def start_course(
    db: Database, actor: Actor, patient_id: int, data: CourseIn, *, synthetic: bool = False
) -> CourseOut:
    """Open a treatment course; its follow-ups are scheduled when the series end is known.

    Refused while the patient has another open course; asking again for the open course (a double
    click) answers it unchanged.
    """
    require(actor, Permission.OUTCOMES_RECORD)
    with db.transaction() as session:
        patient = load_patient(session, patient_id)
        lock_patient_courses(session, patient.id)
        current = open_course_row(session, patient.id) if data.series_end is None else None
        if current is not None:
            if (current.started_on, current.plan_id) == (data.started_on, data.plan_id):
                return _course_out(session, current, patient, actor)
            raise ConflictError(
                f"treatment course {current.id} (started {current.started_on.isoformat()}) is still open:"
                " end it before opening another",
                field="started_on",
            )
        if data.plan_id is not None:
            # No foreign key on plan_id: the cohort joins it to the patient's sessions, so check it here.
            plan = session.get(DosePlanRow, data.plan_id)
            if plan is None or plan.patient_id != patient.id:
                raise NotFoundError(f"no dose plan {data.plan_id} for this patient", field="plan_id")
        course = TreatmentCourse(
            patient_id=patient.id,
            plan_id=data.plan_id,
            started_on=data.started_on,
            series_end=data.series_end,
            sessions_planned=data.sessions_planned,
            endpoint_weeks=data.endpoint_weeks,
            discontinued="none",
            created_at=utcnow(),
            synthetic=synthetic,
        )
        if data.series_end is not None:
            course.followups = items_for(course, data.series_end, data.session_dates)
        session.add(course)
        session.flush()
        audit(
            session,
            actor,
            "create",
            "treatment_course",
            course.id,
            field_changes(None, data.model_dump(mode="json")) | version_change(None, course),
        )
        return _course_out(session, course, patient, actor)


def course_row(session: Session, course_id: int, *, for_update: bool = False) -> TreatmentCourse:
    """A course; `for_update` locks it until the edit's transaction ends (a concurrent editor waits)."""
    course = session.get(TreatmentCourse, course_id, with_for_update=for_update)
    if course is None:
        raise NotFoundError(f"no treatment course {course_id}", field="course_id")
    return course


def _on_record(course: TreatmentCourse) -> dict[str, Any]:
    """What an edit of a course can change, as audited: series end, follow-up schedule, discontinuation."""
    return {
        "series_end": course.series_end and course.series_end.isoformat(),
        "followups": schedule_lines(course),
        "discontinued": course.discontinued,
    }


def end_series(
    db: Database,
    actor: Actor,
    course_id: int,
    series_end: date,
    session_dates: list[date] | None = None,
    *,
    reason: str,
    version: int,
    today: date | None = None,
) -> CourseOut:
    """End the course: record the series end (with a reason) and (re)schedule the follow-ups still due.

    Answered items stay. Without `session_dates` the days of the sessions charted for the course are
    used. Asking again with the same end (a double click) changes and audits nothing. `version` is the
    course's version the caller read: a stale one changes nothing (StaleVersionError).
    """
    require(actor, Permission.OUTCOMES_RECORD)
    # One day of slack: the server's date and the clinic's can differ around midnight.
    if series_end > (today or date.today()) + timedelta(days=1):
        raise InputError(f"the series end {series_end.isoformat()} is in the future", field="series_end")
    with db.transaction() as session:
        course = course_row(session, course_id, for_update=True)
        on_record = _on_record(course)
        if series_end < course.started_on:
            raise InputError(
                f"the series end is before the course started ({course.started_on.isoformat()})",
                field="series_end",
            )
        if session_dates is None:
            session_dates = sessions_given(session, course)
            late = [d for d in session_dates if d > series_end]
            if late:
                raise InputError(
                    f"a session of this course was given on {late[-1].isoformat()}, after the series end",
                    field="series_end",
                )
        elif any(d < course.started_on for d in session_dates):
            raise InputError("a session date is before the course started", field="session_dates")
        reason = reason.strip()
        if not 1 <= len(reason) <= 500:
            raise InputError("give the reason the course ends (1-500 characters)", field="reason")
        # No flush until the version is checked: a flush would move the version before it is compared.
        with session.no_autoflush:
            old, old_schedule = course.series_end, schedule_lines(course)
            if old != series_end:
                course.series_end = series_end
            reschedule(course, series_end, session_dates)
            patient = load_patient(session, course.patient_id)
            if old == series_end and schedule_lines(course) == old_schedule:
                # A double click (its second request carries the version the first one moved on): no write.
                return _course_out(session, course, patient, actor)
            check_version(session, "treatment_course", course, course.id, version, on_record)
            bump(course)  # the follow-up items are child rows: rescheduling them alone is a write too
        session.flush()
        changes = field_changes(
            {"series_end": old and old.isoformat(), "followups": old_schedule},
            {"series_end": series_end.isoformat(), "followups": schedule_lines(course)},
        )
        changes["session_dates"] = {"old": None, "new": [d.isoformat() for d in sorted(session_dates)]}
        audit(
            session,
            actor,
            "update",
            "treatment_course",
            course.id,
            changes | version_change(version, course),
            reason,
        )
        return _course_out(session, course, patient, actor)


def get_course(db: Database, actor: Actor, course_id: int) -> CourseDetail:
    """One treatment course with its follow-ups and the days of its charted sessions."""
    require(actor, Permission.OUTCOMES_RECORD)
    with db.read() as session:
        course = course_row(session, course_id)
        out = _course_out(session, course, load_patient(session, course.patient_id), actor)
        return CourseDetail(**out.model_dump(), sessions_given=sessions_given(session, course))


def courses_without_series_end(db: Database, actor: Actor) -> list[CourseOut]:
    """Running courses whose series end is not recorded yet (so no follow-up is scheduled), oldest first."""
    require(actor, Permission.OUTCOMES_RECORD)
    with db.read() as session:
        rows = session.execute(
            select(TreatmentCourse, Patient)
            .join(Patient, Patient.id == TreatmentCourse.patient_id)
            .where(TreatmentCourse.is_open)
            .order_by(TreatmentCourse.started_on, TreatmentCourse.id)
        )
        return [_course_out(session, course, patient, actor) for course, patient in rows]


def record_discontinuation(db: Database, actor: Actor, course_id: int, data: DiscontinuationIn) -> CourseOut:
    """A physician records why a course stopped (audited with old, new and reason)."""
    # Only physicians approve plans; the same judgement decides why a course was stopped.
    require(actor, Permission.PLANS_APPROVE)
    assert data.discontinued in DISCONTINUATION_REASONS
    with db.transaction() as session:
        course = course_row(session, course_id, for_update=True)
        check_version(session, "treatment_course", course, course.id, data.version, _on_record(course))
        old = course.discontinued
        course.discontinued = data.discontinued
        course.discontinued_at = None if data.discontinued == "none" else utcnow()
        course.discontinued_by = None if data.discontinued == "none" else actor.user_id
        session.flush()
        changes = field_changes({"discontinued": old}, {"discontinued": data.discontinued})
        audit(
            session,
            actor,
            "update",
            "treatment_course",
            course.id,
            changes | version_change(data.version, course),
            data.reason,
        )
        return _course_out(session, course, load_patient(session, course.patient_id), actor)


def list_courses(db: Database, actor: Actor, patient_id: int) -> list[CourseOut]:
    """A patient's treatment courses with their follow-ups."""
    require(actor, Permission.OUTCOMES_RECORD)
    with db.transaction() as session:
        patient = load_patient(session, patient_id)
        courses = session.execute(
            select(TreatmentCourse)
            .where(TreatmentCourse.patient_id == patient_id)
            .order_by(TreatmentCourse.id)
        ).scalars()
        return [_course_out(session, c, patient, actor) for c in courses]


def schedule_policy() -> dict[str, Any]:
    """The follow-up schedule policy with its source and status (shown on the follow-up page)."""
    return followup_policy()
