"""Delivery: claim a due row by compare-and-swap, send it outside any transaction, record how it went.

A claim moves a row queued -> sending, naming the worker; only the row's holder may record the result
(its `attempts` is the claim's token). A claim older than the lease is a crashed worker's and may be
taken over. The one edge left is at-least-once: a worker that crashes after the SMTP server accepted
the message but before the row is marked sent leaves it to be sent again, with the same Message-ID.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.orm import Session

from ketaclinic.services.audit import audit
from ketaclinic.services.messages.channels import DeliveryResult, OutgoingMessage
from ketaclinic.services.messages.outbox import WORKER, opt_out_url_in, reachability, redacted, undeliverable
from ketaclinic.services.messages.policy import MessagePolicy
from ketaclinic.settings import Settings
from ketaclinic.store.db import Database
from ketaclinic.store.tables.messages import OutboxMessage, UndeliverableAddress
from ketaclinic.store.tables.outcomes import FollowupItem, ProLink
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.scheduling import Appointment

_CANDIDATES = 20  # rows looked at per claim: enough that two workers rarely contend for the same one


@dataclass(frozen=True, slots=True)
class Claim:
    """A row this worker holds: its id, the claim's attempt number (the token) and what to send."""

    message_id: int
    worker: str
    attempt: int
    channel: str
    outgoing: OutgoingMessage


def _due(now: datetime, policy: MessagePolicy) -> Any:
    stale = now - timedelta(seconds=policy.lease_s)
    return or_(
        and_(OutboxMessage.state == "queued", OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.state == "sending", OutboxMessage.claimed_at < stale),
    )


def _done(session: Session, row: OutboxMessage, state: str, why: str, action: str) -> None:
    """Finish a row without sending it (cancelled or failed), audited with the reason."""
    old = row.state
    row.state, row.last_error, row.claimed_by = state, why, None
    row.body = redacted(row.body)
    audit(session, WORKER, action, "outbox_message", row.id, {"state": {"old": old, "new": state}}, why)


def _still_wanted(session: Session, row: OutboxMessage, now: datetime) -> str | None:
    """Why the message should no longer go out, if it should not (checked at every claim)."""
    patient = session.get(Patient, row.patient_id)
    if patient is None or patient.contact_consent is not True:
        return "cancelled: the patient no longer agrees to be contacted"
    if row.kind == "appointment_reminder":
        appointment = session.get(Appointment, row.appointment_id) if row.appointment_id else None
        day = row.unique_key.rpartition(":")[2]
        if (
            appointment is None
            or appointment.status != "booked"
            or appointment.starts_at <= now
            or appointment.starts_at.astimezone().date().isoformat() != day
        ):
            return "cancelled: the appointment was moved, cancelled or has begun"
    if row.followup_item_id is not None or row.pro_link_id is not None:
        item = session.get(FollowupItem, row.followup_item_id) if row.followup_item_id else None
        link = session.get(ProLink, row.pro_link_id) if row.pro_link_id else None
        if item is None or item.status != "due":
            return "cancelled: the questionnaire was answered or closed"
        if link is None or link.used_at or link.revoked_at or link.expires_at <= now:
            return "cancelled: its questionnaire link is no longer valid"
    return None


def _take(session: Session, worker: str, now: datetime, policy: MessagePolicy) -> OutboxMessage | None:
    """Claim one due row: the UPDATE names the state and attempt read, so of two claimers one wins."""
    candidates = session.execute(
        select(OutboxMessage.id, OutboxMessage.state, OutboxMessage.attempts)
        .where(_due(now, policy))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(_CANDIDATES)
    ).all()
    for row_id, state, attempts in candidates:
        claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]  # DML answers a CursorResult
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row_id,
                OutboxMessage.state == state,
                OutboxMessage.attempts == attempts,
                _due(now, policy),
            )
            .values(state="sending", claimed_by=worker, claimed_at=now, attempts=attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:
            return session.get(OutboxMessage, row_id, populate_existing=True)
    return None


def claim(
    db: Database, settings: Settings, worker: str, now: datetime, policy: MessagePolicy
) -> Claim | None:
    """The next due message this worker now holds, or None; ones no longer wanted are cancelled on the way."""
    while True:
        with db.transaction() as session:
            row = _take(session, worker, now, policy)
            if row is None:
                return None
            why = _still_wanted(session, row, now)
            patient = session.get(Patient, row.patient_id)
            assert patient is not None  # checked by _still_wanted
            if why is None:
                channel, address, unsendable = reachability(session, patient)
                if unsendable or address is None:
                    _done(session, row, "failed", unsendable or "not sendable", "fail")
                    continue
                row.channel, row.address = channel, address  # the address as it is now, not when queued
            else:
                _done(session, row, "cancelled", why, "cancel")
                continue
            return Claim(
                message_id=row.id,
                worker=worker,
                attempt=row.attempts,
                channel=row.channel,
                outgoing=OutgoingMessage(
                    message_id=row.message_id,
                    address=address,
                    subject=row.subject,
                    body=row.body,
                    opt_out_url=opt_out_url_in(row.body),
                ),
            )


def record(db: Database, held: Claim, result: DeliveryResult, now: datetime, policy: MessagePolicy) -> str:
    """Record one attempt as the row's holder: the new state, or "lost" if another worker took the claim."""
    with db.transaction() as session:
        row = session.get(OutboxMessage, held.message_id, with_for_update=True)
        if (
            row is None
            or row.state != "sending"
            or row.claimed_by != held.worker
            or row.attempts != held.attempt
        ):
            return "lost"  # the lease ran out and another worker holds (or finished) it
        if result.delivered:
            row.state, row.sent_at, row.last_error, row.claimed_by = "sent", now, None, None
            row.body = redacted(row.body)
            audit(
                session,
                WORKER,
                "send",
                "outbox_message",
                row.id,
                {
                    "state": {"old": "sending", "new": "sent"},
                    "sent_at": {"old": None, "new": now.isoformat()},
                },
                f"attempt {row.attempts} by {held.worker}",
            )
            return "sent"
        if result.address_refused and row.address:
            _refuse_address(session, row, result.detail, now)
        if result.permanent or row.attempts >= policy.max_attempts:
            _done(session, row, "failed", result.detail, "fail")
            return "failed"
        row.state, row.last_error, row.claimed_by = "queued", result.detail, None
        row.next_attempt_at = now + timedelta(seconds=policy.retry_delay_s(row.attempts))
        audit(
            session,
            WORKER,
            "retry",
            "outbox_message",
            row.id,
            {
                "state": {"old": "sending", "new": "queued"},
                "next_attempt_at": {"old": None, "new": row.next_attempt_at.isoformat()},
            },
            result.detail,
        )
        return "queued"


def _refuse_address(session: Session, row: OutboxMessage, detail: str, now: datetime) -> None:
    """Mark the address refused for good (once), audited on the patient's contact."""
    assert row.address is not None
    if undeliverable(session, row.patient_id, row.channel, row.address) is not None:
        return
    refused = UndeliverableAddress(
        patient_id=row.patient_id,
        channel=row.channel,
        address=row.address,
        failed_at=now,
        detail=detail[:200],
    )
    session.add(refused)
    session.flush()
    audit(
        session,
        WORKER,
        "refuse_address",
        "patient",
        row.patient_id,
        {"contact_email_refused_at": {"old": None, "new": now.isoformat()}},
        detail,
    )
