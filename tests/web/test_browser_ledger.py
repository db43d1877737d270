"""In a real browser: receive a box, prepare a bag, run a session, waste with a witness, sign, and see the
balance move; then the counts and the report."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI

from ketaclinic.services.ledger import catalogue, counts
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import flowsheet, signing
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.infusion_rates import RateIn
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests.conftest import STAFF_PASSWORD, screenshot
from tests.ledger_support import KETAMINE_NDC, ketamine_stock
from tests.services.sessions_support import checked_in_session, clinic_ending_policy

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots-ledger")


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.evaluate("window.scrollTo(0, 0)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot(page, name), SHOTS / f"{name}.png")


def test_a_box_a_bag_a_witnessed_waste_and_the_balance(  # type: ignore[no-untyped-def]
    browser_login, app: FastAPI, web_db: Database, web_staff: dict[str, Actor], tmp_path: Path
) -> None:
    admin = web_staff["admin"]
    catalogue.add_product(
        web_db,
        admin,
        catalogue.ProductIn(drug="ketamine", strength_mg_ml=50, container_ml=10, ndc=KETAMINE_NDC),
        config=None,
    )
    catalogue.add_location(web_db, admin, catalogue.LocationIn(name="CD safe"))

    # 1. The physician receives a box; a mistyped DEA number is refused with everything typed kept.
    doctor = browser_login("physician")
    doctor.click("nav >> text=Stock")
    fields = {
        "lot": "K77",
        "expiry": (date.today() + timedelta(days=200)).isoformat(),
        "containers": "10",
        "supplier_name": "Example Wholesale",
        "supplier_address": "1 Distribution Way, Columbus OH",
        "supplier_registration": "AB1234564",
        "invoice": "INV-77",
    }
    for name, value in fields.items():
        doctor.fill(f"#receive-form input[name={name}]", value)
    doctor.click("#receive-form button:has-text('Receive')")
    doctor.wait_for_selector("#page-error:has-text('check digit')")
    assert doctor.input_value("#receive-form input[name=lot]") == "K77"
    _shot(doctor, "ledger-1-receive-refused")
    doctor.fill("#receive-form input[name=supplier_registration]", "AB1234563")
    doctor.click("#receive-form button:has-text('Receive')")
    doctor.wait_for_selector("#balances td:has-text('K77')")
    assert "5,000" in doctor.locator("#balances tbody tr").first.inner_text()
    _shot(doctor, "ledger-2-stock-received")

    # 2. The nurse prepares the bag on the chart: the wrong volume is a 409 naming the concentration.
    sid = checked_in_session(web_db, web_staff, mrn="BR-L1")
    nurse = browser_login("nurse")
    nurse.goto(f"/sessions/{sid}")
    nurse.wait_for_selector("#prepare-form")
    concentration = float(nurse.locator("#prepare-form strong").first.inner_text().split()[0])
    nurse.locator("#prepare-form input[name=container_ids]").first.check()
    nurse.fill("#prepare-form input[name=volume_drawn_ml]", "5")
    nurse.fill("#prepare-form input[name=final_volume_ml]", "100")
    nurse.fill("#prepare-form input[name=checked_by]", "physician")
    nurse.click("button:has-text('Record the preparation')")
    nurse.wait_for_selector("#page-error:has-text('charts at')")
    _shot(nurse, "ledger-3-bag-wrong-concentration")
    nurse.locator("#prepare-form input[name=container_ids]").first.check()
    nurse.fill("#prepare-form input[name=final_volume_ml]", f"{250 / concentration:g}")
    nurse.fill("#prepare-form input[name=checked_by]", "physician")
    nurse.click("button:has-text('Record the preparation')")
    nurse.wait_for_selector("#ledger-bag")
    assert nurse.locator("#page-error").count() == 0
    assert nurse.locator("#ledger-bag").inner_text().split("\n")[1].startswith("250.0 mg")
    _shot(nurse, "ledger-4-bag-prepared")

    # 3. The session runs an hour at 24.5 mg/h and ends; the administered dose comes from the chart.
    sessions.start(
        web_db, web_staff["nurse"], sid, RateIn(pump_ml_h=24.5, at=utcnow() - timedelta(hours=1)), config=None
    )
    sessions.end_infusion(
        web_db, web_staff["nurse"], sid, sessions.EndIn(reason="test"), stopped=True, config=None
    )
    flowsheet.chart_observation(
        web_db, web_staff["nurse"], sid, {"sbp": 124, "dbp": 76, "hr": 70, "spo2": 98, "rass": 0}, config=None
    )
    clinic = clinic_ending_policy(tmp_path / "clinic", recovery_min=0)
    app.state.settings = replace(app.state.settings, config_dir=clinic)
    signing.discharge(
        web_db,
        web_staff["nurse"],
        sid,
        signing.DischargeIn(answers={"able_to_walk": True, "escort_present": True}),
        config=clinic,
    )
    nurse.goto(f"/sessions/{sid}")
    nurse.wait_for_selector("#ledger-gate")  # not signable before the waste
    assert nurse.locator("button:has-text('Sign and lock')").count() == 0
    expected_ml = nurse.locator("#ledger-expected").inner_text().split()[0]

    # 4. The waste, witnessed: a wrong password is refused, then the witness types theirs.
    nurse.fill("#waste-form input[name=residual_ml]", expected_ml)
    nurse.fill("#waste-form input[name=method]", "emptied into a drug disposal container")
    nurse.fill("#waste-form input[name=witness]", "physician")
    nurse.fill("#waste-form input[name=witness_password]", "not-the-password")
    nurse.click("button:has-text('Record the waste')")
    nurse.wait_for_selector("#page-error:has-text('password')")
    _shot(nurse, "ledger-5-witness-refused")
    nurse.fill("#waste-form input[name=residual_ml]", expected_ml)
    nurse.fill("#waste-form input[name=witness]", "physician")
    nurse.fill("#waste-form input[name=witness_password]", STAFF_PASSWORD)
    nurse.click("button:has-text('Record the waste')")
    nurse.wait_for_selector("#ledger-discrepancy")
    # The residual is measured to 0.1 mL, so what is unaccounted for is a rounding within the tolerance.
    shown = nurse.locator("#ledger-discrepancy").inner_text().split()[0]
    assert abs(float(shown)) <= 0.1 and shown != "-0.0"  # a signed zero reads 0.0
    nurse.click("button:has-text('Sign and lock')")
    nurse.wait_for_selector("#signed:has-text('Signed by nurse')")
    _shot(nurse, "ledger-6-reconciled-and-signed")

    # 5. The balance moved by the 5 mL drawn; the counts and the report show it.
    nurse.click("nav >> text=Stock")
    row = nurse.locator("#balances tbody tr").first.inner_text()
    assert "95" in row and "4,750" in row
    _shot(nurse, "ledger-7-balance-moved")
    nurse.click("text=Counts")
    nurse.fill("input[name^=counted_]", "94")
    nurse.fill("input[name=second_counter]", "physician")
    nurse.fill("input[name=second_counter_password]", STAFF_PASSWORD)
    nurse.click("button:has-text('Record count')")
    nurse.wait_for_selector("#counts .verdict-hard:has-text('94.0 of 95.0 mL')")
    _shot(nurse, "ledger-8-count-difference")
    nurse.click("text=Reports")
    nurse.wait_for_selector("#dispensing td:has-text('administered')")
    assert nurse.locator("#reconciliations tbody tr").count() == 1
    _shot(nurse, "ledger-9-report")

    # 6. The physician destroys a sealed vial, the nurse witnessing with her password.
    doctor.goto("/ledger")
    doctor.locator("#dispose-form input[name=container_ids]").first.check()  # a sealed vial
    doctor.fill("#dispose-form input[name=method]", "rendered non-retrievable")
    doctor.fill("#dispose-form input[name=witness]", "nurse")
    doctor.fill("#dispose-form input[name=witness_password]", STAFF_PASSWORD)
    doctor.click("#dispose-form button:has-text('Destroy')")
    doctor.wait_for_selector("#balances td:has-text('85.0'), #page-error")
    assert doctor.locator("#page-error").count() == 0, doctor.locator("#page-error").inner_text()
    # The page checks only the head on load; the whole chain is walked on demand.
    assert "head at entry 5; not verified" in doctor.locator("#chain-state").inner_text()
    doctor.click("#verify-form button")
    doctor.wait_for_selector("#chain-state:has-text('ledger intact: 5 entries')")
    _shot(doctor, "ledger-10-destroyed-witnessed")


def test_a_count_difference_reaches_the_clinic_alerts_and_its_review_clears_them(  # type: ignore[no-untyped-def]
    browser_login, app: FastAPI, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    ids = ketamine_stock(web_db, web_staff, containers=2)
    line = counts.CountLineIn(product_id=ids["product_id"], lot="K2401", counted_ml=19.5)
    data = counts.CountIn(
        location_id=ids["location_id"],
        lines=[line],
        second_counter="physician",
        second_counter_password=STAFF_PASSWORD,
    )
    made = counts.record_count(web_db, web_staff["nurse"], data, config=None)
    doctor = browser_login("physician")
    doctor.goto("/")
    doctor.wait_for_selector(f"#clinic-alerts .clinic-alert:has-text('Stock count {made.id}')")
    assert doctor.locator("#alert-badge .badge").inner_text() == "1"
    _shot(doctor, "ledger-11-count-clinic-alert")
    doctor.click("#clinic-alerts a:has-text('stock counts')")
    doctor.wait_for_url("**/ledger/counts")
    _shot(doctor, "ledger-12-counts-to-review")
    counts.review_count(web_db, web_staff["physician"], made.id, counts.ReviewIn(note="half a vial spilt"))
    doctor.goto("/")
    doctor.wait_for_selector("#clinic-alerts :text('No open critical or physician alerts.')")
    assert doctor.locator("#alert-badge .badge").inner_text() == "0"
