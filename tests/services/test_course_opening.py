"""Approving a plan opens the patient's course or joins the open one; courses opened and ended by hand."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.services.outcomes.courses import CourseIn, end_series, list_courses, start_course
from ketaclinic.services.permissions import Actor
from ketaclinic.services.plans import lifecycle as plans
from ketaclinic.services.plans.records import PlanOut, view_plan
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from tests import factories
from tests.audit_support import latest_event
from tests.services.test_outcomes_service import make_patient

ENDED = "last planned session given"


def _events(db: Database, entity: str) -> int:
    with db.read() as session:
        return session.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.entity == entity)
        ).scalar_one()


def test_approving_a_plan_opens_its_course_in_the_same_transaction(
    db: Database, staff: dict[str, Actor]
) -> None:
    plan = factories.draft_plan(db, staff, mrn="C1")
    assert list_courses(db, staff["nurse"], plan.patient_id) == []
    approved = plans.approve_plan(db, staff["physician"], plan.id, config=None)
    (course,) = list_courses(db, staff["nurse"], plan.patient_id)
    assert course.plan_id == approved.id and course.started_on == approved.start_date
    assert course.sessions_planned == approved.session_count and course.series_end is None
    event = latest_event(db, "treatment_course")
    assert (event.action, event.actor, event.entity_id) == ("create", "physician", str(course.id))
    assert event.reason == f"dose plan {plan.id} approved"
    assert json.loads(event.changes_json)["plan_id"] == {"old": None, "new": plan.id}


def test_a_refused_approval_opens_no_course(db: Database, staff: dict[str, Actor]) -> None:
    pid = make_patient(db, staff["nurse"], "C2")  # no screening or consent: the approval is refused
    plan = plans.create_plan(
        db, staff["physician"], pid, plans.PlanCreate(protocol_id="cohen2018-test"), config=None
    )
    with pytest.raises(ConflictError):
        plans.approve_plan(db, staff["physician"], plan.id, config=None)
    assert list_courses(db, staff["nurse"], pid) == []
    assert _events(db, "treatment_course") == 0


def test_a_plan_awaiting_its_cosignature_opens_the_course_when_cosigned(
    db: Database, staff: dict[str, Actor]
) -> None:
    plan = factories.draft_plan(db, staff, mrn="C3", protocol_id="cohen2018-test", weight_kg=30.0)
    assert plan.soft_breaches
    reasons = [
        plans.SoftReasonIn(check=b.index, reason="light patient, reviewed") for b in plan.soft_breaches
    ]
    plans.give_soft_reasons(
        db, staff["physician"], plan.id, plans.SoftReasonsIn(reasons=reasons, version=plan.version)
    )
    assert plans.approve_plan(db, staff["physician"], plan.id, config=None).status == "awaiting_cosign"
    assert list_courses(db, staff["nurse"], plan.patient_id) == []
    plans.cosign_plan(db, staff["nurse"], plan.id)
    (course,) = list_courses(db, staff["nurse"], plan.patient_id)
    assert course.plan_id == plan.id
    assert latest_event(db, "treatment_course").actor == "nurse"


def _second_plan(db: Database, staff: dict[str, Actor], patient_id: int) -> PlanOut:
    return plans.create_plan(
        db,
        staff["physician"],
        patient_id,
        plans.PlanCreate(protocol_id=factories.DEFAULT_PROTOCOL),
        config=None,
    )


def test_a_second_plan_joins_the_open_course(db: Database, staff: dict[str, Actor]) -> None:
    first = factories.approved_plan(db, staff, mrn="C4")
    pid = view_plan(db, staff["physician"], first).patient_id
    second = _second_plan(db, staff, pid)
    plans.approve_plan(db, staff["physician"], second.id, config=None)
    (course,) = list_courses(db, staff["nurse"], pid)
    assert course.plan_id == first  # the course keeps the plan it was opened by
    event = latest_event(db, "treatment_course")
    assert event.action == "join" and json.loads(event.changes_json)["joined_plan_id"]["new"] == second.id


def test_a_course_whose_plan_was_cancelled_takes_the_new_plan(db: Database, staff: dict[str, Actor]) -> None:
    first = factories.approved_plan(db, staff, mrn="C5")
    pid = view_plan(db, staff["physician"], first).patient_id
    plans.cancel_plan(db, staff["physician"], first, plans.CancelIn(reason="dose to be changed"))
    second = _second_plan(db, staff, pid)
    plans.approve_plan(db, staff["physician"], second.id, config=None)
    (course,) = list_courses(db, staff["nurse"], pid)
    assert course.plan_id == second.id
    changes = json.loads(latest_event(db, "treatment_course").changes_json)
    assert changes["plan_id"] == {"old": first, "new": second.id}


def test_after_the_course_ended_a_new_approval_opens_a_new_course(
    db: Database, staff: dict[str, Actor]
) -> None:
    first = factories.approved_plan(db, staff, mrn="C6")
    pid = view_plan(db, staff["physician"], first).patient_id
    (course,) = list_courses(db, staff["nurse"], pid)
    end_series(db, staff["nurse"], course.id, date.today(), [], reason=ENDED, version=course.version)
    second = _second_plan(db, staff, pid)
    plans.approve_plan(db, staff["physician"], second.id, config=None)
    assert [c.plan_id for c in list_courses(db, staff["nurse"], pid)] == [first, second.id]


def test_a_second_open_course_is_refused_and_a_repeated_open_answers_the_same(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = make_patient(db, staff["nurse"], "C7")
    start = date.today() - timedelta(days=3)
    opened = start_course(db, staff["nurse"], pid, CourseIn(started_on=start))
    events = _events(db, "treatment_course")
    again = start_course(db, staff["nurse"], pid, CourseIn(started_on=start))  # a double click
    assert again.id == opened.id and _events(db, "treatment_course") == events
    with pytest.raises(ConflictError) as refused:
        start_course(db, staff["nurse"], pid, CourseIn(started_on=date.today()))
    assert refused.value.field == "started_on" and f"course {opened.id}" in refused.value.message
    # A past course with its series end is a record, not an open course: it may be added.
    past = start_course(
        db,
        staff["nurse"],
        pid,
        CourseIn(started_on=start - timedelta(days=90), series_end=start - timedelta(days=70)),
    )
    assert past.series_end is not None
    assert len(list_courses(db, staff["nurse"], pid)) == 2


def test_ending_a_course_needs_a_reason_and_a_repeat_changes_nothing(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = make_patient(db, staff["nurse"], "C8")
    start = date.today() - timedelta(days=14)
    course = start_course(db, staff["nurse"], pid, CourseIn(started_on=start))
    for blank in ("", "   "):
        with pytest.raises(InputError) as refused:
            end_series(db, staff["nurse"], course.id, date.today(), reason=blank, version=course.version)
        assert refused.value.field == "reason"
    assert list_courses(db, staff["nurse"], pid)[0].series_end is None
    ended = end_series(db, staff["nurse"], course.id, date.today(), reason=ENDED, version=course.version)
    event = latest_event(db, "treatment_course")
    assert event.reason == ENDED and len(ended.followups) == 5
    events = _events(db, "treatment_course")
    repeated = end_series(db, staff["nurse"], course.id, date.today(), reason=ENDED, version=course.version)
    assert [f.id for f in repeated.followups] == [f.id for f in ended.followups]
    assert _events(db, "treatment_course") == events
