"""Shared set-up for the outbox tests: a contactable patient, settings that reach a loopback SMTP sink."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

from sqlalchemy import select

from ketaclinic.services.messages.outbox import enqueue
from ketaclinic.services.messages.policy import MessagePolicy, load_policy
from ketaclinic.services.patients import contact
from ketaclinic.services.patients.records import load_patient
from ketaclinic.services.permissions import Actor
from ketaclinic.settings import Settings
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.messages import OutboxMessage
from tests.conftest import TEST_SECRET_KEY, database_url


def outbox_settings(
    db: Database, tmp_path: Path, smtp_url: str | None = None, config_dir: Path | None = None
) -> Settings:
    """Settings for the worker: the test database, the sink's URL, a public address for links."""
    return Settings(
        database_url=database_url(db),
        secret_key=TEST_SECRET_KEY,
        var_dir=tmp_path,
        config_dir=config_dir,
        smtp_url=smtp_url,
        mail_from="clinic@clinic.test",
        public_url="https://clinic.test",
    )


def fast_policy(settings: Settings, **changes: int) -> MessagePolicy:
    """The shipped policy with some values changed for a test."""
    return replace(load_policy(settings), **changes)  # type: ignore[arg-type]


def reachable(
    db: Database,
    nurse: Actor,
    patient_id: int,
    *,
    email: str | None = "patient@example.org",
    channel: str | None = "email",
    phone: str | None = None,
    consent: bool = True,
) -> None:
    """Record the patient's contact details and their answer to being contacted."""
    with db.read() as session:
        version = load_patient(session, patient_id).version
    contact.set_contact(
        db,
        nurse,
        patient_id,
        contact.ContactIn(
            version=version,
            email=email,
            phone=phone,
            preferred_channel=channel,
            consent_to_contact=consent,
            consent_on=date.today(),
        ),
    )


def queue_plain(db: Database, settings: Settings, patient_id: int, count: int, first: int = 0) -> list[int]:
    """Queue `count` messages due now that are tied to nothing (the delivery tests' load)."""
    now = utcnow()
    with db.transaction() as session:
        patient = load_patient(session, patient_id)
        ids = [
            enqueue(
                session,
                settings,
                patient,
                kind="notice",
                unique_key=f"notice:{patient_id}:{n}",
                subject=f"Notice {n}",
                body=f"Hello, this is notice {n}.",
                due_at=now,
                now=now,
            ).id
            for n in range(first, first + count)
        ]
    return ids


def states(db: Database) -> dict[int, str]:
    """Every outbox row's state by id."""
    with db.read() as session:
        return dict(session.execute(select(OutboxMessage.id, OutboxMessage.state)).tuples().all())
