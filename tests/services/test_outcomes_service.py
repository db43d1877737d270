"""Outcomes services: courses and schedule, PRO entry and scoring, one-time links, clinic response rates."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from ketaclinic.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from ketaclinic.screening import ClinicRate
from ketaclinic.services.outcomes.courses import (
    CourseIn,
    CourseOut,
    DiscontinuationIn,
    record_discontinuation,
    start_course,
)
from ketaclinic.services.outcomes.followup_lists import due_followups
from ketaclinic.services.outcomes.links import LinkGoneError, LinkIn, issue_link, submit_link, view_link
from ketaclinic.services.outcomes.pros import Answers, ProIn, list_pros, record_pro
from ketaclinic.services.outcomes.rates import clinic_response_rates
from ketaclinic.services.patients.registry import PatientCreate, register_patient
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import ProLink
from tests.audit_support import latest_event


def make_patient(
    db: Database, actor: Actor, mrn: str, code: str = "G50.0", mechanism: str = "neuropathic"
) -> int:
    data = PatientCreate(
        mrn=mrn,
        family_name="Doe",
        given_name="Jane",
        birth_date=date(1970, 5, 1),
        sex="female",
        weight_kg=70,
        diagnoses=[code],
        pain_mechanism=mechanism,
    )
    return register_patient(db, actor, data, config=None).id


def treated(
    db: Database,
    actor: Actor,
    mrn: str,
    baseline: float,
    followups: Mapping[int, float],
    *,
    code: str = "G50.0",
    mechanism: str = "neuropathic",
    series_end: date | None = None,
) -> CourseOut:
    """A patient with a finished course, a baseline PRO and after-series PROs at the given weeks."""
    pid = make_patient(db, actor, mrn, code, mechanism)
    end = series_end or date.today() - timedelta(weeks=13)
    course = start_course(
        db,
        actor,
        pid,
        CourseIn(
            started_on=end - timedelta(days=14),
            series_end=end,
            sessions_planned=3,
            session_dates=[end - timedelta(days=14), end - timedelta(days=7), end],
        ),
    )
    record_pro(db, actor, pid, ProIn(course_id=course.id, timepoint="baseline", nrs={"average": baseline}))
    for week, nrs in followups.items():
        record_pro(
            db,
            actor,
            pid,
            ProIn(
                course_id=course.id, timepoint="after_series", weeks_after_series=week, nrs={"average": nrs}
            ),
        )
    return course


def test_course_schedules_followups_after_sessions_and_series(db: Database, staff: dict[str, Actor]) -> None:
    pid = make_patient(db, staff["nurse"], "M1")
    end = date(2026, 1, 20)
    course = start_course(
        db,
        staff["nurse"],
        pid,
        CourseIn(started_on=date(2026, 1, 6), series_end=end, session_dates=[date(2026, 1, 6), end]),
    )
    kinds = [(f.kind, f.session_number, f.weeks_after_series) for f in course.followups]
    assert kinds[:2] == [("after_session", 1, None), ("after_session", 2, None)]
    assert [f.weeks_after_series for f in course.followups if f.kind == "after_series"] == [1, 2, 4, 8, 12]
    assert course.followups[-1].due_on == end + timedelta(weeks=12)
    assert course.followups[0].patient == "Doe, Jane (M1)"


def test_record_pro_scores_instruments_with_codes(db: Database, staff: dict[str, Actor]) -> None:
    pid = make_patient(db, staff["nurse"], "M2")
    pro = record_pro(
        db,
        staff["nurse"],
        pid,
        ProIn(
            nrs={"recall": "7d", "now": 6, "average": 5, "worst": 8},
            pgic=2,
            phq9=[1, 1, 1, 1, 1, 1, 1, 1, 1],
            gad7=[3, 3, 3, 3, 0, 0, 0],
            bpi={"severity": {"worst": 8, "least": 2, "average": 5, "now": 5}},
        ),
    )
    assert pro.pain_nrs == 5  # the average over the recall period is the analysed NRS
    assert pro.scores["nrs"]["loinc"] == "72514-3"
    assert pro.scores["phq9"] == {
        "loinc": "44261-6",
        "total": 9,
        "band": pro.scores["phq9"]["band"],
        "items": [1] * 9,
    }
    assert pro.scores["gad7"]["total"] == 12
    assert pro.scores["pgic"]["improved"] is True
    assert pro.scores["bpi"]["severity"] == 5.0


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"phq9": [0, 0, 4, 0, 0, 0, 0, 0, 0]}, "phq9.item3"),
        ({"gad7": [0, 0, 0]}, "gad7"),
        ({"nrs": {"average": 11}}, "nrs.average"),
        ({"pgic": 8}, "pgic"),
        ({"bpi": {"interference": {"mood": -1}}}, "bpi.interference.mood"),
        ({}, "nrs"),
    ],
)
def test_bad_item_names_the_item_and_writes_nothing(
    db: Database, staff: dict[str, Actor], answers: dict[str, Any], field: str
) -> None:
    pid = make_patient(db, staff["nurse"], "M3")
    with pytest.raises(InputError) as caught:
        record_pro(db, staff["nurse"], pid, ProIn(**answers))
    assert caught.value.field == field
    assert list_pros(db, staff["nurse"], pid) == []


def test_roles(db: Database, staff: dict[str, Actor]) -> None:
    pid = make_patient(db, staff["nurse"], "M4")
    with pytest.raises(PermissionDeniedError):
        record_pro(db, staff["researcher"], pid, ProIn(nrs={"now": 3}))
    course = start_course(db, staff["nurse"], pid, CourseIn(started_on=date.today()))
    with pytest.raises(PermissionDeniedError):  # only a physician records why a course stopped
        record_discontinuation(
            db,
            staff["nurse"],
            course.id,
            DiscontinuationIn(version=1, discontinued="lack_of_effect", reason="x"),
        )
    out = record_discontinuation(
        db,
        staff["physician"],
        course.id,
        DiscontinuationIn(version=1, discontinued="adverse_event", reason="hallucinations"),
    )
    assert out.discontinued == "adverse_event"
    event = latest_event(db, "treatment_course")
    assert event is not None and event.reason == "hallucinations"
    assert json.loads(event.changes_json)["discontinued"] == {"old": "none", "new": "adverse_event"}
    with pytest.raises(ValidationError):
        DiscontinuationIn(version=1, discontinued="bored", reason="x")


def test_link_single_use_expiry_and_unknown(db: Database, staff: dict[str, Actor]) -> None:
    course = treated(db, staff["nurse"], "L1", 8, {}, series_end=date.today() - timedelta(days=8))
    item = next(f for f in course.followups if f.weeks_after_series == 1)
    link = issue_link(db, staff["nurse"], LinkIn(followup_item_id=item.id))
    assert link.path == f"/r/{link.token}"
    with db.transaction() as session:
        stored = session.execute(select(ProLink)).scalar_one()
        assert stored.token_sha256 != link.token and len(stored.token_sha256) == 64
    view = view_link(db, link.token)
    assert view.first_name == "Jane" and "phq9" in view.instruments
    submit_link(db, link.token, Answers(nrs={"average": 3}, pgic=2), config=None)
    with pytest.raises(LinkGoneError):
        submit_link(db, link.token, Answers(nrs={"average": 3}), config=None)
    with pytest.raises(LinkGoneError):
        view_link(db, link.token)
    with pytest.raises(NotFoundError):
        view_link(db, "x" * 32)
    pros = list_pros(db, staff["nurse"], course.patient_id)
    assert (
        pros[-1].via == "link" and pros[-1].weeks_after_series == 1 and pros[-1].timepoint == "after_series"
    )
    with pytest.raises(ConflictError):  # the item is answered: no second link
        issue_link(db, staff["nurse"], LinkIn(followup_item_id=item.id))
    other = next(f for f in course.followups if f.weeks_after_series == 2)
    late = issue_link(db, staff["nurse"], LinkIn(followup_item_id=other.id))
    with db.transaction() as session:
        row = session.execute(select(ProLink).where(ProLink.followup_item_id == other.id)).scalar_one()
        row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    with pytest.raises(LinkGoneError, match="expired"):
        view_link(db, late.token)


def test_bad_link_answers_leave_the_link_usable(db: Database, staff: dict[str, Actor]) -> None:
    course = treated(db, staff["nurse"], "L2", 8, {}, series_end=date.today() - timedelta(days=8))
    item = next(f for f in course.followups if f.weeks_after_series == 1)
    link = issue_link(db, staff["nurse"], LinkIn(followup_item_id=item.id))
    with pytest.raises(InputError):
        submit_link(db, link.token, Answers(phq9=[9] * 9), config=None)
    assert view_link(db, link.token).first_name == "Jane"


def test_due_and_overdue(db: Database, staff: dict[str, Actor]) -> None:
    today = date.today()
    treated(db, staff["nurse"], "D1", 8, {1: 4}, series_end=today - timedelta(days=15))
    due = due_followups(db, staff["nurse"], today=today)
    weeks = {f.weeks_after_series: f.overdue for f in due if f.kind == "after_series"}
    assert weeks == {2: True}  # week 1 answered, week 2 a day late, week 4 not yet within the horizon
    assert not [f for f in due if f.kind == "after_session"]  # superseded by the answered week 1


def test_clinic_response_rates_by_group(db: Database, staff: dict[str, Actor]) -> None:
    nurse = staff["nurse"]
    treated(db, nurse, "R1", 8, {1: 3, 12: 3})  # responder
    treated(db, nurse, "R2", 8, {12: 6})  # 25 %: not
    treated(db, nurse, "R3", 8, {})  # endpoint passed, no follow-up: counted, not a responder
    stopped = treated(db, nurse, "R4", 8, {12: 2})
    record_discontinuation(
        db,
        staff["physician"],
        stopped.id,
        DiscontinuationIn(version=stopped.version, discontinued="lack_of_effect", reason="r"),
    )
    treated(db, nurse, "R5", 6, {12: 2}, code="M79.7", mechanism="nociplastic")
    treated(db, nurse, "R6", 6, {}, series_end=date.today())  # still running: not evaluable yet
    with db.transaction() as session:
        rates = clinic_response_rates(session)
        immpact30 = clinic_response_rates(session, "immpact30")
    tn_group = next(iter(k for k in rates if rates[k].n == 4))
    assert rates[tn_group] == ClinicRate(n=4, responders=1)
    assert immpact30[tn_group] == ClinicRate(n=4, responders=2)  # no exclusion for lack of effect
    assert sum(r.n for r in rates.values()) == 5


def test_relief_from_follow_up_series(db: Database, staff: dict[str, Actor]) -> None:
    from ketaclinic.services.outcomes.facts import course_facts

    treated(db, staff["nurse"], "S1", 8, {1: 2, 2: 2, 4: 3, 8: 7, 12: 8})
    treated(db, staff["nurse"], "S2", 8, {1: 2, 12: 3})
    with db.transaction() as session:
        facts = {f.pseudonym: f for f in course_facts(session)}
    ended, ongoing = sorted(facts.values(), key=lambda f: f.relief_ongoing or False)
    assert (ended.relief_weeks, ended.relief_ongoing, ended.followup_nrs) == (8.0, False, 8.0)
    assert (ongoing.relief_weeks, ongoing.relief_ongoing) == (12.0, True)


def test_course_plan_must_be_a_plan_of_the_patient(db: Database, staff: dict[str, Actor]) -> None:
    from ketaclinic.services.plans import lifecycle as plans

    owner = make_patient(db, staff["nurse"], "PL1")
    other = make_patient(db, staff["nurse"], "PL2")
    plan = plans.create_plan(
        db,
        staff["physician"],
        owner,
        plans.PlanCreate(protocol_id="cohen2018-test", weight_kg=70),
        config=None,
    )
    with pytest.raises(NotFoundError) as missing:
        start_course(db, staff["nurse"], owner, CourseIn(started_on=date.today(), plan_id=9999))
    assert missing.value.field == "plan_id"
    with pytest.raises(NotFoundError):
        start_course(db, staff["nurse"], other, CourseIn(started_on=date.today(), plan_id=plan.id))
    course = start_course(db, staff["nurse"], owner, CourseIn(started_on=date.today(), plan_id=plan.id))
    assert course.plan_id == plan.id


def test_link_answered_twice_at_once_stores_one_answer(db: Database, staff: dict[str, Actor]) -> None:
    import threading

    course = treated(db, staff["nurse"], "L2", 8, {}, series_end=date.today() - timedelta(days=8))
    item = next(f for f in course.followups if f.weeks_after_series == 1)
    link = issue_link(db, staff["nurse"], LinkIn(followup_item_id=item.id))
    start = threading.Barrier(2)
    results: list[str] = []

    def answer() -> None:
        start.wait()
        try:
            submit_link(db, link.token, Answers(nrs={"average": 3}), config=None)
            results.append("stored")
        except LinkGoneError:
            results.append("gone")

    threads = [threading.Thread(target=answer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["gone", "stored"]
    assert len([p for p in list_pros(db, staff["nurse"], course.patient_id) if p.via == "link"]) == 1
