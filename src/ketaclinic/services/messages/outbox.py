"""Queue a message in the caller's transaction (idempotent per key), and what a patient's messages show."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.services.audit import audit
from ketaclinic.services.patients.records import load_patient
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.settings import Settings
from ketaclinic.store.db import Database
from ketaclinic.store.tables.messages import OutboxMessage, UndeliverableAddress
from ketaclinic.store.tables.patients import Patient

# The channels ketaclinic can send through; a patient who prefers another is recorded, not dropped.
SHIPPED_CHANNELS = frozenset({"email"})
KINDS = {
    "appointment_reminder": "Appointment reminder",
    "questionnaire_invitation": "Questionnaire invitation",
    "questionnaire_reminder": "Questionnaire reminder",
}
# One-time tokens in a body (questionnaire /r/..., opt-out /o/...): taken out once a message is done.
_TOKEN_IN_PATH = re.compile(r"/(r|o)/[A-Za-z0-9_-]{16,64}")
OPT_OUT_PROMPT = "To receive no more messages from the clinic: "
# The system actor the scheduler and the worker write as.
WORKER = Actor(user_id=None, username="worker", role=None, is_system=True)


def token_hash(token: str) -> str:
    """The stored form of a one-time token (the token itself is only ever in the message)."""
    return hashlib.sha256(token.encode()).hexdigest()


def redacted(body: str) -> str:
    """The body with its one-time tokens taken out (kept at rest once the message is sent or done)."""
    return _TOKEN_IN_PATH.sub(lambda m: f"/{m.group(1)}/(used link)", body)


def opt_out_url_in(body: str) -> str | None:
    """The opt-out link a queued body carries (None once the body is redacted)."""
    for line in body.splitlines():
        if line.startswith(OPT_OUT_PROMPT) and "(used link)" not in line:
            return line.removeprefix(OPT_OUT_PROMPT).strip()
    return None


def undeliverable(
    session: Session, patient_id: int, channel: str, address: str
) -> UndeliverableAddress | None:
    """The record that this address was refused for good, if it was."""
    return session.execute(
        select(UndeliverableAddress).where(
            UndeliverableAddress.patient_id == patient_id,
            UndeliverableAddress.channel == channel,
            UndeliverableAddress.address == address,
        )
    ).scalar_one_or_none()


def reachability(session: Session, patient: Patient) -> tuple[str, str | None, str | None]:
    """(channel, address, why not sendable): the preferred channel, e-mail when none is preferred."""
    channel = patient.contact_channel or "email"
    if channel not in SHIPPED_CHANNELS:
        return channel, None, f"not sendable: the patient prefers {channel}, which this clinic does not send"
    address = patient.contact_email
    if not address:
        return channel, None, "not sendable: no e-mail address is recorded"
    refused = undeliverable(session, patient.id, channel, address)
    if refused is not None:
        return (
            channel,
            address,
            f"not sendable: this e-mail address was refused on {refused.failed_at:%Y-%m-%d}",
        )
    return channel, address, None


def exists(session: Session, unique_key: str) -> bool:
    """Whether a message with this key was queued already (by this or another worker)."""
    found = session.execute(select(OutboxMessage.id).where(OutboxMessage.unique_key == unique_key))
    return found.first() is not None


def enqueue(
    session: Session,
    settings: Settings,
    patient: Patient,
    *,
    kind: str,
    unique_key: str,
    subject: str,
    body: str,
    due_at: datetime,
    now: datetime,
    appointment_id: int | None = None,
    followup_item_id: int | None = None,
    pro_link_id: int | None = None,
) -> OutboxMessage:
    """Queue one message (audited); one the patient's channel cannot carry is recorded failed, not dropped.

    The caller holds a savepoint: a concurrent worker's insert of the same key raises IntegrityError there.
    """
    channel, address, unsendable = reachability(session, patient)
    token = secrets.token_urlsafe(24)
    opt_out_url = f"{settings.public_url}/o/{token}"
    domain = settings.mail_from.rpartition("@")[2] or "localhost"
    text = f"{body}\n\n--\n{OPT_OUT_PROMPT}{opt_out_url}\n"
    row = OutboxMessage(
        unique_key=unique_key,
        patient_id=patient.id,
        kind=kind,
        channel=channel,
        address=address,
        subject=subject,
        body=redacted(text) if unsendable else text,
        due_at=due_at,
        state="failed" if unsendable else "queued",
        attempts=0,
        next_attempt_at=due_at,
        last_error=unsendable,
        message_id=f"<ketaclinic.{uuid.uuid4().hex}@{domain}>",
        opt_out_sha256=None if unsendable else token_hash(token),
        appointment_id=appointment_id,
        followup_item_id=followup_item_id,
        pro_link_id=pro_link_id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        WORKER,
        "not_sendable" if unsendable else "queue",
        "outbox_message",
        row.id,
        {
            "patient_id": {"old": None, "new": patient.id},
            "kind": {"old": None, "new": kind},
            "channel": {"old": None, "new": channel},
            "due_at": {"old": None, "new": due_at.isoformat()},
            "state": {"old": None, "new": row.state},
        },
        unsendable or "",
    )
    return row


class MessageOut(BaseModel):
    """One message as the patient page and the API show it (no body: it may hold a live link)."""

    id: int
    kind: str
    kind_label: str
    channel: str
    subject: str
    due_at: datetime
    state: str
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    opted_out_at: datetime | None


class RefusedAddressOut(BaseModel):
    """An address of the patient's that its server refused for good."""

    channel: str
    address: str
    failed_at: datetime
    detail: str
    current: bool


class PatientMessagesOut(BaseModel):
    """A patient's messages, newest due first, and their refused addresses."""

    patient_id: int
    messages: list[MessageOut]
    refused_addresses: list[RefusedAddressOut]


def patient_messages(db: Database, actor: Actor, patient_id: int) -> PatientMessagesOut:
    """Every message queued for the patient and every address refused for good."""
    require(actor, Permission.PATIENTS_VIEW)
    with db.read() as session:
        patient = load_patient(session, patient_id)
        rows = session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.patient_id == patient_id)
            .order_by(OutboxMessage.due_at.desc(), OutboxMessage.id.desc())
        ).scalars()
        refused = session.execute(
            select(UndeliverableAddress)
            .where(UndeliverableAddress.patient_id == patient_id)
            .order_by(UndeliverableAddress.failed_at.desc())
        ).scalars()
        return PatientMessagesOut(
            patient_id=patient_id,
            messages=[
                MessageOut(
                    id=m.id,
                    kind=m.kind,
                    kind_label=KINDS.get(m.kind, m.kind),
                    channel=m.channel,
                    subject=m.subject,
                    due_at=m.due_at,
                    state=m.state,
                    attempts=m.attempts,
                    next_attempt_at=m.next_attempt_at if m.state == "queued" else None,
                    sent_at=m.sent_at,
                    last_error=m.last_error,
                    opted_out_at=m.opted_out_at,
                )
                for m in rows
            ],
            refused_addresses=[
                RefusedAddressOut(
                    channel=r.channel,
                    address=r.address,
                    failed_at=r.failed_at,
                    detail=r.detail,
                    current=r.address == patient.contact_email,
                )
                for r in refused
            ],
        )
