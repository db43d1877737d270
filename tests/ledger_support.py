"""Shared ledger set-up: stock received, a session's bag prepared, its waste witnessed and reconciled.

A session is signed only once its controlled drugs are reconciled (the shipped policy), so every test
that signs a session through the services prepares its bag here and wastes what is left.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from ketaclinic.services.ledger import catalogue, on_hand, preparation, receipts, reconciling, waste
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions.charting import session_row
from ketaclinic.store.db import Database
from tests.conftest import STAFF_PASSWORD

KETAMINE_NDC = "1234-5678-90"
SUPPLIER = {
    "supplier_name": "Example Wholesale Inc.",
    "supplier_address": "1 Distribution Way, Columbus, OH 43004",
    "supplier_registration": "AB1234563",  # a valid check digit
    "invoice": "INV-1001",
}
BAG_ML = 250.0


def ketamine_stock(
    db: Database, staff: Mapping[str, Actor], *, boxes: int = 1, containers: int = 10
) -> dict[str, int]:
    """A ketamine 50 mg/mL x 10 mL product in a safe, with `boxes` receipts of `containers` vials."""
    admin = staff["admin"]
    found = [p for p in catalogue.list_products(db, admin, config=None) if p.ndc == KETAMINE_NDC]
    product_id = (
        found[0].id
        if found
        else catalogue.add_product(
            db,
            admin,
            catalogue.ProductIn(drug="ketamine", strength_mg_ml=50, container_ml=10, ndc=KETAMINE_NDC),
            config=None,
        ).id
    )
    safes = [loc for loc in catalogue.list_locations(db, admin) if loc.name == "Safe A"]
    location_id = (
        safes[0].id if safes else catalogue.add_location(db, admin, catalogue.LocationIn(name="Safe A")).id
    )
    receipt_id = 0
    for _ in range(boxes):
        receipt_id = receipts.receive(
            db,
            staff["physician"],
            receipts.ReceiptIn(
                product_id=product_id,
                location_id=location_id,
                lot="K2401",
                expiry=date.today() + timedelta(days=365),
                containers=containers,
                **SUPPLIER,
            ),
            config=None,
        ).id
    return {"product_id": product_id, "location_id": location_id, "receipt_id": receipt_id}


def prepare_bag(
    db: Database, staff: Mapping[str, Actor], session_id: int, *, final_ml: float = BAG_ML
) -> int:
    """The session's bag at its charted concentration from the ketamine in stock; the preparation id."""
    ketamine_stock(db, staff) if not on_hand.containers_in_stock(db, staff["admin"]) else None
    with db.read() as session:
        concentration = session_row(session, session_id).concentration_mg_ml
    drawn_ml = final_ml * concentration / 50.0
    vials = [c.id for c in on_hand.containers_in_stock(db, staff["admin"]) if not c.quarantined]
    needed = [vials[i] for i in range(int(-(-drawn_ml // 10)))]
    made = preparation.prepare(
        db,
        staff["nurse"],
        session_id,
        preparation.PreparationIn(
            container_ids=needed, volume_drawn_ml=drawn_ml, final_volume_ml=final_ml, checked_by="physician"
        ),
        config=None,
    )
    return made.id


def waste_rest(
    db: Database, staff: Mapping[str, Actor], session_id: int, *, extra_ml: float = 0.0
) -> reconciling.ReconciliationOut:
    """After the infusion: waste what the chart says is left in the bag (plus `extra_ml`), witnessed."""
    now = reconciling.reconciliation(db, staff["nurse"], session_id, config=None)
    bag = next(p for p in now.preparations if p.purpose == "infusion")
    residual_ml = max(0.0, (now.prepared_mg - now.administered_mg) / bag.concentration_mg_ml) + extra_ml
    return waste.record_waste(
        db,
        staff["nurse"],
        session_id,
        waste.WasteIn(
            residual_ml=residual_ml,
            method="into a drug disposal container",
            witness="physician",
            witness_password=STAFF_PASSWORD,
        ),
        config=None,
    )
