"""The ledger over HTTP: receive, prepare (409 on the wrong concentration), reconcile, report, roles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ketaclinic.services.ledger.chain import verify_ledger
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.web.app import build_templates
from tests.ledger_support import SUPPLIER, ketamine_stock
from tests.services.sessions_support import checked_in_session

Client = Callable[[str | None], TestClient]


def test_stock_and_a_bag_over_the_api(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    physician, nurse, researcher = api_client("physician"), api_client("nurse"), api_client("researcher")
    bad_ndc = physician.post(
        "/api/v1/ledger/products",
        json={"drug": "ketamine", "strength_mg_ml": 50, "container_ml": 10, "ndc": "1234-56789"},
    )
    assert bad_ndc.status_code == 422 and bad_ndc.json()["field"] == "ndc"
    product = physician.post(
        "/api/v1/ledger/products",
        json={"drug": "ketamine", "strength_mg_ml": 50, "container_ml": 10, "ndc": "1234-5678-90"},
    )
    assert product.status_code == 201 and product.json()["schedule"] == "CIII"
    location = physician.post("/api/v1/ledger/locations", json={"name": "Safe A"}).json()
    receipt = {
        "product_id": product.json()["id"],
        "location_id": location["id"],
        "lot": "K1",
        "expiry": (date.today() + timedelta(days=100)).isoformat(),
        "containers": 4,
        **SUPPLIER,
    }
    assert nurse.post("/api/v1/ledger/receipts", json=receipt).status_code == 403
    bad = physician.post("/api/v1/ledger/receipts", json=receipt | {"supplier_registration": "AB123"})
    assert bad.status_code == 422 and bad.json()["field"] == "supplier_registration"
    made = physician.post("/api/v1/ledger/receipts", json=receipt)
    assert made.status_code == 201 and made.json()["received_mg"] == 2000
    assert researcher.get("/api/v1/ledger/balances").status_code == 403
    assert nurse.get("/api/v1/ledger/balances").json()[0]["balance_ml"] == 40
    sid = checked_in_session(web_db, web_staff)
    vial = made.json()["container_ids"][0]
    wrong = nurse.post(
        f"/api/v1/ledger/sessions/{sid}/preparation",
        json={
            "container_ids": [vial],
            "volume_drawn_ml": 10,
            "final_volume_ml": 100,
            "checked_by": "physician",
        },
    )
    assert wrong.status_code == 409 and wrong.json()["field"] == "final_volume_ml"
    concentration = nurse.get(f"/api/v1/sessions/{sid}").json()["concentration_mg_ml"]
    bag = nurse.post(
        f"/api/v1/ledger/sessions/{sid}/preparation",
        json={
            "container_ids": [vial],
            "volume_drawn_ml": 5,
            "final_volume_ml": 250 / concentration,
            "checked_by": "physician",
        },
    )
    assert bag.status_code == 201, bag.text
    early = nurse.post(
        f"/api/v1/ledger/sessions/{sid}/waste",
        json={"residual_ml": 1, "method": "sink", "witness": "physician"},
    )
    assert early.status_code in (409, 422)  # no password, and the infusion has not ended
    reconciled = nurse.get(f"/api/v1/ledger/sessions/{sid}/reconciliation").json()
    assert reconciled["prepared_mg"] == 250 and reconciled["state"] == "prepared"
    assert nurse.get("/api/v1/ledger/balances").json()[0]["balance_ml"] == 35
    today = date.today().isoformat()
    report = nurse.get("/api/v1/ledger/report", params={"from": today, "to": today})
    assert [r["kind"] for r in report.json()["dispensing"]] == ["receipt", "draw"]
    csv = nurse.get("/api/v1/ledger/report", params={"from": today, "to": today, "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and "receipt" in csv.text
    assert nurse.get("/api/v1/ledger/verify").json()["ok"] is True


@pytest.mark.parametrize(
    ("value", "shown"),
    [(-0.0, "0.0"), (-0.04, "0.0"), (-0.05, "-0.1"), (0.04, "0.0"), (-2.5, "-2.5"), (-1234.5, "-1,234.5")],
)
def test_a_number_that_rounds_to_zero_is_shown_unsigned(value: float, shown: str) -> None:
    assert build_templates().env.filters["num"](value) == shown


def test_the_stock_page_checks_the_head_and_walks_the_chain_on_demand(
    page_client: Callable[[str], TestClient], web_db: Database, web_staff: dict[str, Actor]
) -> None:
    ketamine_stock(web_db, web_staff, containers=2)
    nurse = page_client("nurse")
    page = nurse.get("/ledger").text
    assert "head at entry 1; not verified since it moved" in page and 'id="verify-form"' in page
    walked = nurse.post("/ledger/verify", data={"csrf_token": nurse.csrf})
    assert walked.status_code == 200 and "ledger intact: 1 entries (verified" in walked.text
    assert "ledger intact: 1 entries" in nurse.get("/ledger").text  # remembered for this head
    ketamine_stock(web_db, web_staff, containers=1)  # a second receipt moves the head
    assert "head at entry 2; not verified since it moved" in nurse.get("/ledger").text
    with web_db.transaction() as session:  # the head names an entry that does not exist
        session.execute(text("UPDATE ledger_head SET last_seq = 7 WHERE id = 1"))
    broken = nurse.get("/ledger").text
    assert "ledger head broken: the ledger ends at entry 2 but its head records entry 7" in broken
    walked_again = nurse.post("/ledger/verify", data={"csrf_token": nurse.csrf}).text
    assert "ledger head broken" in walked_again  # the head's own fault is shown before the walk's
    assert verify_ledger(web_db).first_bad_seq == 3
    assert page_client("researcher").get("/ledger").status_code == 403
