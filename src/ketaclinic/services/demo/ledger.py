"""Demo clinic: controlled-substance stock received into the safe (synthetic supplier and invoices), and
the bag of each charted session prepared, double-checked, wasted with a witness and reconciled."""

from __future__ import annotations

import math
from datetime import timedelta

from ketaclinic.services.demo.context import DemoContext
from ketaclinic.services.ledger import catalogue, on_hand, preparation, receipts, reconciling, waste
from ketaclinic.services.sessions.charting import session_row
from ketaclinic.store.db import Database

# Synthetic: a made-up wholesaler whose registration number only passes the format check.
SUPPLIER = {
    "supplier_name": "Demo Pharma Wholesale",
    "supplier_address": "100 Example Park, Columbus, OH 43004",
    "supplier_registration": "PD1234563",
}
SYNTHETIC_NDC = "synthetic demo NDC, not a real product code"
VIAL_MG = 500.0  # 50 mg/mL x 10 mL
# The demo's witness confirms with the demo password (every demo login is public, see DEMO_LOGINS).
WITNESS = ("drsmith", "physician-demo-pass")


def seed(db: Database, context: DemoContext) -> None:
    """Products, the safe, and two boxes of ketamine and one of midazolam received a month ago."""
    physician = context.physician
    # Synthetic: the NDCs only pass the format check and name no real product; each says so on its label.
    products = [
        catalogue.ProductIn(drug=drug, strength_mg_ml=mg_ml, container_ml=ml, ndc=ndc, note=SYNTHETIC_NDC)
        for drug, mg_ml, ml, ndc in (
            ("ketamine", 50, 10, "99999-001-01"),
            ("esketamine", 25, 2, "99999-002-01"),
            ("midazolam", 1, 5, "99999-003-01"),
        )
    ]
    made = [catalogue.add_product(db, physician, p, config=context.config) for p in products]
    safe = catalogue.add_location(
        db, physician, catalogue.LocationIn(name="CD safe, treatment room", kind="safe")
    )
    catalogue.add_location(
        db, physician, catalogue.LocationIn(name="Locked cabinet, recovery", kind="cabinet")
    )
    received_on = context.today - timedelta(days=30)
    for product, lot, containers, invoice in (
        (made[0], "K24A", 25, "DPW-5501"),
        (made[0], "K24B", 25, "DPW-5502"),
        (made[1], "E24A", 25, "DPW-5503"),
        (made[2], "M24A", 10, "DPW-5504"),
    ):
        receipts.receive(
            db,
            physician,
            receipts.ReceiptIn(
                product_id=product.id,
                location_id=safe.id,
                lot=lot,
                expiry=context.today + timedelta(days=400),
                containers=containers,
                invoice=invoice,
                received_on=received_on,
                **SUPPLIER,
            ),
            config=context.config,
        )


def prepare_bag(db: Database, context: DemoContext, session_id: int, planned_total_mg: float) -> None:
    """The session's bag: whole vials covering the planned dose, diluted to the charted concentration."""
    with db.read() as session:
        row = session_row(session, session_id)
        concentration, drug = row.concentration_mg_ml, row.drug
    wanted = "esketamine" if drug == "s-ketamine" else "ketamine"
    products = {
        p.id: p for p in catalogue.list_products(db, context.nurse, config=context.config) if p.drug == wanted
    }
    vials = [
        c
        for c in on_hand.containers_in_stock(db, context.nurse)
        if c.product_id in products and not c.quarantined
    ]
    product = products[vials[0].product_id]
    per_vial_mg = product.strength_mg_ml * product.container_ml
    drawn_mg = max(per_vial_mg, math.ceil(planned_total_mg / per_vial_mg) * per_vial_mg)
    count = int(drawn_mg / per_vial_mg)
    same_lot = [c.id for c in vials if c.lot == vials[0].lot][:count]
    preparation.prepare(
        db,
        context.nurse,
        session_id,
        preparation.PreparationIn(
            container_ids=same_lot,
            volume_drawn_ml=drawn_mg / product.strength_mg_ml,
            final_volume_ml=drawn_mg / concentration,
            checked_by=context.physician.username,
        ),
        config=context.config,
    )


def waste_rest(db: Database, context: DemoContext, session_id: int) -> None:
    """After the infusion: what the chart leaves in the bag wasted with a witness, reconciled."""
    now = reconciling.reconciliation(db, context.nurse, session_id, config=context.config)
    bag = next(p for p in now.preparations if p.purpose == preparation.INFUSION)
    residual_ml = (now.prepared_mg - now.administered_mg) / bag.concentration_mg_ml
    waste.record_waste(
        db,
        context.nurse,
        session_id,
        waste.WasteIn(
            residual_ml=round(max(0.0, residual_ml), 4),
            method="bag emptied into a drug disposal container",
            witness=WITNESS[0],
            witness_password=WITNESS[1],
        ),
        config=context.config,
    )
