"""Outcomes use cases: treatment courses, follow-up schedule, PRO entry (staff or one-time link), rates."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session, aliased

from ketaclinic.errors import ConflictError, GoneError, InputError, NotFoundError
from ketaclinic.outcomes import (
    evaluate_responders,
    followup_schedule,
    get_definition,
    nrs_rating,
    score_bpi,
    score_gad7,
    score_pgic,
    score_phq9,
)
from ketaclinic.outcomes.definitions import DEFAULT_DEFINITION, DISCONTINUATION_REASONS, followup_policy
from ketaclinic.screening import ClinicRate
from ketaclinic.services.audit import audit, field_changes
from ketaclinic.services.cohort import course_facts
from ketaclinic.services.patients import get_patient_row
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.audit import canonical_json
from ketaclinic.store.base import is_future, utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import FollowupItem, ProLink, ProResponse, TreatmentCourse
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.plans import DosePlanRow
from ketaclinic.store.tables.sessions import InfusionSession

LINK_TTL_DAYS_DEFAULT = 7
LINK_TTL_DAYS_MAX = 30
Timepoint = Literal["baseline", "after_session", "after_series", "unscheduled"]
Discontinuation = Literal["none", "lack_of_effect", "adverse_event", "other"]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class LinkGoneError(GoneError):
    """A one-time link that has expired or was already used."""


# --- inputs -------------------------------------------------------------------------------------------


class CourseIn(BaseModel):
    """Start a treatment course; with `series_end` its follow-up items are scheduled at once."""

    model_config = ConfigDict(extra="forbid")
    started_on: date
    plan_id: int | None = None
    sessions_planned: int | None = Field(default=None, ge=1, le=100)
    session_dates: list[date] = Field(default_factory=list, max_length=100)
    series_end: date | None = None
    endpoint_weeks: int | None = Field(default=None, ge=1, le=104)

    @model_validator(mode="after")
    def _order(self) -> CourseIn:
        if self.series_end is not None and self.series_end < self.started_on:
            raise ValueError("series_end is before started_on")
        if any(d < self.started_on for d in self.session_dates):
            raise ValueError("a session date is before started_on")
        return self


class SeriesEndIn(BaseModel):
    """When a course's series ended; without `session_dates` the charted sessions' dates are used."""

    model_config = ConfigDict(extra="forbid")
    series_end: date
    session_dates: list[date] | None = Field(default=None, max_length=100)


class NrsIn(BaseModel):
    """Pain NRS answers (0-10) over one recall period."""

    model_config = ConfigDict(extra="forbid")
    recall: Literal["now", "24h", "7d"] = "24h"
    now: float | None = None
    average: float | None = None
    worst: float | None = None


class BpiIn(BaseModel):
    """BPI short form answers by item name."""

    model_config = ConfigDict(extra="forbid")
    severity: dict[str, float | None] = Field(default_factory=dict)
    interference: dict[str, float | None] = Field(default_factory=dict)


class Answers(BaseModel):
    """The questionnaire answers a patient or staff member gives (each instrument optional)."""

    model_config = ConfigDict(extra="forbid")
    nrs: NrsIn | None = None
    pgic: int | None = None
    bpi: BpiIn | None = None
    phq9: list[int] | None = None
    gad7: list[int] | None = None


class ProIn(Answers):
    """A PRO entered by staff: the answers plus when and for which course or follow-up item."""

    course_id: int | None = None
    followup_item_id: int | None = None
    timepoint: Timepoint = "unscheduled"
    weeks_after_series: int | None = Field(default=None, ge=0, le=520)
    collected_at: datetime | None = None


class DiscontinuationIn(BaseModel):
    """Why a course stopped (or `none` to clear), with the physician's reason text."""

    model_config = ConfigDict(extra="forbid")
    discontinued: Discontinuation
    reason: Reason


class LinkIn(BaseModel):
    """Issue a one-time questionnaire link for a due follow-up item."""

    model_config = ConfigDict(extra="forbid")
    followup_item_id: int
    ttl_days: int = Field(default=LINK_TTL_DAYS_DEFAULT, ge=1, le=LINK_TTL_DAYS_MAX)


# --- outputs ------------------------------------------------------------------------------------------


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


class CourseOut(BaseModel):
    """A treatment course with its follow-up items."""

    id: int
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


class ProOut(BaseModel):
    """A stored PRO with its scores and codes."""

    id: int
    patient_id: int
    course_id: int | None
    followup_item_id: int | None
    timepoint: str
    weeks_after_series: int | None
    collected_at: datetime
    via: str
    pain_nrs: float | None
    scores: dict[str, Any]


class LinkOut(BaseModel):
    """A freshly issued link: the token is shown once, only its hash is stored."""

    token: str
    path: str
    expires_at: datetime
    followup_item_id: int


class LinkView(BaseModel):
    """What the patient's questionnaire page may show: a first name at most, the instruments."""

    first_name: str
    instruments: list[str]
    expires_at: datetime


# --- scoring ------------------------------------------------------------------------------------------


def score_answers(answers: Answers) -> tuple[dict[str, Any], dict[str, Any]]:
    """Score every given instrument with the pure scorers: (column values, JSON document with LOINC codes)."""
    columns: dict[str, Any] = {}
    document: dict[str, Any] = {}
    if answers.nrs is not None:
        ratings = {
            kind: nrs_rating(value, kind=kind, recall=answers.nrs.recall)
            for kind in ("now", "average", "worst")
            if (value := getattr(answers.nrs, kind)) is not None
        }
        if not ratings:
            raise InputError("give at least one pain rating (now, average or worst)", field="nrs")
        for kind, rating in ratings.items():
            columns[f"nrs_{kind}"] = rating.value
        columns["nrs_recall"] = answers.nrs.recall
        primary = ratings.get("average") or ratings.get("now") or ratings["worst"]
        columns["pain_nrs"] = primary.value
        document["nrs"] = {
            "loinc": primary.loinc,
            "recall": answers.nrs.recall,
            **{k: r.value for k, r in ratings.items()},
        }
    if answers.pgic is not None:
        pgic = score_pgic(answers.pgic)
        columns["pgic"] = pgic.level
        document["pgic"] = {"level": pgic.level, "label": pgic.label, "improved": pgic.improved}
    if answers.bpi is not None:
        bpi = score_bpi(answers.bpi.severity, answers.bpi.interference)
        columns["bpi_severity"], columns["bpi_interference"] = bpi.severity, bpi.interference
        document["bpi"] = {
            "severity": bpi.severity,
            "interference": bpi.interference,
            "items": answers.bpi.model_dump(),
        }
    for name, scorer in (("phq9", score_phq9), ("gad7", score_gad7)):
        items = getattr(answers, name)
        if items is not None:
            score = scorer(items)
            columns[f"{name}_total"] = score.total
            document[name] = {"loinc": score.loinc, "total": score.total, "band": score.band, "items": items}
    if not document:
        raise InputError("no answers given", field="nrs")
    return columns, document


def _pro_out(row: ProResponse) -> ProOut:
    return ProOut(
        id=row.id,
        patient_id=row.patient_id,
        course_id=row.course_id,
        followup_item_id=row.followup_item_id,
        timepoint=row.timepoint,
        weeks_after_series=row.weeks_after_series,
        collected_at=row.collected_at,
        via=row.via,
        pain_nrs=row.pain_nrs,
        scores=json.loads(row.answers_json),
    )


# --- courses and schedule -----------------------------------------------------------------------------


def _items_for(course: TreatmentCourse, series_end: date, session_dates: list[date]) -> list[FollowupItem]:
    return [
        FollowupItem(
            patient_id=course.patient_id,
            due_on=f.due,
            kind=f.kind,
            session_number=f.session_number,
            weeks_after_series=f.weeks_after_series,
            instruments=",".join(f.instruments),
            status="due",
        )
        for f in followup_schedule(series_end, session_dates)
    ]


def _name(patient: Patient, actor: Actor) -> str:
    return f"{patient.given_name} {patient.family_name}" if actor.sees_identities else patient.pseudonym


def _followup_out(item: FollowupItem, patient: Patient, actor: Actor, today: date) -> FollowupOut:
    return FollowupOut(
        id=item.id,
        course_id=item.course_id,
        patient_id=item.patient_id,
        patient=_name(patient, actor),
        due_on=item.due_on,
        kind=item.kind,
        session_number=item.session_number,
        weeks_after_series=item.weeks_after_series,
        instruments=item.instruments.split(","),
        status=item.status,
        overdue=item.status == "due" and item.due_on < today,
        synthetic=patient.synthetic,
    )


def _course_out(course: TreatmentCourse, patient: Patient, actor: Actor) -> CourseOut:
    today = date.today()
    return CourseOut(
        id=course.id,
        patient_id=course.patient_id,
        patient=_name(patient, actor),
        plan_id=course.plan_id,
        started_on=course.started_on,
        series_end=course.series_end,
        sessions_planned=course.sessions_planned,
        endpoint_weeks=course.endpoint_weeks,
        discontinued=course.discontinued,
        followups=[_followup_out(i, patient, actor, today) for i in course.followups],
    )


def start_course(
    db: Database, actor: Actor, patient_id: int, data: CourseIn, *, synthetic: bool = False
) -> CourseOut:
    """Open a treatment course; its follow-ups are scheduled when the series end is known."""
    require(actor, Permission.OUTCOMES_RECORD)
    with db.transaction() as session:
        patient = get_patient_row(session, patient_id)
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
            course.followups = _items_for(course, data.series_end, data.session_dates)
        session.add(course)
        session.flush()
        audit(
            session,
            actor,
            "create",
            "treatment_course",
            course.id,
            field_changes(None, data.model_dump(mode="json")),
        )
        return _course_out(course, patient, actor)


def _course(session: Session, course_id: int) -> TreatmentCourse:
    course = session.get(TreatmentCourse, course_id)
    if course is None:
        raise NotFoundError(f"no treatment course {course_id}", field="course_id")
    return course


def _sessions_given(session: Session, course: TreatmentCourse) -> list[date]:
    """Days of the course's started sessions: its plan's, else the patient's until the next course."""
    s = InfusionSession
    # scheduled_on is the clinic's calendar day (a session is started from that day's board); started_at
    # is UTC and can fall on the neighbouring day.
    query = select(s.scheduled_on).where(s.patient_id == course.patient_id, s.started_at.is_not(None))
    if course.plan_id is not None:
        query = query.where(s.plan_id == course.plan_id)
    else:
        next_start = session.execute(
            select(func.min(TreatmentCourse.started_on)).where(
                TreatmentCourse.patient_id == course.patient_id,
                TreatmentCourse.started_on > course.started_on,
            )
        ).scalar_one()
        query = query.where(s.scheduled_on >= course.started_on)
        if next_start is not None:
            query = query.where(s.scheduled_on < next_start)
    return sorted(day for (day,) in session.execute(query))


def _contact(kind: str, session_number: int | None, weeks_after_series: int | None) -> tuple[Any, ...]:
    """What identifies one contact of a course's schedule, whatever its due date."""
    return (kind, session_number, weeks_after_series)


def _schedule(course: TreatmentCourse) -> list[str]:
    """The course's follow-ups as audited: contact, due day and status."""
    return [
        f"{i.kind} {i.session_number or i.weeks_after_series or ''} due {i.due_on.isoformat()} ({i.status})"
        for i in course.followups
    ]


def _reschedule(course: TreatmentCourse, series_end: date, session_dates: list[date]) -> None:
    """Move open items to the new schedule (keeping their ids and links), add new ones, drop the rest.

    Answered items stay as they are and their contacts are not scheduled again.
    """
    wanted = {
        _contact(i.kind, i.session_number, i.weeks_after_series): i
        for i in _items_for(course, series_end, session_dates)
    }
    answered = [i for i in course.followups if i.status != "due"]
    for item in answered:
        wanted.pop(_contact(item.kind, item.session_number, item.weeks_after_series), None)
    kept = list(answered)
    for item in course.followups:
        if item.status != "due":
            continue
        new = wanted.pop(_contact(item.kind, item.session_number, item.weeks_after_series), None)
        if new is not None:  # otherwise the contact left the schedule: the item is deleted (orphan)
            item.due_on, item.instruments = new.due_on, new.instruments
            kept.append(item)
    course.followups = sorted([*kept, *wanted.values()], key=lambda i: (i.due_on, i.kind))


def end_series(
    db: Database,
    actor: Actor,
    course_id: int,
    series_end: date,
    session_dates: list[date] | None = None,
    *,
    today: date | None = None,
) -> CourseOut:
    """Record the series end and (re)schedule the follow-ups still due; answered items stay.

    Without `session_dates` the days of the sessions charted for the course are used.
    """
    require(actor, Permission.OUTCOMES_RECORD)
    # One day of slack: the server's date and the clinic's can differ around midnight.
    if series_end > (today or date.today()) + timedelta(days=1):
        raise InputError(f"the series end {series_end.isoformat()} is in the future", field="series_end")
    with db.transaction() as session:
        course = _course(session, course_id)
        if series_end < course.started_on:
            raise InputError(
                f"the series end is before the course started ({course.started_on.isoformat()})",
                field="series_end",
            )
        if session_dates is None:
            session_dates = _sessions_given(session, course)
            late = [d for d in session_dates if d > series_end]
            if late:
                raise InputError(
                    f"a session of this course was given on {late[-1].isoformat()}, after the series end",
                    field="series_end",
                )
        elif any(d < course.started_on for d in session_dates):
            raise InputError("a session date is before the course started", field="session_dates")
        old, old_schedule = course.series_end, _schedule(course)
        course.series_end = series_end
        _reschedule(course, series_end, session_dates)
        session.flush()
        changes = field_changes(
            {"series_end": old and old.isoformat(), "followups": old_schedule},
            {"series_end": series_end.isoformat(), "followups": _schedule(course)},
        )
        changes["session_dates"] = {"old": None, "new": [d.isoformat() for d in sorted(session_dates)]}
        audit(session, actor, "update", "treatment_course", course.id, changes)
        return _course_out(course, get_patient_row(session, course.patient_id), actor)


def get_course(db: Database, actor: Actor, course_id: int) -> CourseDetail:
    """One treatment course with its follow-ups and the days of its charted sessions."""
    require(actor, Permission.OUTCOMES_RECORD)
    with db.read() as session:
        course = _course(session, course_id)
        out = _course_out(course, get_patient_row(session, course.patient_id), actor)
        return CourseDetail(**out.model_dump(), sessions_given=_sessions_given(session, course))


def courses_without_series_end(db: Database, actor: Actor) -> list[CourseOut]:
    """Running courses whose series end is not recorded yet (so no follow-up is scheduled), oldest first."""
    require(actor, Permission.OUTCOMES_RECORD)
    with db.read() as session:
        rows = session.execute(
            select(TreatmentCourse, Patient)
            .join(Patient, Patient.id == TreatmentCourse.patient_id)
            .where(TreatmentCourse.series_end.is_(None), TreatmentCourse.discontinued == "none")
            .order_by(TreatmentCourse.started_on, TreatmentCourse.id)
        )
        return [_course_out(course, patient, actor) for course, patient in rows]


def record_discontinuation(db: Database, actor: Actor, course_id: int, data: DiscontinuationIn) -> CourseOut:
    """A physician records why a course stopped (audited with old, new and reason)."""
    # Only physicians approve plans; the same judgement decides why a course was stopped.
    require(actor, Permission.PLANS_APPROVE)
    assert data.discontinued in DISCONTINUATION_REASONS
    with db.transaction() as session:
        course = _course(session, course_id)
        old = course.discontinued
        course.discontinued = data.discontinued
        course.discontinued_at = None if data.discontinued == "none" else utcnow()
        course.discontinued_by = None if data.discontinued == "none" else actor.user_id
        session.flush()
        changes = field_changes({"discontinued": old}, {"discontinued": data.discontinued})
        audit(session, actor, "update", "treatment_course", course.id, changes, data.reason)
        return _course_out(course, get_patient_row(session, course.patient_id), actor)


def list_courses(db: Database, actor: Actor, patient_id: int) -> list[CourseOut]:
    """A patient's treatment courses with their follow-ups."""
    require(actor, Permission.OUTCOMES_RECORD)
    with db.transaction() as session:
        patient = get_patient_row(session, patient_id)
        courses = session.execute(
            select(TreatmentCourse)
            .where(TreatmentCourse.patient_id == patient_id)
            .order_by(TreatmentCourse.id)
        ).scalars()
        return [_course_out(c, patient, actor) for c in courses]


def due_followups(
    db: Database, actor: Actor, *, today: date | None = None, horizon_days: int = 7
) -> list[FollowupOut]:
    """Open follow-ups due by `today + horizon_days` (overdue first) of running courses, unless superseded."""
    require(actor, Permission.OUTCOMES_RECORD)
    if not 0 <= horizon_days <= 90:
        raise InputError("horizon_days must be 0-90", field="horizon_days")
    today = today or date.today()
    later = aliased(FollowupItem)
    # An open item is superseded once a later contact of the same course has been answered.
    answered_later = (
        select(later.id)
        .where(
            later.course_id == FollowupItem.course_id,
            later.due_on > FollowupItem.due_on,
            later.status == "completed",
        )
        .exists()
    )
    with db.transaction() as session:
        rows = session.execute(
            select(FollowupItem, Patient)
            .join(Patient, Patient.id == FollowupItem.patient_id)
            .join(TreatmentCourse, TreatmentCourse.id == FollowupItem.course_id)
            .where(
                FollowupItem.status == "due",
                FollowupItem.due_on <= today + timedelta(days=horizon_days),
                TreatmentCourse.discontinued == "none",
                ~answered_later,
            )
            .order_by(FollowupItem.due_on, FollowupItem.id)
        )
        return [_followup_out(item, patient, actor, today) for item, patient in rows]


# --- PRO entry ----------------------------------------------------------------------------------------


def _store_pro(
    session: Session,
    patient_id: int,
    columns: dict[str, Any],
    document: dict[str, Any],
    *,
    course_id: int | None,
    item: FollowupItem | None,
    timepoint: str,
    weeks_after_series: int | None,
    collected_at: datetime,
    via: str,
    entered_by: int | None,
    synthetic: bool,
) -> ProResponse:
    if item is not None:
        if item.status != "due":
            raise ConflictError(
                f"follow-up item {item.id} is already {item.status}", field="followup_item_id"
            )
        course_id, timepoint, weeks_after_series = item.course_id, item.kind, item.weeks_after_series
        item.status, item.completed_at = "completed", collected_at
    row = ProResponse(
        patient_id=patient_id,
        course_id=course_id,
        followup_item_id=item.id if item else None,
        timepoint=timepoint,
        weeks_after_series=weeks_after_series,
        collected_at=collected_at,
        via=via,
        entered_by=entered_by,
        answers_json=canonical_json(document),
        synthetic=synthetic,
        **columns,
    )
    session.add(row)
    session.flush()
    return row


def record_pro(
    db: Database, actor: Actor, patient_id: int, data: ProIn, *, synthetic: bool = False
) -> ProOut:
    """Staff enter a patient's questionnaire answers (scored, coded, audited)."""
    require(actor, Permission.OUTCOMES_RECORD)
    columns, document = score_answers(data)
    collected_at = data.collected_at or utcnow()
    if collected_at.tzinfo is None:
        raise InputError("collected_at needs a time zone", field="collected_at")
    if is_future(collected_at):
        raise InputError("collected_at is in the future", field="collected_at")
    if data.timepoint == "after_series" and data.weeks_after_series is None and data.followup_item_id is None:
        raise InputError("an after-series PRO needs weeks_after_series", field="weeks_after_series")
    with db.transaction() as session:
        patient = get_patient_row(session, patient_id)
        item = None
        if data.followup_item_id is not None:
            item = session.get(FollowupItem, data.followup_item_id)
            if item is None or item.patient_id != patient.id:
                raise NotFoundError(f"no follow-up item {data.followup_item_id} for this patient")
        if data.course_id is not None and _course(session, data.course_id).patient_id != patient.id:
            raise NotFoundError(f"no treatment course {data.course_id} for this patient", field="course_id")
        if item is None and data.course_id is not None and data.timepoint == "after_series":
            # An answer for a scheduled week completes that week's open item.
            item = session.execute(
                select(FollowupItem).where(
                    FollowupItem.course_id == data.course_id,
                    FollowupItem.weeks_after_series == data.weeks_after_series,
                    FollowupItem.status == "due",
                )
            ).scalar_one_or_none()
        row = _store_pro(
            session,
            patient.id,
            columns,
            document,
            course_id=data.course_id,
            item=item,
            timepoint=data.timepoint,
            weeks_after_series=data.weeks_after_series,
            collected_at=collected_at,
            via="staff",
            entered_by=actor.user_id,
            synthetic=synthetic,
        )
        audit(session, actor, "create", "pro_response", row.id, {"scores": {"old": None, "new": document}})
        return _pro_out(row)


def list_pros(db: Database, actor: Actor, patient_id: int) -> list[ProOut]:
    """A patient's PROs, oldest first."""
    require(actor, Permission.OUTCOMES_RECORD)
    with db.transaction() as session:
        get_patient_row(session, patient_id)
        rows = session.execute(
            select(ProResponse).where(ProResponse.patient_id == patient_id).order_by(ProResponse.collected_at)
        ).scalars()
        return [_pro_out(r) for r in rows]


# --- one-time links -----------------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(db: Database, actor: Actor, data: LinkIn) -> LinkOut:
    """A one-time questionnaire link for a due item (shown once to copy; nothing is sent)."""
    require(actor, Permission.OUTCOMES_RECORD)
    token = secrets.token_urlsafe(24)
    with db.transaction() as session:
        item = session.get(FollowupItem, data.followup_item_id)
        if item is None:
            raise NotFoundError(f"no follow-up item {data.followup_item_id}", field="followup_item_id")
        if item.status != "due":
            raise ConflictError(
                f"follow-up item {item.id} is already {item.status}", field="followup_item_id"
            )
        now = utcnow()
        link = ProLink(
            token_sha256=_hash(token),
            patient_id=item.patient_id,
            followup_item_id=item.id,
            instruments=item.instruments,
            created_at=now,
            created_by=actor.user_id,
            expires_at=now + timedelta(days=data.ttl_days),
        )
        session.add(link)
        session.flush()
        audit(
            session,
            actor,
            "create",
            "pro_link",
            link.id,
            {
                "followup_item_id": {"old": None, "new": item.id},
                "expires_at": {"old": None, "new": link.expires_at.isoformat()},
            },
        )
        return LinkOut(token=token, path=f"/r/{token}", expires_at=link.expires_at, followup_item_id=item.id)


def _open(session: Session, token: str) -> tuple[ProLink, FollowupItem | None]:
    if not 16 <= len(token) <= 64:
        raise NotFoundError("this link is not known")
    link = session.execute(select(ProLink).where(ProLink.token_sha256 == _hash(token))).scalar_one_or_none()
    if link is None:
        raise NotFoundError("this link is not known")
    if link.used_at is not None:
        raise LinkGoneError("this link has already been used")
    if link.expires_at <= utcnow():
        raise LinkGoneError("this link has expired")
    item = session.get(FollowupItem, link.followup_item_id) if link.followup_item_id else None
    if item is not None and item.status != "due":
        raise LinkGoneError("this questionnaire has already been answered")
    return link, item


def view_link(db: Database, token: str) -> LinkView:
    """What the patient's link shows: a first name and the questionnaire (no login)."""
    with db.transaction() as session:
        link, _item = _open(session, token)
        patient = session.get(Patient, link.patient_id)
        assert patient is not None  # the foreign key guarantees it
        return LinkView(
            first_name=patient.given_name, instruments=link.instruments.split(","), expires_at=link.expires_at
        )


def submit_link(db: Database, token: str, answers: Answers) -> int:
    """The patient answers through the link; the link is spent in the same transaction."""
    columns, document = score_answers(answers)
    with db.transaction() as session:
        link, item = _open(session, token)
        now = utcnow()
        # Compare-and-swap: of two concurrent submissions only one finds used_at still empty (on
        # PostgreSQL the second waits for the first's row lock, then re-reads the condition).
        spent: CursorResult[Any] = session.execute(  # type: ignore[assignment]  # DML answers a CursorResult
            update(ProLink)
            .where(ProLink.id == link.id, ProLink.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if spent.rowcount != 1:
            raise LinkGoneError("this link has already been used")
        patient = session.get(Patient, link.patient_id)
        assert patient is not None
        row = _store_pro(
            session,
            link.patient_id,
            columns,
            document,
            course_id=item.course_id if item else None,
            item=item,
            timepoint="unscheduled",
            weeks_after_series=None,
            collected_at=now,
            via="link",
            entered_by=None,
            synthetic=patient.synthetic,
        )
        patient_actor = Actor(user_id=None, username=f"patient-link:{link.id}", role=None)
        audit(
            session,
            patient_actor,
            "create",
            "pro_response",
            row.id,
            {"scores": {"old": None, "new": document}},
        )
        return row.id


# --- clinic rates -------------------------------------------------------------------------------------


def clinic_response_rates(session: Session, definition_id: str = DEFAULT_DEFINITION) -> dict[str, ClinicRate]:
    """The clinic's own responders per diagnosis group, from its recorded outcomes (evaluable courses)."""
    facts = [f for f in course_facts(session) if f.evaluable]
    if not facts:
        return {}
    result = evaluate_responders(
        get_definition(definition_id),
        np.array([np.nan if f.baseline_nrs is None else f.baseline_nrs for f in facts], dtype=np.float64),
        np.array([np.nan if f.followup_nrs is None else f.followup_nrs for f in facts], dtype=np.float64),
        [f.discontinued for f in facts],
    )
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for fact, responder in zip(facts, result.responder.tolist(), strict=True):
        counts[fact.group][0] += 1
        counts[fact.group][1] += int(responder)
    return {group: ClinicRate(n=n, responders=r) for group, (n, r) in sorted(counts.items())}


def pgic_labels() -> list[str]:
    """The PGIC anchors, level 1 first (shown on the questionnaire)."""
    return [score_pgic(level).label for level in range(1, 8)]


def schedule_policy() -> dict[str, Any]:
    """The follow-up schedule policy with its source and status (shown on the follow-up page)."""
    return followup_policy()
