"""Reconciling a session's controlled drugs: prepared against administered and wasted, within the tolerance or
accepted by a physician with a reason; and the gate that holds signing until they are."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError
from ketaclinic.inputs import RecordRef
from ketaclinic.ledger import CONTROLLED_DRUGS, Reconciliation, reconcile
from ketaclinic.services.audit import audit, new_values
from ketaclinic.services.ledger.common import Config, Reason, ledger_policy
from ketaclinic.services.ledger.preparation import (
    INFUSION,
    PreparationOut,
    infusion_preparation,
    preparation_out,
)
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.sessions.charting import given_mg, session_row
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.ledger import LedgerPreparation
from ketaclinic.store.tables.sessions import InfusionSession, SessionMedication

SETTLED = frozenset({"reconciled", "accepted"})


class AcceptIn(BaseModel):
    """A physician's reasoned acceptance of a reconciliation outside the tolerance."""

    model_config = ConfigDict(extra="forbid")
    reason: Reason


class ReconciliationOut(BaseModel):
    """A session's reconciliation (the `ledger reconcile` fields) and whether it is within tolerance."""

    session_id: RecordRef
    prepared_mg: float
    administered_mg: float
    wasted_mg: float
    discrepancy_mg: float
    tolerance_mg: float
    within_tolerance: bool
    state: str
    preparations: list[PreparationOut]


def accept_discrepancy(db: Database, actor: Actor, session_id: int, data: AcceptIn) -> PreparationOut:
    """A physician or admin accepts a reconciliation outside the tolerance, with a reason; the alert stays."""
    require(actor, Permission.LEDGER_ADJUST)
    with db.transaction() as session:
        session_row(session, session_id, lock=True)
        prep = infusion_preparation(session, session_id, lock=True)
        if prep is None or prep.state != "discrepancy":
            raise ConflictError(
                "this session has no reconciliation outside the tolerance", field="session_id"
            )
        prep.state = "accepted"
        audit(
            session,
            actor,
            "accept_discrepancy",
            "infusion_session",
            session_id,
            {"preparation_state": {"old": "discrepancy", "new": "accepted"}}
            | new_values(discrepancy_mg=prep.discrepancy_mg),
            data.reason,
        )
        return preparation_out(prep)


def session_reconciliation(session: Session, row: InfusionSession, tolerance_mg: float) -> ReconciliationOut:
    """The session's numbers: the bag's once reconciled, else what the chart says was given so far."""
    preps = list(
        session.execute(
            select(LedgerPreparation)
            .where(LedgerPreparation.session_id == row.id)
            .order_by(LedgerPreparation.id)
        ).scalars()
    )
    bag = next((p for p in preps if p.purpose == INFUSION), None)
    administered = (
        bag.administered_mg
        if bag is not None and bag.administered_mg is not None
        else (given_mg(session, row, row.ended_at or utcnow()) if row.started_at else 0.0)
    )
    result: Reconciliation = reconcile(
        bag.prepared_mg if bag else 0.0,
        administered,
        bag.wasted_mg or 0.0 if bag else 0.0,
        tolerance_mg=bag.tolerance_mg if bag and bag.tolerance_mg is not None else tolerance_mg,
    )
    given_none = row.started_at is not None and administered == 0
    state = bag.state if bag else ("nothing given" if given_none else "not prepared")
    return ReconciliationOut(
        session_id=row.id,
        prepared_mg=result.prepared_mg,
        administered_mg=round(result.administered_mg, 6),
        wasted_mg=result.wasted_mg,
        discrepancy_mg=result.discrepancy_mg,
        tolerance_mg=result.tolerance_mg,
        within_tolerance=result.within_tolerance,
        state=state,
        preparations=[preparation_out(p) for p in preps],
    )


def reconciliation(db: Database, actor: Actor, session_id: int, *, config: Config) -> ReconciliationOut:
    """The session's reconciliation: prepared, administered (from the chart), wasted, discrepancy."""
    require(actor, Permission.LEDGER_VIEW)
    with db.read() as session:
        row = session_row(session, session_id)
        return session_reconciliation(session, row, ledger_policy(config).tolerance_mg)


def signing_gate(session: Session, row: InfusionSession, config: Config) -> None:
    """ConflictError unless the session's controlled drugs are reconciled (when the clinic's policy asks)."""
    if not ledger_policy(config).reconcile_before_signing:
        return
    bag = infusion_preparation(session, row.id)
    if bag is None:
        if (
            row.started_at is not None
            and row.drug in CONTROLLED_DRUGS
            and given_mg(session, row, row.ended_at or utcnow()) > 0
        ):
            raise ConflictError(
                "cannot sign: the infusion's preparation is not recorded in the ledger", field="ledger"
            )
    elif bag.state not in SETTLED:
        doing = (
            "its waste is not recorded"
            if bag.state == "prepared"
            else "its reconciliation is outside the tolerance"
        )
        raise ConflictError(f"cannot sign: the preparation is not reconciled ({doing})", field="ledger")
    doses = session.execute(
        select(SessionMedication.id, SessionMedication.medication).where(
            SessionMedication.session_id == row.id,
            SessionMedication.medication.in_(CONTROLLED_DRUGS),
            SessionMedication.purpose != "ketamine_bolus",
        )
    ).all()
    dispensed = set(
        session.execute(
            select(LedgerPreparation.medication_id).where(LedgerPreparation.session_id == row.id)
        ).scalars()
    )
    missing = [f"{name} dose {mid}" for mid, name in doses if mid not in dispensed]
    if missing:
        raise ConflictError(
            f"cannot sign: not dispensed from the ledger: {', '.join(missing)}", field="ledger"
        )
