"""A patient's alerts outside any session (raised by their answers): listed, acknowledged, the crisis text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select

from ketaclinic.errors import NotFoundError
from ketaclinic.monitoring import AlertFinding, AlertGroup
from ketaclinic.outcomes.crisis import CRISIS_FILE, CrisisText, crisis_text
from ketaclinic.services.patients.records import load_patient
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.reference import clinic_library
from ketaclinic.services.sessions.alert_records import AlertOut, alerts_out
from ketaclinic.services.sessions.alerts import AckIn, acknowledge_row
from ketaclinic.services.sessions.charting import Config
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import SessionAlert


class CrisisOut(BaseModel):
    """The clinic's crisis text, shown to the patient."""

    heading: str
    paragraphs: list[str]


class SubmitOut(BaseModel):
    """What the patient is told once the answers are stored: the crisis text when they call for it."""

    received_at: datetime
    crisis: CrisisOut | None


def clinic_crisis_text(config: Config) -> CrisisText:
    """The crisis text: shipped, or the clinic's crisis_text.toml in its config dir."""
    config_dir = clinic_library(config).config_dir
    return crisis_text(None if config_dir is None else config_dir / CRISIS_FILE)


def crisis_for(findings: Sequence[AlertFinding], config: Config) -> CrisisOut | None:
    """The crisis text when the answers raised a mental-health finding, else None."""
    if not any(f.group is AlertGroup.MENTAL_HEALTH for f in findings):
        return None
    text = clinic_crisis_text(config)
    return CrisisOut(heading=text.heading, paragraphs=list(text.paragraphs))


def patient_alerts(db: Database, actor: Actor, patient_id: int) -> list[AlertOut]:
    """The alerts a patient's answers raised outside any session, most severe first, then newest."""
    require(actor, Permission.OUTCOMES_RECORD)
    with db.read() as session:
        load_patient(session, patient_id)
        rows = session.execute(
            select(SessionAlert).where(
                SessionAlert.patient_id == patient_id, SessionAlert.session_id.is_(None)
            )
        ).scalars()
        return alerts_out(session, None, rows)


def acknowledge_patient_alert(
    db: Database, actor: Actor, patient_id: int, alert_id: int, body: AckIn
) -> AlertOut:
    """A physician acknowledges a patient's alert with the action taken (compare-and-swap, audited)."""
    require(actor, Permission.PATIENT_ALERTS_ACKNOWLEDGE)
    with db.transaction() as session:
        row = session.execute(
            select(SessionAlert)
            .where(
                SessionAlert.id == alert_id,
                SessionAlert.patient_id == patient_id,
                SessionAlert.session_id.is_(None),
            )
            .with_for_update()
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"patient {patient_id} has no alert {alert_id}", field="alert_id")
        acknowledge_row(session, actor, row, body)
        return alerts_out(session, None, [row])[0]
