"""Opting out from a message: its one-time link withdraws consent to be contacted, cancels what is queued."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import NotFoundError
from ketaclinic.services.audit import audit, field_changes
from ketaclinic.services.messages.outbox import redacted, token_hash
from ketaclinic.services.patients.records import load_patient
from ketaclinic.services.permissions import Actor
from ketaclinic.services.versions import audited_edit
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.messages import OutboxMessage
from ketaclinic.store.tables.patients import Patient

OPT_OUT_REASON = "the patient opted out from a message"


class OptOutView(BaseModel):
    """What the opt-out page may show: a first name at most, and whether it is done already."""

    first_name: str
    opted_out: bool


class OptOutDone(BaseModel):
    """The opt-out recorded: when, and how many queued messages it cancelled."""

    opted_out_at: datetime
    cancelled: int


def _message(session: Session, token: str) -> OutboxMessage:
    if not 16 <= len(token) <= 64:
        raise NotFoundError("this link is not known")
    found = session.execute(
        select(OutboxMessage).where(OutboxMessage.opt_out_sha256 == token_hash(token))
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundError("this link is not known")
    return found


def view_opt_out(db: Database, token: str) -> OptOutView:
    """The opt-out page's facts (no login: the token is the credential)."""
    with db.read() as session:
        message = _message(session, token)
        patient = session.get(Patient, message.patient_id)
        assert patient is not None  # the foreign key guarantees it
        return OptOutView(first_name=patient.given_name, opted_out=patient.contact_consent is not True)


def _contact_consent(patient: Patient) -> dict[str, object]:
    return {
        "contact_consent": patient.contact_consent,
        "contact_consent_on": patient.contact_consent_on.isoformat() if patient.contact_consent_on else None,
    }


def opt_out(db: Database, token: str) -> OptOutDone:
    """Withdraw the patient's consent to be contacted (audited) and cancel their queued messages."""
    with db.transaction() as session:
        message = _message(session, token)
        actor = Actor(user_id=None, username=f"patient-opt-out:{message.id}", role=None)
        patient = load_patient(session, message.patient_id, for_update=True)
        now = utcnow()
        if message.opted_out_at is None:
            message.opted_out_at = now
        if patient.contact_consent is not False:
            before = _contact_consent(patient)
            read_version = patient.version
            patient.contact_consent, patient.contact_consent_on = False, date.today()
            audited_edit(
                session,
                actor,
                patient,
                "patient",
                "update",
                field_changes(before, _contact_consent(patient)),
                read_version,
                OPT_OUT_REASON,
            )
        queued = session.execute(
            select(OutboxMessage).where(
                OutboxMessage.patient_id == patient.id, OutboxMessage.state == "queued"
            )
        ).scalars()
        cancelled = 0
        for row in queued:
            row.state, row.last_error, row.body = (
                "cancelled",
                f"cancelled: {OPT_OUT_REASON}",
                redacted(row.body),
            )
            audit(
                session,
                actor,
                "cancel",
                "outbox_message",
                row.id,
                {"state": {"old": "queued", "new": "cancelled"}},
                OPT_OUT_REASON,
            )
            cancelled += 1
        return OptOutDone(opted_out_at=message.opted_out_at, cancelled=cancelled)
