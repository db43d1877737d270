"""A course's follow-up schedule as stored items, and which of the patient's sessions belong to it."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from ketaclinic.outcomes import followup_schedule
from ketaclinic.store.tables.outcomes import FollowupItem, TreatmentCourse
from ketaclinic.store.tables.sessions import InfusionSession


def items_for(course: TreatmentCourse, series_end: date, session_dates: list[date]) -> list[FollowupItem]:
    """The follow-up items `followup_schedule` gives for the course, not yet stored."""
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


def course_sessions(session: Session, course: TreatmentCourse) -> ColumnElement[bool]:
    """Which of the patient's sessions belong to the course: its plan's, and any within its dates.

    A course's dates run from its start until the next course of the patient starts; they catch the
    sessions of a plan that joined the course after the one it names.
    """
    s = InfusionSession
    next_start = session.execute(
        select(func.min(TreatmentCourse.started_on)).where(
            TreatmentCourse.patient_id == course.patient_id,
            TreatmentCourse.started_on > course.started_on,
        )
    ).scalar_one()
    # scheduled_on is the clinic's calendar day (a session is started from that day's board); started_at
    # is UTC and can fall on the neighbouring day.
    within = s.scheduled_on >= course.started_on
    if next_start is not None:
        within = and_(within, s.scheduled_on < next_start)
    belongs = within if course.plan_id is None else or_(s.plan_id == course.plan_id, within)
    return and_(s.patient_id == course.patient_id, belongs)


def sessions_given(session: Session, course: TreatmentCourse) -> list[date]:
    """Days of the course's started sessions."""
    s = InfusionSession
    query = select(s.scheduled_on).where(course_sessions(session, course), s.started_at.is_not(None))
    return sorted(day for (day,) in session.execute(query))


def _contact(kind: str, session_number: int | None, weeks_after_series: int | None) -> tuple[Any, ...]:
    """What identifies one contact of a course's schedule, whatever its due date."""
    return (kind, session_number, weeks_after_series)


def schedule_lines(course: TreatmentCourse) -> list[str]:
    """The course's follow-ups as audited: contact, due day and status."""
    return [
        f"{i.kind} {i.session_number or i.weeks_after_series or ''} due {i.due_on.isoformat()} ({i.status})"
        for i in course.followups
    ]


def reschedule(course: TreatmentCourse, series_end: date, session_dates: list[date]) -> None:
    """Move open items to the new schedule (keeping their ids and links), add new ones, drop the rest.

    Answered items stay as they are and their contacts are not scheduled again.
    """
    wanted = {
        _contact(i.kind, i.session_number, i.weeks_after_series): i
        for i in items_for(course, series_end, session_dates)
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
