"""The screening and consent gate: what must be signed before a plan is made or a session given."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.screening import Verdict
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.store.db import Database
from ketaclinic.store.tables.screening import Consent, Screening

SIGNED = "signed"


CONSENT_SIGNED = "signed"


CONSENT_WITHDRAWN = "withdrawn"


TREATABLE_VERDICTS = frozenset({Verdict.ELIGIBLE.value, Verdict.ELIGIBLE_WITH_PRECAUTIONS.value})


def latest_signed_screening(session: Session, patient_id: int) -> Screening | None:
    """The patient's most recently signed screening, if any."""
    return session.execute(
        select(Screening)
        .where(Screening.patient_id == patient_id, Screening.status == SIGNED)
        .order_by(Screening.signed_at.desc(), Screening.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def active_consent(session: Session, patient_id: int, protocol_id: str) -> Consent | None:
    """The patient's most recent signed, not withdrawn consent to this protocol."""
    return session.execute(
        select(Consent)
        .where(
            Consent.patient_id == patient_id,
            Consent.protocol_id == protocol_id,
            Consent.status == CONSENT_SIGNED,
        )
        .order_by(Consent.physician_signed_at.desc(), Consent.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def plan_prerequisites(session: Session, patient_id: int, protocol_id: str) -> list[str]:
    """What blocks approving a dose plan for this patient and protocol (empty when nothing does)."""
    missing: list[str] = []
    screening = latest_signed_screening(session, patient_id)
    if screening is None:
        missing.append("no signed screening for this patient")
    elif screening.verdict not in TREATABLE_VERDICTS:
        missing.append(
            f"the latest signed screening (#{screening.id}) is {screening.verdict.replace('_', ' ')}"
        )
    if active_consent(session, patient_id, protocol_id) is None:
        missing.append(f"no signed consent to protocol {protocol_id}")
    return missing


def consented_protocols(session: Session) -> dict[int, str]:
    """Patient id -> protocol id for patients who may be treated: treatable screening and active consent."""
    consents = session.execute(
        select(Consent)
        .where(Consent.status == CONSENT_SIGNED)
        .order_by(Consent.physician_signed_at, Consent.id)
    ).scalars()
    latest: dict[int, str] = {}
    for consent in consents:
        latest[consent.patient_id] = consent.protocol_id  # later rows win: the newest consent
    out: dict[int, str] = {}
    for patient_id, protocol_id in latest.items():
        screening = latest_signed_screening(session, patient_id)
        if screening is not None and screening.verdict in TREATABLE_VERDICTS:
            out[patient_id] = protocol_id
    return out


def missing_per_protocol(
    db: Database, actor: Actor, patient_id: int, protocol_ids: list[str]
) -> dict[str, list[str]]:
    """For each protocol, what the patient still lacks before a plan can be made (empty: nothing)."""
    require(actor, Permission.PATIENTS_VIEW)
    with db.transaction() as session:
        return {pid: plan_prerequisites(session, patient_id, pid) for pid in dict.fromkeys(protocol_ids)}
