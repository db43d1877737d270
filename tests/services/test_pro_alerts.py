"""A PHQ-9 item 9 answer above 0 raises a durable critical alert on the patient through the one alert path."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ketaclinic.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from ketaclinic.monitoring import AlertAction
from ketaclinic.services.outcomes.links import LinkIn, issue_link, submit_link
from ketaclinic.services.outcomes.pro_alerts import acknowledge_patient_alert, patient_alerts
from ketaclinic.services.outcomes.pros import Answers, ProIn, list_pros, record_pro
from ketaclinic.services.outcomes.trajectory import patient_outcomes
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions.alerts import AckIn
from ketaclinic.services.sessions.clinic_alerts import (
    clinic_alerts,
    open_clinic_alert_count,
    renotify_unacknowledged,
)
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.tables.sessions import SessionAlert, SessionAlertFinding
from tests.audit_support import latest_event
from tests.services.test_outcomes_service import make_patient, treated

SELF_HARM = [0, 0, 0, 0, 0, 0, 0, 0, 2]


def _phq9(db: Database, actor: Actor, pid: int, items: list[int]) -> int:
    return record_pro(db, actor, pid, ProIn(phq9=items, nrs={"average": 6})).id


def test_item_9_above_0_raises_one_critical_clinic_wide_alert_on_the_patient(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = make_patient(db, staff["nurse"], "A1")
    pro_id = _phq9(db, staff["nurse"], pid, SELF_HARM)
    (alert,) = clinic_alerts(db, staff["physician"], "open", config=None)
    assert (alert.patient_id, alert.session_id, alert.pro_response_id) == (pid, None, pro_id)
    assert (alert.group, alert.rule_key, alert.severity) == (
        "mental_health",
        "phq9_item9_self_harm",
        "critical",
    )
    assert alert.clinic_wide and alert.value == 2 and alert.source_status == "secondary"
    assert "Kroenke" in alert.source and "answered 2 of 3" in alert.message
    assert alert.actions[0].key is AlertAction.PATIENT_ASSESSED
    assert AlertAction.REDUCE_RATE not in [a.key for a in alert.actions]  # no infusion actions at home
    assert open_clinic_alert_count(db, staff["nurse"]) == 1
    assert patient_alerts(db, staff["nurse"], pid) == [alert]
    raised = latest_event(db, "pro_response")
    assert raised.action == "raise_answer_alerts" and raised.actor == "system"
    assert json.loads(raised.changes_json)["alerts"]["new"] == [f"phq9_item9_self_harm@pro:{pro_id}"]


@pytest.mark.parametrize("items", [[3, 3, 3, 3, 3, 3, 3, 3, 0], [0] * 9])
def test_item_9_at_0_raises_nothing_whatever_the_total(
    db: Database, staff: dict[str, Actor], items: list[int]
) -> None:
    pid = make_patient(db, staff["nurse"], "A2")
    _phq9(db, staff["nurse"], pid, items)
    assert patient_alerts(db, staff["nurse"], pid) == []
    assert open_clinic_alert_count(db, staff["nurse"]) == 0


def test_a_second_answer_joins_the_open_alert_then_opens_a_new_one_once_acknowledged(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = make_patient(db, staff["nurse"], "A3")
    _phq9(db, staff["nurse"], pid, [0, 0, 0, 0, 0, 0, 0, 0, 1])
    _phq9(db, staff["nurse"], pid, [0, 0, 0, 0, 0, 0, 0, 0, 3])
    (alert,) = patient_alerts(db, staff["nurse"], pid)
    assert alert.state == "open" and [f.value for f in alert.findings] == [1, 3]
    assert alert.value == 1  # same severity: the first finding stays the alert's headline
    done = acknowledge_patient_alert(
        db, staff["physician"], pid, alert.id, AckIn(action=AlertAction.PATIENT_ASSESSED, note="called, safe")
    )
    assert (done.state, done.acknowledged_by, done.action_taken) == (
        "acknowledged",
        "physician",
        "patient_assessed",
    )
    _phq9(db, staff["nurse"], pid, SELF_HARM)
    assert sorted(a.state for a in patient_alerts(db, staff["nurse"], pid)) == ["acknowledged", "open"]


def test_only_a_physician_acknowledges_with_a_follow_up_action_and_only_once(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = make_patient(db, staff["nurse"], "A4")
    _phq9(db, staff["nurse"], pid, SELF_HARM)
    (alert,) = patient_alerts(db, staff["nurse"], pid)
    assess = AckIn(action=AlertAction.REFERRED_URGENTLY)
    with pytest.raises(PermissionDeniedError):
        acknowledge_patient_alert(db, staff["nurse"], pid, alert.id, assess)
    with pytest.raises(InputError) as wrong:
        acknowledge_patient_alert(
            db, staff["physician"], pid, alert.id, AckIn(action=AlertAction.REDUCE_RATE)
        )
    assert wrong.value.field == "action"
    other = make_patient(db, staff["nurse"], "A5")
    with pytest.raises(NotFoundError):
        acknowledge_patient_alert(db, staff["physician"], other, alert.id, assess)
    acknowledge_patient_alert(db, staff["physician"], pid, alert.id, assess)
    event = latest_event(db, "session_alert")
    assert event.action == "acknowledge" and event.actor == "physician"
    assert json.loads(event.changes_json)["action_taken"] == {"old": None, "new": "referred_urgently"}
    with pytest.raises(ConflictError):
        acknowledge_patient_alert(db, staff["physician"], pid, alert.id, assess)
    assert open_clinic_alert_count(db, staff["nurse"]) == 0
    assert [a.id for a in clinic_alerts(db, staff["nurse"], "acknowledged", config=None)] == [alert.id]


def test_an_unacknowledged_self_harm_alert_is_renotified_like_any_critical_alert(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = make_patient(db, staff["nurse"], "A6")
    _phq9(db, staff["nurse"], pid, SELF_HARM)
    (alert,) = patient_alerts(db, staff["nurse"], pid)
    assert renotify_unacknowledged(db, config=None) == []
    later = utcnow() + timedelta(minutes=6)
    assert renotify_unacknowledged(db, config=None, now=later) == [alert.id]
    assert renotify_unacknowledged(db, config=None, now=later) == []  # once
    (shown,) = patient_alerts(db, staff["nurse"], pid)
    assert shown.renotified_at is not None


def test_the_link_raises_the_alert_with_the_answers_and_returns_the_crisis_text(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    course = treated(db, staff["nurse"], "A7", 8, {}, series_end=date.today() - timedelta(days=8))
    first, second = (f for f in course.followups if f.weeks_after_series in (1, 2))
    token = issue_link(db, staff["nurse"], LinkIn(followup_item_id=first.id)).token
    calm = submit_link(db, token, Answers(nrs={"average": 4}, phq9=[1] * 8 + [0]), config=None)
    assert calm.crisis is None
    token = issue_link(db, staff["nurse"], LinkIn(followup_item_id=second.id)).token
    (tmp_path / "crisis_text.toml").write_text(
        'text = "Call the clinic on its night line."\n', encoding="utf-8"
    )
    told = submit_link(db, token, Answers(nrs={"average": 4}, phq9=SELF_HARM), config=tmp_path)
    assert told.crisis is not None and told.crisis.paragraphs == ["Call the clinic on its night line."]
    assert told.crisis.heading == "If you are thinking about hurting yourself"  # the shipped heading kept
    (alert,) = patient_alerts(db, staff["nurse"], course.patient_id)
    assert (
        alert.course_id == course.id
        and alert.pro_response_id == list_pros(db, staff["nurse"], course.patient_id)[-1].id
    )


def test_a_failed_raise_leaves_no_answers_half_written_and_the_link_unspent(
    db: Database, staff: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    course = treated(db, staff["nurse"], "A8", 8, {}, series_end=date.today() - timedelta(days=8))
    item = next(f for f in course.followups if f.weeks_after_series == 1)
    token = issue_link(db, staff["nurse"], LinkIn(followup_item_id=item.id)).token
    with db.transaction() as session:
        events_before = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    answers_before = len(list_pros(db, staff["nurse"], course.patient_id))

    def broken(*_args: object, **_kwargs: object) -> list[str]:
        raise RuntimeError("the alert could not be stored")

    monkeypatch.setattr("ketaclinic.services.outcomes.pros.raise_findings", broken)
    with pytest.raises(RuntimeError):
        submit_link(db, token, Answers(phq9=SELF_HARM), config=None)
    with pytest.raises(RuntimeError):
        record_pro(db, staff["nurse"], course.patient_id, ProIn(phq9=SELF_HARM))
    with db.transaction() as session:
        assert session.execute(select(func.count()).select_from(SessionAlert)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(SessionAlertFinding)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == events_before
    assert len(list_pros(db, staff["nurse"], course.patient_id)) == answers_before
    monkeypatch.undo()
    assert submit_link(db, token, Answers(phq9=SELF_HARM), config=None).crisis is not None  # still usable


def test_the_patient_outcomes_show_the_answers_baseline_and_the_default_responder_line(
    db: Database, staff: dict[str, Actor]
) -> None:
    course = treated(db, staff["nurse"], "A9", 8, {1: 3})
    view = patient_outcomes(db, staff["nurse"], course.patient_id)
    assert view.baseline is not None and view.baseline.nrs == 8
    assert view.baseline.recorded_in == "baseline questionnaire"
    assert view.responder is not None and view.responder.definition_id == "valle2024"
    assert view.responder.nrs == 4 and "Vall" in view.responder.source
    assert [p.answers["nrs"]["average"] for p in view.pros] == [8, 3]
    assert view.alerts == []


def test_the_patient_page_and_the_cohort_take_the_same_baseline_from_the_latest_course(
    db: Database, staff: dict[str, Actor]
) -> None:
    from ketaclinic.services.outcomes.courses import CourseIn, start_course
    from ketaclinic.services.outcomes.facts import course_facts

    nurse = staff["nurse"]
    first = treated(db, nurse, "A10", 8, {1: 3})
    pid = first.patient_id
    second_start = date.today() - timedelta(days=20)
    second = start_course(
        db,
        nurse,
        pid,
        CourseIn(started_on=second_start, series_end=second_start + timedelta(days=7), sessions_planned=2),
    )
    record_pro(db, nurse, pid, ProIn(course_id=second.id, timepoint="baseline", nrs={"average": 6}))
    view = patient_outcomes(db, nurse, pid)
    assert view.baseline is not None and (view.baseline.nrs, view.baseline.recorded_in) == (
        6,
        "baseline questionnaire",
    )
    with db.read() as session:
        (facts,) = [f for f in course_facts(session) if f.patient_id == pid]
    assert (facts.course_id, facts.baseline_nrs) == (second.id, 6)
