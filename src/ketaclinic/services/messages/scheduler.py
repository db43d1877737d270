"""The scheduler step the worker runs each loop: queue the messages now due, each once (key per due date).

Appointment reminders the day before; questionnaire invitations when a follow-up item comes due (its
one-time link issued in the same transaction); reminders for an unanswered questionnaire. Only for
patients who agreed to be contacted; demo (synthetic) patients are never messaged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ketaclinic.services.messages.outbox import WORKER, enqueue, exists
from ketaclinic.services.messages.policy import MessagePolicy
from ketaclinic.services.outcomes.links import LINK_TTL_DAYS_DEFAULT, issue_link_in
from ketaclinic.settings import Settings
from ketaclinic.store.db import Database
from ketaclinic.store.tables.messages import OutboxMessage
from ketaclinic.store.tables.outcomes import FollowupItem
from ketaclinic.store.tables.patients import Patient
from ketaclinic.store.tables.scheduling import Appointment

# A reminder is due at most this long before its appointment (the day before, at any policy time).
_REMINDER_HORIZON = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class ScheduledCounts:
    """How many messages one scheduler step queued, by kind."""

    appointment_reminders: int = 0
    questionnaire_invitations: int = 0
    questionnaire_reminders: int = 0


def _reachable() -> ColumnElement[bool]:
    return and_(Patient.contact_consent.is_(True), Patient.synthetic.is_(False))


def reminder_due_at(starts_at: datetime, policy: MessagePolicy) -> datetime:
    """The day before the appointment's clinic-local day, at the policy's reminder time (aware)."""
    day = starts_at.astimezone().date() - timedelta(days=1)
    return datetime.combine(day, policy.reminder_time).astimezone()


def _once(session: Session, unique_key: str, create: Callable[[], object]) -> bool:
    """Run `create` in a savepoint unless the key exists; a concurrent creator's insert wins quietly."""
    if exists(session, unique_key):
        return False
    try:
        with session.begin_nested():
            create()
    except IntegrityError:
        return False  # another worker queued the same key between our check and our insert
    return True


def _appointment_text(patient: Patient, appointment: Appointment, policy: MessagePolicy) -> tuple[str, str]:
    start = appointment.starts_at.astimezone()
    subject = f"Your appointment at the clinic on {start:%A %d %B}"
    body = (
        f"Hello {patient.given_name},\n\n"
        f"This is a reminder of your infusion appointment on {start:%A %d %B %Y} at {start:%H:%M}.\n\n"
        f"{policy.preparation_text}\n\n"
        "If you cannot come, please call the clinic as soon as you can."
    )
    return subject, body


def _reminders(session: Session, settings: Settings, policy: MessagePolicy, now: datetime) -> int:
    rows = session.execute(
        select(Appointment, Patient)
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(
            Appointment.status == "booked",
            Appointment.starts_at > now,
            Appointment.starts_at <= now + _REMINDER_HORIZON,
            _reachable(),
        )
        .order_by(Appointment.starts_at)
    ).all()
    created = 0
    for appointment, patient in rows:
        due_at = reminder_due_at(appointment.starts_at, policy)
        if due_at > now:
            continue
        key = f"appointment_reminder:{appointment.id}:{appointment.starts_at.astimezone().date().isoformat()}"
        subject, body = _appointment_text(patient, appointment, policy)
        created += _once(
            session,
            key,
            partial(
                enqueue,
                session,
                settings,
                patient,
                kind="appointment_reminder",
                unique_key=key,
                subject=subject,
                body=body,
                due_at=due_at,
                now=now,
                appointment_id=appointment.id,
            ),
        )
    return created


def _questionnaire(
    session: Session,
    settings: Settings,
    patient: Patient,
    item: FollowupItem,
    *,
    kind: str,
    unique_key: str,
    due_at: datetime,
    now: datetime,
) -> None:
    """Issue the item's one-time link and queue the message carrying it, in one transaction."""
    link = issue_link_in(session, WORKER, item, LINK_TTL_DAYS_DEFAULT)
    url = f"{settings.public_url}{link.path}"
    intro = (
        "The clinic would like to know how you are doing: please answer a short questionnaire."
        if kind == "questionnaire_invitation"
        else "A reminder: the clinic has not yet received your answers to its short questionnaire."
    )
    body = (
        f"Hello {patient.given_name},\n\n{intro}\n\n{url}\n\n"
        f"The link works once and until {link.expires_at.astimezone():%A %d %B}."
        + ("" if kind == "questionnaire_invitation" else " It replaces the link of earlier messages.")
    )
    enqueue(
        session,
        settings,
        patient,
        kind=kind,
        unique_key=unique_key,
        subject="A short questionnaire from the clinic",
        body=body,
        due_at=due_at,
        now=now,
        followup_item_id=item.id,
        pro_link_id=link.link_id,
    )


def _invitations(session: Session, settings: Settings, policy: MessagePolicy, now: datetime) -> int:
    today = now.astimezone().date()
    rows = session.execute(
        select(FollowupItem, Patient)
        .join(Patient, Patient.id == FollowupItem.patient_id)
        .where(
            FollowupItem.status == "due",
            FollowupItem.due_on <= today,
            FollowupItem.due_on >= today - timedelta(days=policy.invitation_within_days),
            _reachable(),
        )
        .order_by(FollowupItem.due_on, FollowupItem.id)
    ).all()
    created = 0
    for item, patient in rows:
        key = f"questionnaire_invitation:{item.id}:{item.due_on.isoformat()}"
        created += _once(
            session,
            key,
            partial(
                _questionnaire,
                session,
                settings,
                patient,
                item,
                kind="questionnaire_invitation",
                unique_key=key,
                due_at=now,
                now=now,
            ),
        )
    return created


def _questionnaire_reminders(
    session: Session, settings: Settings, policy: MessagePolicy, now: datetime
) -> int:
    if policy.questionnaire_reminders == 0:
        return 0
    sent_invitations = session.execute(
        select(OutboxMessage, FollowupItem, Patient)
        .join(FollowupItem, FollowupItem.id == OutboxMessage.followup_item_id)
        .join(Patient, Patient.id == OutboxMessage.patient_id)
        .where(
            OutboxMessage.kind == "questionnaire_invitation",
            OutboxMessage.state == "sent",
            FollowupItem.status == "due",
            _reachable(),
        )
    ).all()
    created = 0
    for invitation, item, patient in sent_invitations:
        earlier = session.execute(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.kind == "questionnaire_reminder", OutboxMessage.followup_item_id == item.id
            )
        ).scalar_one()
        if earlier >= policy.questionnaire_reminders or invitation.sent_at is None:
            continue
        due_at = invitation.sent_at + timedelta(days=policy.questionnaire_reminder_every_days * (earlier + 1))
        if due_at > now:
            continue
        key = f"questionnaire_reminder:{item.id}:{due_at.astimezone().date().isoformat()}"
        created += _once(
            session,
            key,
            partial(
                _questionnaire,
                session,
                settings,
                patient,
                item,
                kind="questionnaire_reminder",
                unique_key=key,
                due_at=due_at,
                now=now,
            ),
        )
    return created


def schedule_due(db: Database, settings: Settings, policy: MessagePolicy, now: datetime) -> ScheduledCounts:
    """Queue every message due by `now` that is not queued yet (safe to run from several workers at once)."""
    counts: dict[str, int] = {}
    steps = {
        "appointment_reminders": _reminders,
        "questionnaire_invitations": _invitations,
        "questionnaire_reminders": _questionnaire_reminders,
    }
    for name, step in steps.items():
        with db.transaction() as session:
            counts[name] = step(session, settings, policy, now)
    return ScheduledCounts(**counts)
