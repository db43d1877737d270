"""Every editable record refuses a stale edit the same way: screening draft, plan draft, treatment course
(the patient and its measurements are in test_versions.py and test_measurements.py)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ketaclinic.errors import StaleVersionError
from ketaclinic.services.outcomes import courses
from ketaclinic.services.permissions import Actor
from ketaclinic.services.plans import lifecycle as plans
from ketaclinic.services.plans.records import view_plan
from ketaclinic.services.screening import screenings
from ketaclinic.store.audit import count_events
from ketaclinic.store.db import Database
from tests.factories import draft_plan, make_patient
from tests.screening.screening_samples import eligible_tn


def _audit_count(db: Database) -> int:
    with db.read() as session:
        return count_events(session)


def test_a_stale_screening_draft_names_the_intake_fields_changed_since(
    db: Database, staff: dict[str, Actor]
) -> None:
    doctor = staff["physician"]
    patient_id = make_patient(db, staff["nurse"])
    draft = screenings.create_screening(db, doctor, patient_id, screenings.ScreeningIn(intake=eligible_tn()))
    assert draft.version == 1
    changed = screenings.update_screening(
        db,
        staff["physician2"],
        draft.id,
        screenings.ScreeningUpdate(version=1, intake={**eligible_tn(), "phq9": 21}),
    )
    assert changed.version == 2
    events = _audit_count(db)
    with pytest.raises(StaleVersionError) as stale:
        screenings.update_screening(
            db, doctor, draft.id, screenings.ScreeningUpdate(version=1, intake={**eligible_tn(), "gad7": 3})
        )
    fields = {c.field: c for c in stale.value.changes}
    assert (fields["intake.phq9"].value, fields["intake.phq9"].changed_by) == (21, "physician2")
    assert "intake.gad7" not in fields
    assert _audit_count(db) == events
    stored = screenings.get_screening(db, doctor, draft.id)
    assert (stored.intake.get("phq9"), stored.intake.get("gad7"), stored.version) == (
        21,
        eligible_tn().get("gad7"),
        2,
    )


def test_a_stale_plan_draft_names_the_soft_reasons_given_since(db: Database, staff: dict[str, Actor]) -> None:
    plan = draft_plan(db, staff, protocol_id="cohen2018-test", weight_kg=30.0)
    assert plan.soft_breaches and plan.version == 1
    given = plans.give_soft_reasons(
        db,
        staff["physician2"],
        plan.id,
        plans.SoftReasonsIn(
            version=1, reasons=[{"check": 0, "reason": "light patient: reviewed at the MDT"}]
        ),
    )
    assert given.version == 2
    events = _audit_count(db)
    with pytest.raises(StaleVersionError) as stale:
        plans.give_soft_reasons(
            db,
            staff["physician"],
            plan.id,
            plans.SoftReasonsIn(version=1, reasons=[{"check": 0, "reason": "mine, typed meanwhile"}]),
        )
    fields = {c.field: c for c in stale.value.changes}
    assert (fields["reasons.0"].value, fields["reasons.0"].changed_by) == (
        "light patient: reviewed at the MDT",
        "physician2",
    )
    assert _audit_count(db) == events
    stored = view_plan(db, staff["physician"], plan.id)
    assert stored.soft_breaches[0].reason == "light patient: reviewed at the MDT" and stored.version == 2


def test_a_stale_course_edit_names_the_series_end_and_changes_nothing(
    db: Database, staff: dict[str, Actor]
) -> None:
    patient_id = make_patient(db, staff["nurse"])
    start = date.today() - timedelta(days=20)
    course = courses.start_course(db, staff["nurse"], patient_id, courses.CourseIn(started_on=start))
    assert course.version == 1
    ended = courses.end_series(
        db, staff["nurse"], course.id, start + timedelta(days=7), reason="series complete", version=1
    )
    assert ended.version == 2
    events = _audit_count(db)
    with pytest.raises(StaleVersionError) as stale:
        courses.end_series(
            db, staff["physician"], course.id, start + timedelta(days=14), reason="series complete", version=1
        )
    fields = {c.field: c for c in stale.value.changes}
    assert fields["series_end"].value == (start + timedelta(days=7)).isoformat()
    assert fields["series_end"].changed_by == "nurse"
    with pytest.raises(StaleVersionError):
        courses.record_discontinuation(
            db,
            staff["physician"],
            course.id,
            courses.DiscontinuationIn(version=1, discontinued="adverse_event", reason="nausea"),
        )
    assert _audit_count(db) == events
    stored = courses.get_course(db, staff["nurse"], course.id)
    assert (stored.series_end, stored.discontinued, stored.version) == (start + timedelta(days=7), "none", 2)
    stopped = courses.record_discontinuation(
        db,
        staff["physician"],
        course.id,
        courses.DiscontinuationIn(version=2, discontinued="adverse_event", reason="nausea"),
    )
    assert stopped.version == 3


def test_rescheduling_alone_moves_the_course_version(db: Database, staff: dict[str, Actor]) -> None:
    patient_id = make_patient(db, staff["nurse"])
    start = date.today() - timedelta(days=20)
    end = start + timedelta(days=7)
    course = courses.start_course(db, staff["nurse"], patient_id, courses.CourseIn(started_on=start))
    courses.end_series(db, staff["nurse"], course.id, end, [start], reason="series complete", version=1)
    same_end = courses.end_series(
        db, staff["nurse"], course.id, end, [start, end], reason="series complete", version=2
    )
    assert same_end.version == 3  # only the follow-up items (child rows) changed
