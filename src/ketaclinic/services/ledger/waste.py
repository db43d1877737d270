"""The bag at the infusion's end: the dose administered, computed from the chart (never typed), booked once;
the residual wasted with its witness; the reconciliation, and a discrepancy's alert to the physicians."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from ketaclinic.data import Status
from ketaclinic.errors import ConflictError, NotFoundError
from ketaclinic.ledger import EntryKind, reconcile
from ketaclinic.monitoring import Advice, AlertFinding, AlertGroup, Severity
from ketaclinic.services.audit import audit, new_values
from ketaclinic.services.ledger.common import (
    Config,
    Method,
    ledger_policy,
    policy_witness,
    product_of,
    product_row,
)
from ketaclinic.services.ledger.preparation import book_use, infusion_preparation, product_ul
from ketaclinic.services.ledger.reconciling import ReconciliationOut, session_reconciliation
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.sessions.alert_raising import raise_findings, session_owner
from ketaclinic.services.sessions.charting import given_mg, session_row
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.ledger import LedgerPreparation
from ketaclinic.store.tables.sessions import InfusionSession

ENDED = frozenset({"completed", "stopped", "recovery", "discharged"})


class WasteIn(BaseModel):
    """What was left in the bag at the end (mL at the bag's concentration), how it was wasted, the witness."""

    model_config = ConfigDict(extra="forbid")
    residual_ml: float = Field(ge=0, le=5000)
    method: Method
    witness: str = ""
    witness_password: str = ""


def book_administration(session: Session, actor: Actor, row: InfusionSession) -> LedgerPreparation | None:
    """At the infusion's end: book what the chart says was given from the bag (once; None without a bag)."""
    prep = infusion_preparation(session, row.id, lock=True)
    if prep is None or prep.administered_mg is not None or row.ended_at is None:
        return prep
    administered = round(given_mg(session, row, row.ended_at), 6)
    product = product_of(product_row(session, prep.product_id))
    prep.administered_mg = administered
    audit(
        session,
        actor,
        "administer",
        "infusion_session",
        row.id,
        new_values(
            preparation_id=prep.id,
            administered_mg=administered,
        ),
        "computed from the charted rate segments and boluses at the infusion's end",
    )
    if product_ul(product, administered) == 0:
        return prep  # nothing given (stopped at once): no administration to book
    book_use(
        session,
        actor,
        row,
        prep,
        EntryKind.ADMINISTRATION,
        administered,
        product,
        administered_mg=administered,
        computed_from="charted rate segments and boluses",
    )
    return prep


def _raise_discrepancy(
    session: Session, actor: Actor, row: InfusionSession, prep: LedgerPreparation, config: Config
) -> None:
    """A durable alert to the physicians: drug unaccounted for (or more given than prepared)."""
    policy = ledger_policy(config)
    entry = policy.sources["tolerance_mg"]
    finding = AlertFinding(
        rule_key="ledger_reconciliation",
        severity=Severity.WARNING,
        advice=Advice.CONTINUE_AND_RECHECK,
        message=(
            f"controlled-substance discrepancy: {prep.prepared_mg:g} mg prepared,"
            f" {prep.administered_mg:g} mg given,"
            f" {prep.wasted_mg:g} mg wasted: {prep.discrepancy_mg:g} mg unaccounted for"
            f" (tolerance {policy.tolerance_mg:g} mg)"
        ),
        field=None,
        value=prep.discrepancy_mg,
        threshold=policy.tolerance_mg,
        t_min=None,
        trigger_key=f"ledger_reconciliation@preparation:{prep.id}",
        source=entry.source,
        status=entry.status if isinstance(entry.status, Status) else Status.LOCAL_POLICY,
        group=AlertGroup.DOSE,
        notify_physician=True,
    )
    raise_findings(session, actor, session_owner(session, row.id), [finding])


def record_waste(
    db: Database, actor: Actor, session_id: int, data: WasteIn, *, config: Config
) -> ReconciliationOut:
    """After the infusion: the bag's residual wasted (witnessed), then reconciled; a discrepancy alerts."""
    require(actor, Permission.LEDGER_DISPENSE)
    policy = ledger_policy(config)
    witness = policy_witness(db, actor, policy, data.witness, data.witness_password)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        if row.state not in ENDED:
            raise ConflictError(
                f"the waste is recorded after the infusion ends (it is {row.state})", field="state"
            )
        prep = book_administration(session, actor, row)
        if prep is None:
            raise NotFoundError("this session has no preparation", field="session_id")
        if prep.wasted_mg is not None:
            raise ConflictError("this bag's waste is already recorded", field="residual_ml")
        assert prep.administered_mg is not None  # book_administration set it (the session has ended)
        wasted = round(data.residual_ml * prep.concentration_mg_ml, 6)
        product = product_of(product_row(session, prep.product_id))
        result = reconcile(prep.prepared_mg, prep.administered_mg, wasted, tolerance_mg=policy.tolerance_mg)
        prep.wasted_mg = wasted
        prep.waste_method = data.method
        prep.waste_witness = witness
        prep.discrepancy_mg = result.discrepancy_mg
        prep.tolerance_mg = policy.tolerance_mg
        prep.reconciled_at = utcnow()
        prep.reconciled_by = actor.username
        prep.state = "reconciled" if result.within_tolerance else "discrepancy"
        if wasted > 0:
            book_use(
                session,
                actor,
                row,
                prep,
                EntryKind.WASTE,
                wasted,
                product,
                witness=witness,
                wasted_mg=wasted,
                residual_ml=data.residual_ml,
                method=data.method,
            )
        if not result.within_tolerance:
            _raise_discrepancy(session, actor, row, prep, config)
        audit(
            session,
            actor,
            "waste",
            "infusion_session",
            row.id,
            new_values(
                preparation_id=prep.id,
                administered_mg=prep.administered_mg,
                wasted_mg=wasted,
                discrepancy_mg=result.discrepancy_mg,
                waste_witness=witness,
            )
            | {"state": {"old": "prepared", "new": prep.state}},
        )
        return session_reconciliation(session, row, policy.tolerance_mg)
