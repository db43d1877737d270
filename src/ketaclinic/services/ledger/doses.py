"""Controlled drugs charted as doses on the session (a midazolam rescue or premedication), drawn from stock
the way a bag is: the charted dose is what was administered, the rest of what was drawn is wasted."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ketaclinic.errors import ConflictError, NotFoundError
from ketaclinic.inputs import RecordRef
from ketaclinic.ledger import CONTROLLED_DRUGS, EntryKind, ml_to_ul
from ketaclinic.services.audit import audit, new_values
from ketaclinic.services.ledger.common import (
    Config,
    Method,
    ledger_policy,
    policy_witness,
    product_of,
    product_row,
)
from ketaclinic.services.ledger.preparation import (
    PreparationOut,
    book_use,
    containers_to_draw,
    draw,
    preparation_out,
)
from ketaclinic.services.permissions import Actor, Permission, require
from ketaclinic.services.sessions.charting import session_row
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.ledger import LedgerPreparation
from ketaclinic.store.tables.sessions import SessionMedication


class DoseDispenseIn(BaseModel):
    """A charted controlled-drug dose drawn from a container; what was drawn beyond the dose is wasted."""

    model_config = ConfigDict(extra="forbid")
    medication_id: RecordRef
    container_id: RecordRef
    volume_drawn_ml: float = Field(gt=0, le=100)
    method: Method = "wasted into a pharmaceutical waste container"
    witness: str = ""
    witness_password: str = ""


def dispense_dose(
    db: Database, actor: Actor, session_id: int, data: DoseDispenseIn, *, config: Config
) -> PreparationOut:
    """Draw a charted controlled-drug dose from a container: the dose administered, the rest wasted."""
    require(actor, Permission.LEDGER_DISPENSE)
    policy = ledger_policy(config)
    witness = policy_witness(db, actor, policy, data.witness, data.witness_password)
    with db.transaction() as session:
        row = session_row(session, session_id, lock=True)
        if row.state == "signed":
            raise ConflictError("the session is signed and locked", field="state")
        med = session.get(SessionMedication, data.medication_id)
        if med is None or med.session_id != row.id:
            raise NotFoundError(f"no dose {data.medication_id} in this session", field="medication_id")
        if med.medication not in CONTROLLED_DRUGS or med.purpose == "ketamine_bolus" or med.unit != "mg":
            raise ConflictError(
                "only a controlled-drug dose charted in mg is dispensed this way", field="medication_id"
            )
        if session.execute(
            select(LedgerPreparation.id).where(LedgerPreparation.medication_id == med.id)
        ).first():
            raise ConflictError("this dose is already dispensed", field="medication_id")
        containers, first = containers_to_draw(session, [data.container_id], med.medication)
        product = product_of(product_row(session, first.product_id))
        drawn_ul = ml_to_ul(data.volume_drawn_ml)
        drawn_mg = product.mg_of(drawn_ul)
        wasted = round(drawn_mg - med.dose, 6)
        if wasted < 0:
            raise ConflictError(
                f"{drawn_mg:g} mg drawn is less than the {med.dose:g} mg charted", field="volume_drawn_ml"
            )
        prep = LedgerPreparation(
            session_id=row.id,
            purpose=med.purpose,
            medication_id=med.id,
            product_id=first.product_id,
            lot=first.lot,
            location_id=first.location_id,
            containers_json=json.dumps([first.id]),
            drawn_ul=drawn_ul,
            prepared_mg=drawn_mg,
            diluent="none",
            final_volume_ml=data.volume_drawn_ml,
            concentration_mg_ml=product.strength_mg_ml,
            prepared_by=actor.username,
            prepared_at=utcnow(),
            state="reconciled",
            administered_mg=med.dose,
            wasted_mg=wasted,
            waste_method=data.method if wasted > 0 else None,
            waste_witness=witness if wasted > 0 else None,
            discrepancy_mg=0.0,
            tolerance_mg=policy.tolerance_mg,
            reconciled_at=utcnow(),
            reconciled_by=actor.username,
        )
        session.add(prep)
        session.flush()
        draw(session, actor, row, containers, drawn_ul, prep)
        for kind, mg, extra in (
            (EntryKind.ADMINISTRATION, med.dose, {"administered_mg": med.dose, "medication_id": med.id}),
            (EntryKind.WASTE, wasted, {"wasted_mg": wasted, "method": data.method}),
        ):
            if mg > 0:
                witnessed = witness if kind is EntryKind.WASTE else None
                book_use(session, actor, row, prep, kind, mg, product, witness=witnessed, **extra)
        audit(
            session,
            actor,
            "dispense_dose",
            "infusion_session",
            row.id,
            new_values(
                medication_id=med.id,
                administered_mg=med.dose,
                wasted_mg=wasted,
                waste_witness=witness,
            ),
        )
        return preparation_out(prep)
