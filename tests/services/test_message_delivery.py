"""Delivery through a real SMTP server on loopback: once with two workers, leases, retries, refusal."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from ketaclinic.errors import InputError
from ketaclinic.services.messages.channels import DeliveryResult
from ketaclinic.services.messages.delivery import claim, record
from ketaclinic.services.messages.email import parse_smtp_url
from ketaclinic.services.messages.outbox import patient_messages
from ketaclinic.services.messages.worker import channels_for, run_pass
from ketaclinic.services.permissions import Actor
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.tables.messages import OutboxMessage, UndeliverableAddress
from tests import factories
from tests.services.messages_support import fast_policy, outbox_settings, queue_plain, reachable, states
from tests.smtp_sink import smtp_sink, text_of


def test_two_workers_deliver_every_message_exactly_once(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid = factories.make_patient(db, staff["nurse"], mrn="M-1")
    reachable(db, staff["nurse"], pid)
    with smtp_sink() as sink:
        settings = outbox_settings(db, tmp_path, sink.url)
        ids = queue_plain(db, settings, pid, 24)
        errors: list[BaseException] = []

        def work(name: str) -> None:
            try:
                run_pass(db, settings, channels_for(settings), worker=name)
            except BaseException as exc:  # a failure in a thread must fail the test
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
        assert errors == []
        received = Counter(sink.message_ids())
    with db.read() as session:
        rows = session.execute(select(OutboxMessage).where(OutboxMessage.id.in_(ids))).scalars().all()
        assert {r.state for r in rows} == {"sent"}
        assert received == Counter({r.message_id: 1 for r in rows})
        assert {r.attempts for r in rows} == {1}
        sends = session.execute(select(AuditEvent).where(AuditEvent.action == "send")).scalars().all()
        assert len(sends) == len(ids)


def test_a_claim_left_by_a_crashed_worker_is_sent_once_after_its_lease(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid = factories.make_patient(db, staff["nurse"], mrn="M-2")
    reachable(db, staff["nurse"], pid)
    with smtp_sink() as sink:
        settings = outbox_settings(db, tmp_path, sink.url)
        policy = fast_policy(settings)
        [message_id] = queue_plain(db, settings, pid, 1)
        now = utcnow()
        crashed = claim(db, settings, "crashed", now, policy)  # claimed, then the process died
        assert crashed is not None
        # Within the lease nobody else may take it.
        assert (
            run_pass(
                db, settings, channels_for(settings), worker="other", policy=policy, now=lambda: now
            ).outcomes
            == {}
        )
        later = now + timedelta(seconds=policy.lease_s + 1)
        report = run_pass(
            db, settings, channels_for(settings), worker="other", policy=policy, now=lambda: later
        )
        assert report.outcomes == {"sent": 1}
        # The crashed worker's late result changes nothing: the row is no longer its own.
        assert record(db, crashed, DeliveryResult(True), later, policy) == "lost"
        assert len(sink.message_ids()) == 1
    with db.read() as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None and row.state == "sent" and row.attempts == 2 and row.claimed_by is None


def test_a_resend_after_a_crash_past_the_server_keeps_its_message_id(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    """The at-least-once edge: accepted by the server, not marked; the second copy carries the same id."""
    pid = factories.make_patient(db, staff["nurse"], mrn="M-3")
    reachable(db, staff["nurse"], pid)
    with smtp_sink() as sink:
        settings = outbox_settings(db, tmp_path, sink.url)
        policy = fast_policy(settings)
        queue_plain(db, settings, pid, 1)
        now = utcnow()
        held = claim(db, settings, "crashed", now, policy)
        assert held is not None
        channels_for(settings)["email"].send(held.outgoing)  # the server accepted it; then the crash
        later = now + timedelta(seconds=policy.lease_s + 1)
        run_pass(db, settings, channels_for(settings), worker="other", policy=policy, now=lambda: later)
        ids = sink.message_ids()
    assert len(ids) == 2 and ids[0] == ids[1] == held.outgoing.message_id


def test_a_busy_server_is_retried_with_back_off_then_the_message_fails(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid = factories.make_patient(db, staff["nurse"], mrn="M-4")
    reachable(db, staff["nurse"], pid)
    with smtp_sink() as sink:
        sink.busy = True
        settings = outbox_settings(db, tmp_path, sink.url)
        policy = fast_policy(settings, max_attempts=3, retry_after_s=60)
        [message_id] = queue_plain(db, settings, pid, 1)
        start = utcnow()
        waits = []
        clock = start
        for _ in range(3):
            run_pass(
                db,
                settings,
                channels_for(settings),
                worker="w",
                policy=policy,
                now=partial(lambda at: at, clock),
            )
            with db.read() as session:
                row = session.get(OutboxMessage, message_id)
                assert row is not None
                waits.append((row.next_attempt_at - clock).total_seconds() if row.state == "queued" else None)
                # Not due before its back-off: a pass in between sends nothing.
                clock = row.next_attempt_at if row.state == "queued" else clock
        assert waits == [60.0, 120.0, None]
        assert sink.message_ids() == []
    with db.read() as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None and row.state == "failed" and row.attempts == 3
        assert row.last_error is not None and row.last_error.startswith("SMTP 451")
        assert "/o/(used link)" in row.body  # the opt-out token is not kept once the message is done


def test_an_address_refused_for_good_fails_at_once_and_is_marked(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid = factories.make_patient(db, staff["nurse"], mrn="M-5")
    reachable(db, staff["nurse"], pid, email="gone@example.org")
    with smtp_sink() as sink:
        sink.refuse_rcpt.add("gone@example.org")
        settings = outbox_settings(db, tmp_path, sink.url)
        first, second = queue_plain(db, settings, pid, 2)
        report = run_pass(db, settings, channels_for(settings), worker="w")
    assert report.outcomes == {"failed": 1}  # the second is not even attempted: the address is marked
    rows = states(db)
    assert rows[first] == rows[second] == "failed"
    with db.read() as session:
        refused = session.execute(select(UndeliverableAddress)).scalars().one()
        assert refused.address == "gone@example.org" and refused.detail.startswith("SMTP 550")
        assert "gone@example.org" not in refused.detail  # the server's echo of the address is taken out
        errors = {m.id: m.last_error or "" for m in session.execute(select(OutboxMessage)).scalars()}
        assert "refused" in errors[second]
        assert (
            session.execute(select(AuditEvent).where(AuditEvent.action == "refuse_address")).scalars().one()
        )
    shown = patient_messages(db, staff["nurse"], pid)
    assert shown.refused_addresses[0].current
    assert {m.state for m in shown.messages} == {"failed"}


def test_the_email_carries_its_fixed_message_id_and_opt_out_link(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid = factories.make_patient(db, staff["nurse"], mrn="M-6")
    reachable(db, staff["nurse"], pid)
    with smtp_sink() as sink:
        settings = outbox_settings(db, tmp_path, sink.url)
        [message_id] = queue_plain(db, settings, pid, 1)
        run_pass(db, settings, channels_for(settings), worker="w")
        [mail] = sink.received
    with db.read() as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        assert mail["Message-ID"] == row.message_id and mail["To"] == "patient@example.org"
        assert mail["From"] == "clinic@clinic.test"
        assert mail["List-Unsubscribe"].startswith("<https://clinic.test/o/")
        assert "https://clinic.test/o/" in text_of(mail) and "/o/(used link)" in row.body


def test_the_smtp_url_is_read_with_its_parts() -> None:
    server = parse_smtp_url("smtp://mailer%40clinic.test:p%3Ass@mail.clinic.test:2525")
    assert (server.host, server.port, server.implicit_tls) == ("mail.clinic.test", 2525, False)
    assert (server.username, server.password) == ("mailer@clinic.test", "p:ss")
    assert parse_smtp_url("smtps://mail.clinic.test").port == 465
    for bad in ("http://mail.clinic.test", "smtp://", "smtp://host:99999"):
        with pytest.raises(InputError, match=r"KETACLINIC_SMTP_URL|port"):
            parse_smtp_url(bad)


def test_a_worker_process_killed_after_its_claim_leaves_the_message_to_another(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid = factories.make_patient(db, staff["nurse"], mrn="M-7")
    reachable(db, staff["nurse"], pid)
    with smtp_sink() as sink:
        settings = outbox_settings(db, tmp_path, sink.url)
        [message_id] = queue_plain(db, settings, pid, 1)
        # A real process claims the row, then dies before sending (no clean-up of any kind runs).
        script = (
            "import os, sys\n"
            "from ketaclinic.services.messages.delivery import claim\n"
            "from ketaclinic.services.messages.policy import load_policy\n"
            "from ketaclinic.settings import load_settings\n"
            "from ketaclinic.store.base import utcnow\n"
            "from ketaclinic.store.db import Database\n"
            "settings = load_settings()\n"
            "db = Database.for_settings(settings)\n"
            "held = claim(db, settings, 'doomed', utcnow(), load_policy(settings))\n"
            "sys.stdout.write(str(held.message_id)); sys.stdout.flush()\n"
            "os._exit(9)\n"
        )
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(sys.path),
            "KETACLINIC_DATABASE_URL": settings.database_url,
            "KETACLINIC_SECRET_KEY": settings.secret_key,
            "KETACLINIC_VAR_DIR": str(tmp_path / "var"),
        }
        died = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert died.returncode == 9 and died.stdout == str(message_id), died.stderr
        assert states(db)[message_id] == "sending" and sink.message_ids() == []
        policy = fast_policy(settings)
        later = utcnow() + timedelta(seconds=policy.lease_s + 1)
        report = run_pass(
            db, settings, channels_for(settings), worker="heir", policy=policy, now=lambda: later
        )
        assert report.outcomes == {"sent": 1} and len(sink.message_ids()) == 1
