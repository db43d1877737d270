"""The scheduler step: reminders the day before, questionnaires and their reminders, consent, opt-out."""

from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from ketaclinic.errors import DataFileError, NotFoundError
from ketaclinic.services.messages import opt_out
from ketaclinic.services.messages.outbox import patient_messages
from ketaclinic.services.messages.policy import load_policy
from ketaclinic.services.messages.scheduler import reminder_due_at, schedule_due
from ketaclinic.services.messages.worker import channels_for, run_pass
from ketaclinic.services.outcomes.links import LinkGoneError, submit_link, view_link
from ketaclinic.services.outcomes.pros import Answers
from ketaclinic.services.patients.records import load_patient
from ketaclinic.services.permissions import Actor
from ketaclinic.services.scheduling import booking, changes
from ketaclinic.services.scheduling.records import AppointmentOut
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.tables.messages import OutboxMessage
from ketaclinic.store.tables.outcomes import ProLink
from tests import factories
from tests.services.messages_support import outbox_settings, reachable, states
from tests.services.test_outcomes_service import treated
from tests.services.test_scheduling import clinic
from tests.smtp_sink import smtp_sink, text_of

_LINK = re.compile(r"https://clinic\.test/(r|o)/([A-Za-z0-9_-]+)")


def _links(body: str, kind: str) -> list[str]:
    return [token for k, token in _LINK.findall(body) if k == kind]


def _booked(
    db: Database, staff: dict[str, Actor], tmp_path: Path, mrn: str
) -> tuple[int, list[AppointmentOut]]:
    plan_id = factories.approved_plan(db, staff, mrn=mrn, protocol_id="schwartzman2009")
    booked = booking.book_series(
        db,
        staff["nurse"],
        booking.BookSeriesIn(plan_id=plan_id, from_date=date.today() + timedelta(days=1)),
        config=clinic(tmp_path / "config"),
    )
    return booked[0].patient_id, booked


def _rows(db: Database, kind: str | None = None) -> list[OutboxMessage]:
    with db.read() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return list(session.execute(query).scalars())


def test_an_appointment_reminder_goes_out_the_day_before_once_with_the_preparation_text(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid, booked = _booked(db, staff, tmp_path, "S-1")
    reachable(db, staff["nurse"], pid)
    settings = outbox_settings(db, tmp_path)
    policy = load_policy(settings)
    due = reminder_due_at(booked[0].starts_at, policy)
    assert due.astimezone().date() == booked[0].starts_at.astimezone().date() - timedelta(days=1)
    assert schedule_due(db, settings, policy, due - timedelta(minutes=1)).appointment_reminders == 0
    assert schedule_due(db, settings, policy, due + timedelta(minutes=1)).appointment_reminders == 1
    assert schedule_due(db, settings, policy, due + timedelta(minutes=2)).appointment_reminders == 0
    [row] = _rows(db)
    assert (row.kind, row.state, row.appointment_id, row.due_at) == (
        "appointment_reminder",
        "queued",
        booked[0].id,
        due,
    )
    assert policy.preparation_text in row.body and "must not drive" in row.body
    assert len(_links(row.body, "o")) == 1 and (row.opt_out_sha256 or "") not in row.body
    with smtp_sink() as sink:
        settings = outbox_settings(db, tmp_path, sink.url)
        report = run_pass(
            db, settings, channels_for(settings), worker="w", now=lambda: due + timedelta(minutes=3)
        )
        assert report.outcomes == {"sent": 1}
        [mail] = sink.received
    assert booked[0].starts_at.astimezone().strftime("%H:%M") in text_of(mail)
    with db.read() as session:
        events = session.execute(
            select(AuditEvent.action).where(AuditEvent.entity == "outbox_message").order_by(AuditEvent.seq)
        ).scalars()
        assert list(events) == ["queue", "send"]


def test_a_cancelled_appointment_cancels_its_queued_reminder(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid, booked = _booked(db, staff, tmp_path, "S-2")
    reachable(db, staff["nurse"], pid)
    settings = outbox_settings(db, tmp_path)
    policy = load_policy(settings)
    due = reminder_due_at(booked[0].starts_at, policy) + timedelta(minutes=1)
    schedule_due(db, settings, policy, due)
    changes.cancel(
        db,
        staff["nurse"],
        booked[0].id,
        changes.EndIn(version=booked[0].version, reason="patient ill"),
        config=clinic(tmp_path / "config"),
    )
    with smtp_sink() as sink:
        settings = outbox_settings(db, tmp_path, sink.url)
        run_pass(db, settings, channels_for(settings), worker="w", now=lambda: due)
        assert sink.received == []
    [row] = _rows(db)
    assert row.state == "cancelled" and "appointment" in (row.last_error or "")


def test_only_patients_who_agreed_are_messaged_and_another_channel_is_recorded_not_sendable(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    declined, _ = _booked(db, staff, tmp_path, "S-3")
    reachable(db, staff["nurse"], declined, consent=False)
    by_sms, booked = _booked(db, staff, tmp_path / "b", "S-4")
    reachable(db, staff["nurse"], by_sms, channel="sms", phone="+41 79 123 45 67")
    settings = outbox_settings(db, tmp_path)
    policy = load_policy(settings)
    later = max(reminder_due_at(b.starts_at, policy) for b in booked[:1]) + timedelta(minutes=1)
    schedule_due(db, settings, policy, later)
    rows = _rows(db)
    assert {r.patient_id for r in rows} == {by_sms}
    assert [(r.state, r.channel) for r in rows] == [("failed", "sms")]
    assert "prefers sms" in (rows[0].last_error or "") and "/o/(used link)" in rows[0].body
    shown = patient_messages(db, staff["nurse"], by_sms).messages
    assert [(m.state, m.last_error) for m in shown] == [("failed", rows[0].last_error)]


def test_a_due_follow_up_is_invited_with_its_link_then_reminded_once_a_day_three_times(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    course = treated(db, staff["nurse"], "S-5", 7, {}, series_end=date.today() - timedelta(days=8))
    week1 = next(f for f in course.followups if f.weeks_after_series == 1)
    reachable(db, staff["nurse"], course.patient_id)
    with smtp_sink() as sink:
        settings = outbox_settings(db, tmp_path, sink.url)
        channels = channels_for(settings)
        start = utcnow()
        run_pass(db, settings, channels, worker="w", now=lambda: start)
        [invitation] = [r for r in _rows(db, "questionnaire_invitation") if r.followup_item_id == week1.id]
        assert invitation.state == "sent" and invitation.pro_link_id is not None
        mail = next(m for m in sink.received if m["Message-ID"] == invitation.message_id)
        [token] = _links(text_of(mail), "r")
        assert view_link(db, token).first_name
        assert _links(invitation.body, "r") == []  # the token is not kept at rest once sent
        assert invitation.sent_at is not None
        tokens = [token]
        for day in (1, 2, 3, 4):
            at: datetime = invitation.sent_at + timedelta(days=day, minutes=1)
            run_pass(db, settings, channels, worker="w", now=partial(lambda when: when, at))
            reminders = [r for r in _rows(db, "questionnaire_reminder") if r.followup_item_id == week1.id]
            assert len(reminders) == min(day, 3)
            latest = next(m for m in sink.received if m["Message-ID"] == reminders[-1].message_id)
            tokens.append(_links(text_of(latest), "r")[0])
        assert {r.state for r in reminders} == {"sent"}
        with pytest.raises(LinkGoneError, match="newer one"):
            view_link(db, tokens[0])  # each reminder's link replaces the one before
        submit_link(db, tokens[-1], Answers(nrs={"average": 3}), config=None)
    with db.read() as session:
        assert session.execute(
            select(AuditEvent).where(AuditEvent.entity == "pro_link", AuditEvent.actor == "worker")
        ).first()


def test_an_answered_questionnaire_cancels_its_queued_reminder(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    course = treated(db, staff["nurse"], "S-6", 7, {}, series_end=date.today() - timedelta(days=8))
    reachable(db, staff["nurse"], course.patient_id)
    settings = outbox_settings(db, tmp_path)
    policy = load_policy(settings)
    schedule_due(db, settings, policy, utcnow())
    invitations = _rows(db, "questionnaire_invitation")
    assert invitations and {r.state for r in invitations} == {"queued"}
    from ketaclinic.services.outcomes.links import LinkIn, issue_link

    # Staff hand the patient a link instead; it is answered before the worker sends anything.
    handed = issue_link(db, staff["nurse"], LinkIn(followup_item_id=invitations[0].followup_item_id))
    submit_link(db, handed.token, Answers(nrs={"average": 3}), config=None)
    with smtp_sink() as sink:
        settings = outbox_settings(db, tmp_path, sink.url)
        run_pass(db, settings, channels_for(settings), worker="w")
    first = states(db)[invitations[0].id]
    assert first == "cancelled"


def test_opting_out_from_a_message_withdraws_consent_and_cancels_what_is_queued(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid, booked = _booked(db, staff, tmp_path, "S-7")
    reachable(db, staff["nurse"], pid)
    settings = outbox_settings(db, tmp_path)
    policy = load_policy(settings)
    first_due = reminder_due_at(booked[0].starts_at, policy) + timedelta(minutes=1)
    schedule_due(db, settings, policy, first_due)
    second_due = reminder_due_at(booked[1].starts_at, policy) + timedelta(minutes=1)
    schedule_due(db, settings, policy, second_due)
    first = _rows(db)[0]
    [token] = _links(first.body, "o")
    assert opt_out.view_opt_out(db, token).opted_out is False
    done = opt_out.opt_out(db, token)
    assert done.cancelled == 2
    assert {r.state for r in _rows(db)} == {"cancelled"}
    assert "/o/(used link)" in _rows(db)[1].body
    with db.read() as session:
        patient = load_patient(session, pid)
        assert patient.contact_consent is False and patient.contact_consent_on == date.today()
        event = (
            session.execute(
                select(AuditEvent)
                .where(AuditEvent.entity == "patient", AuditEvent.action == "update")
                .order_by(AuditEvent.seq.desc())
            )
            .scalars()
            .first()
        )
        assert (
            event is not None and "opted out" in event.reason and event.actor.startswith("patient-opt-out:")
        )
    assert opt_out.view_opt_out(db, token).opted_out is True
    assert opt_out.opt_out(db, token).cancelled == 0  # a second click changes nothing
    assert schedule_due(db, settings, policy, second_due + timedelta(days=1)).appointment_reminders == 0
    with pytest.raises(NotFoundError):
        opt_out.view_opt_out(db, "x" * 32)


def test_a_clinic_file_changes_the_policy_and_a_bad_value_is_named(tmp_path: Path) -> None:
    (tmp_path / "messages.toml").write_text('[reminder_time]\nvalue = "18:30"\n[max_attempts]\nvalue = 3\n')
    policy = load_policy(tmp_path)
    assert (policy.reminder_time.hour, policy.reminder_time.minute, policy.max_attempts) == (18, 30, 3)
    assert policy.questionnaire_reminders == 3 and policy.questionnaire_reminder_every_days == 1
    assert [policy.retry_delay_s(n) for n in (1, 2, 3)] == [60, 120, 240]
    (tmp_path / "messages.toml").write_text("[lease_s]\nvalue = 5\n")
    with pytest.raises(DataFileError, match="lease_s"):
        load_policy(tmp_path)
    (tmp_path / "messages.toml").write_text("[fasting_hours]\nvalue = 6\n")
    with pytest.raises(DataFileError, match="unknown key"):
        load_policy(tmp_path)


def test_two_scheduler_steps_at_once_queue_each_due_message_once(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    course = treated(db, staff["nurse"], "S-8", 7, {}, series_end=date.today() - timedelta(days=8))
    reachable(db, staff["nurse"], course.patient_id)
    pid, booked = _booked(db, staff, tmp_path, "S-9")
    reachable(db, staff["nurse"], pid)
    settings = outbox_settings(db, tmp_path)
    policy = load_policy(settings)
    at = max(utcnow(), reminder_due_at(booked[0].starts_at, policy) + timedelta(minutes=1))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def step() -> None:
        try:
            barrier.wait(timeout=30)
            schedule_due(db, settings, policy, at)
        except BaseException as exc:  # a failure in a thread must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=step) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    rows = _rows(db)
    keys = [r.unique_key for r in rows]
    assert len(keys) == len(set(keys))
    assert any(r.kind == "appointment_reminder" for r in rows)
    invited = [r.followup_item_id or 0 for r in rows if r.kind == "questionnaire_invitation"]
    assert invited and len(invited) == len(set(invited))
    with db.read() as session:
        live = session.execute(
            select(ProLink.followup_item_id).where(ProLink.used_at.is_(None), ProLink.revoked_at.is_(None))
        ).scalars()
        # One live link per invited item: the one its message holds.
        assert sorted(i or 0 for i in live) == sorted(invited)
