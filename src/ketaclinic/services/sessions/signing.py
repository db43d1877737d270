"""After the infusion: discharge on post-infusion readings, the signature that locks the record, addenda."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.inputs import IsoDateTime
from ketaclinic.monitoring import (
    SessionAction,
    SessionState,
    missing_for_signature,
    transition,
)
from ketaclinic.services.audit import audit
from ketaclinic.services.ledger.reconciling import signing_gate
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.sessions.charting import (
    Config,
    baseline_of,
    dumps,
    observation_rows,
    require_state,
    segment_rows,
    session_row,
    when,
)
from ketaclinic.services.sessions.ending import discharge_verdict
from ketaclinic.services.sessions.lifecycle import Reason, take_step
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import InfusionSession, SessionAddendum, SessionMedication


class DischargeIn(BaseModel):
    """The nurse's answers to the discharge checklist questions."""

    model_config = ConfigDict(extra="forbid")
    answers: dict[str, bool] = Field(default_factory=dict)
    at: IsoDateTime | None = None


class AddendumIn(BaseModel):
    """A note added to a signed record."""

    model_config = ConfigDict(extra="forbid")
    text: Reason


def discharge(db: Database, actor: Actor, session_id: int, data: DischargeIn, *, config: Config) -> str:
    """Discharge after the minimum recovery, on post-infusion readings (409 naming what is not met)."""
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        require_state(row, frozenset({SessionState.RECOVERY.value}), "discharge")
        at = when(data.at)
        result = discharge_verdict(session, row, at, data.answers, config)
        if not result.ok:
            raise ConflictError(f"discharge criteria not met: {'; '.join(result.unmet)}", field="discharge")
        old = take_step(session, actor, row, SessionAction.DISCHARGE)
        row.discharged_at = at
        row.discharge_json = dumps(result.model_dump(mode="json") | {"answers": data.answers})
        audit(
            session,
            actor,
            "discharge",
            "infusion_session",
            row.id,
            {"state": {"old": old, "new": row.state}, "discharge": {"old": None, "new": data.answers}},
        )
        return row.state


def signature_facts(session: Session, row: InfusionSession) -> dict[str, Any]:
    """The flat facts monitoring.missing_for_signature reads."""
    checkin = json.loads(row.checkin_json)
    rows = observation_rows(session, row.id)
    baseline = baseline_of(session, row)
    discharge_facts = json.loads(row.discharge_json)
    premeds = session.execute(
        select(SessionMedication.id).where(
            SessionMedication.session_id == row.id, SessionMedication.purpose == "premedication"
        )
    ).first()
    return {
        "weight_kg": row.measured_weight_kg,
        "baseline_sbp": baseline and baseline.sbp,
        "baseline_dbp": baseline and baseline.dbp,
        "baseline_hr": baseline and baseline.hr,
        "baseline_spo2": baseline and baseline.spo2,
        "baseline_nrs": None if baseline is None or baseline.nrs is None else str(baseline.nrs),
        "premedication": "given" if premeds else checkin.get("premedication"),
        "segments": segment_rows(session, row.id),
        "observations": [o for o in rows if o.phase != "pre"],
        "end_state": row.end_state,
        "stop_reason": row.stop_reason,
        "discharge_criteria_met": bool(discharge_facts.get("ok")),
        "discharged_at": row.discharged_at,
        "pregnancy_check_applies": checkin.get("pregnancy_check_applies", False),
        "pregnancy_check": checkin.get("pregnancy_check"),
    }


def sign(db: Database, actor: Actor, session_id: int, *, config: Config) -> str:
    """Sign the discharged record: it is locked from then on (only addenda). Returns the new state.

    The clinic's ledger policy can ask first that the session's controlled drugs are reconciled.
    """
    require(actor, Permission.SESSIONS_SIGN)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        transition(row.state, SessionAction.SIGN)
        missing = missing_for_signature(signature_facts(session, row))
        if missing:
            raise InputError(f"cannot sign: missing {'; '.join(missing)}", field="signature")
        signing_gate(session, row, config)
        old = take_step(session, actor, row, SessionAction.SIGN)
        row.signed_at = utcnow()
        row.signed_by = actor.username
        audit(
            session,
            actor,
            "sign",
            "infusion_session",
            row.id,
            {"state": {"old": old, "new": row.state}, "signed_by": {"old": None, "new": actor.username}},
        )
        return row.state


def add_addendum(db: Database, actor: Actor, session_id: int, data: AddendumIn) -> int:
    """Add a note to a signed record; the id of the addendum."""
    require(actor, Permission.SESSIONS_CHART)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        transition(row.state, SessionAction.ADD_ADDENDUM)
        addendum = SessionAddendum(
            session_id=row.id, text=data.text, author=actor.username, created_at=utcnow()
        )
        session.add(addendum)
        session.flush()
        audit(
            session,
            actor,
            "addendum",
            "infusion_session",
            row.id,
            {"addendum_id": {"old": None, "new": addendum.id}, "text": {"old": None, "new": data.text}},
        )
        return addendum.id
