"""Recording a series end: follow-ups scheduled or moved, answered ones kept, charted sessions used."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from ketaclinic.errors import InputError, NotFoundError, PermissionDeniedError
from ketaclinic.services.outcomes.courses import (
    CourseIn,
    courses_without_series_end,
    end_series,
    get_course,
    start_course,
)
from ketaclinic.services.outcomes.links import LinkIn, issue_link, view_link
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.store.db import Database
from ketaclinic.store.tables.plans import DosePlanRow
from ketaclinic.store.tables.sessions import InfusionSession
from tests.audit_support import latest_event
from tests.services.sessions_support import approved_plan
from tests.services.test_outcomes_service import make_patient, treated

WEEKS = [1, 2, 4, 8, 12]


def _open_course(db: Database, nurse: Actor, mrn: str, started_on: date, plan_id: int | None = None) -> int:
    pid = make_patient(db, nurse, mrn) if plan_id is None else _plan_patient(db, plan_id)
    course = start_course(db, nurse, pid, CourseIn(started_on=started_on, plan_id=plan_id))
    assert course.followups == [] and course.series_end is None
    return course.id


def _plan_patient(db: Database, plan_id: int) -> int:
    with db.transaction() as session:
        return session.execute(select(DosePlanRow.patient_id).where(DosePlanRow.id == plan_id)).scalar_one()


def _charted(db: Database, staff: dict[str, Actor], plan_id: int, days: list[date], *, started: int) -> None:
    """Sessions of the plan on the given days; the first `started` of them were given (started_at set).

    The calendar is moved back by SQL: the services chart in the present, and these days are weeks past.
    """
    for number, day in enumerate(days, start=1):
        created = create_session(db, staff["nurse"], SessionCreate(plan_id=plan_id, session_number=number))
        at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9)
        with db.transaction() as session:
            session.execute(
                update(InfusionSession)
                .where(InfusionSession.id == created.id)
                .values(scheduled_on=day, started_at=at if number <= started else None)
            )


def test_a_course_started_without_a_series_end_gets_its_follow_ups(
    db: Database, staff: dict[str, Actor]
) -> None:
    start = date.today() - timedelta(days=20)
    course_id = _open_course(db, staff["nurse"], "E1", start)
    assert [c.id for c in courses_without_series_end(db, staff["nurse"])] == [course_id]
    end = start + timedelta(days=14)
    course = end_series(db, staff["nurse"], course_id, end, version=1)
    assert course.series_end == end
    assert [(f.kind, f.weeks_after_series) for f in course.followups] == [("after_series", w) for w in WEEKS]
    assert [f.due_on for f in course.followups] == [end + timedelta(weeks=w) for w in WEEKS]
    assert courses_without_series_end(db, staff["nurse"]) == []
    event = latest_event(db, "treatment_course")
    assert event is not None and event.action == "update" and event.actor == "nurse"
    changes = json.loads(event.changes_json)
    assert changes["series_end"] == {"old": None, "new": end.isoformat()}
    assert changes["session_dates"]["new"] == []


def test_a_new_series_end_moves_open_items_and_keeps_answered_ones(
    db: Database, staff: dict[str, Actor]
) -> None:
    old_end = date.today() - timedelta(weeks=3)
    course = treated(db, staff["nurse"], "E2", 8, {1: 3}, series_end=old_end)
    before = {(f.kind, f.session_number, f.weeks_after_series): f for f in course.followups}
    week2 = before[("after_series", None, 2)]
    link = issue_link(db, staff["nurse"], LinkIn(followup_item_id=week2.id))
    new_end = old_end + timedelta(days=3)
    sessions = [new_end - timedelta(days=14), new_end - timedelta(days=7), new_end]
    after = end_series(db, staff["physician"], course.id, new_end, sessions, version=course.version)
    by_contact = {(f.kind, f.session_number, f.weeks_after_series): f for f in after.followups}
    assert len(by_contact) == len(after.followups) == len(course.followups)  # nothing scheduled twice
    week1 = by_contact[("after_series", None, 1)]
    assert week1.status == "completed" and week1.due_on == old_end + timedelta(weeks=1)  # answered: stays
    moved = by_contact[("after_series", None, 2)]
    assert moved.id == week2.id and moved.status == "due" and moved.due_on == new_end + timedelta(weeks=2)
    assert view_link(db, link.token).instruments == moved.instruments  # the issued link still works
    assert by_contact[("after_session", 3, None)].due_on == new_end + timedelta(days=1)
    assert [f.due_on for f in after.followups] == sorted(f.due_on for f in after.followups)


def test_session_days_come_from_the_charted_sessions(db: Database, staff: dict[str, Actor]) -> None:
    plan_id = approved_plan(db, staff, mrn="E3")
    start = date.today() - timedelta(days=30)
    days = [start, start + timedelta(days=7), start + timedelta(days=14)]
    _charted(db, staff, plan_id, days, started=2)  # the third was never given
    course_id = _open_course(db, staff["nurse"], "E3", start, plan_id=plan_id)
    assert get_course(db, staff["nurse"], course_id).sessions_given == days[:2]
    course = end_series(db, staff["nurse"], course_id, days[1], version=1)
    checks = [(f.session_number, f.due_on) for f in course.followups if f.kind == "after_session"]
    assert checks == [(1, days[0] + timedelta(days=1)), (2, days[1] + timedelta(days=1))]
    with pytest.raises(InputError) as caught:  # a session given after the end it names
        end_series(db, staff["nurse"], course_id, days[0], version=course.version)
    assert caught.value.field == "series_end" and days[1].isoformat() in caught.value.message


def test_without_a_plan_the_patients_sessions_until_the_next_course_count(
    db: Database, staff: dict[str, Actor]
) -> None:
    plan_id = approved_plan(db, staff, mrn="E4")
    pid = _plan_patient(db, plan_id)
    start = date.today() - timedelta(days=60)
    days = [start - timedelta(days=7), start, start + timedelta(days=7), start + timedelta(days=40)]
    _charted(db, staff, plan_id, days, started=4)
    first = start_course(db, staff["nurse"], pid, CourseIn(started_on=start))
    start_course(db, staff["nurse"], pid, CourseIn(started_on=start + timedelta(days=35)))
    assert get_course(db, staff["nurse"], first.id).sessions_given == days[1:3]


@pytest.mark.parametrize(
    ("shift_days", "word"),
    [(-1, "before the course started"), (30, "in the future")],
)
def test_impossible_series_ends_are_refused_naming_the_field(
    db: Database, staff: dict[str, Actor], shift_days: int, word: str
) -> None:
    start = date.today() - timedelta(days=10)
    course_id = _open_course(db, staff["nurse"], "E5", start)
    end = (start if shift_days < 0 else date.today()) + timedelta(days=shift_days)
    with pytest.raises(InputError) as caught:
        end_series(db, staff["nurse"], course_id, end, version=1)
    assert caught.value.field == "series_end" and word in caught.value.message
    assert get_course(db, staff["nurse"], course_id).series_end is None


def test_tomorrow_is_allowed_for_clinics_ahead_of_the_server(db: Database, staff: dict[str, Actor]) -> None:
    course_id = _open_course(db, staff["nurse"], "E6", date.today() - timedelta(days=3))
    tomorrow = date.today() + timedelta(days=1)
    assert end_series(db, staff["nurse"], course_id, tomorrow, version=1).series_end == tomorrow


def test_explicit_session_days_are_checked(db: Database, staff: dict[str, Actor]) -> None:
    start = date.today() - timedelta(days=10)
    course_id = _open_course(db, staff["nurse"], "E7", start)
    for sessions in ([start - timedelta(days=1)], [start + timedelta(days=5)]):
        with pytest.raises(InputError) as caught:
            end_series(db, staff["nurse"], course_id, start + timedelta(days=2), sessions, version=1)
        assert caught.value.field == "session_dates"


def test_unknown_course_and_roles(db: Database, staff: dict[str, Actor]) -> None:
    with pytest.raises(NotFoundError):
        end_series(db, staff["nurse"], 9999, date.today(), version=1)
    course_id = _open_course(db, staff["nurse"], "E8", date.today() - timedelta(days=3))
    for role in ("researcher", "admin"):
        with pytest.raises(PermissionDeniedError):
            end_series(db, staff[role], course_id, date.today(), version=1)


def test_the_audit_event_lists_the_schedule_before_and_after(db: Database, staff: dict[str, Actor]) -> None:
    start = date.today() - timedelta(days=20)
    course_id = _open_course(db, staff["nurse"], "E-audit", start)
    end_series(db, staff["nurse"], course_id, start + timedelta(days=7), version=1)
    end_series(db, staff["nurse"], course_id, start + timedelta(days=14), version=2)
    changes = json.loads(latest_event(db, "treatment_course").changes_json)
    old, new = changes["followups"]["old"], changes["followups"]["new"]
    assert len(old) == len(new) and old != new
    assert all("(due)" in line for line in new)
