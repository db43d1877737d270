"""In a real browser: the chart screen through a nurse's mistakes, an idle login, and the physician's view."""

from __future__ import annotations

import pytest

from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.store.db import Database
from tests.conftest import STAFF_PASSWORD, screenshot
from tests.login_support import idle_for
from tests.services.sessions_support import approved_plan

pytestmark = pytest.mark.browser


def test_nurse_mistakes_an_idle_login_and_the_physicians_record(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    plan_id = approved_plan(web_db, web_staff, mrn="BR-C1")
    sid = create_session(web_db, web_staff["nurse"], SessionCreate(plan_id=plan_id, session_number=1)).id
    page = browser_login("nurse")
    page.goto(f"/sessions/{sid}")

    # A weight typed in grams' place: refused beside the field, everything typed kept.
    typed = {"weight_kg": "0.7", "sbp": "128", "dbp": "78", "hr": "72", "spo2": "98", "nrs": "7"}
    for name, value in typed.items():
        page.fill(f"#check-in input[name={name}]", value)
    page.select_option("select[name=premed_medication]", "none")
    page.select_option("select[name=pregnancy_check]", "negative_test")
    page.click("button:has-text('Check in')")
    page.wait_for_selector("#err-check-in-weight_kg")
    assert page.inner_text("#err-check-in-weight_kg") == "must be at least 1 kg; 0.7 kg was entered"
    assert all(page.input_value(f"#check-in input[name={n}]") == v for n, v in typed.items())
    assert page.input_value("select[name=pregnancy_check]") == "negative_test"
    screenshot(page, "chart-check-in-refused")
    page.fill("#check-in input[name=weight_kg]", "70")
    page.click("button:has-text('Check in')")
    page.wait_for_selector("text=Start the infusion")

    # A double click on confirm starts the infusion once.
    page.fill("#rate input[name=rate]", "24.5")
    page.click("button:has-text('Check against library and plan')")
    page.wait_for_selector("#rate-confirm")
    page.dblclick("button:has-text('Confirm start')")
    page.wait_for_selector(".big-state:has-text('running')")
    assert page.locator("#segments tbody tr").count() == 1
    assert page.locator("#page-error").count() == 0

    # An impossible saturation: the row comes back with the message beside SpO2 and the note kept.
    for name, value in (("sbp", "126"), ("hr", "74"), ("spo2", "140"), ("note", "drowsy, rousable")):
        page.fill(f"#obs-form input[name={name}]", value)
    page.press("#obs-form input[name=spo2]", "Enter")
    page.wait_for_selector("#err-obs-form-spo2")
    assert "impossible (0-100 %)" in page.inner_text("#err-obs-form-spo2")
    assert page.input_value("#obs-form input[name=note]") == "drowsy, rousable"
    headings = page.locator("#flowsheet thead th").all_inner_texts()
    assert "SpO₂ %" in headings and "sbp" not in headings
    screenshot(page, "chart-reading-refused")
    page.fill("#obs-form input[name=spo2]", "97")
    page.press("#obs-form input[name=spo2]", "Enter")
    page.wait_for_selector("#flowsheet td:has-text('drowsy, rousable')")

    # Idle with only the alert poll running: the warning comes, and staying logged in dismisses it.
    idle_for(web_db, 14)
    page.wait_for_selector("#login-warning[open]", timeout=25000)
    screenshot(page, "chart-login-warning")
    page.click("#stay-logged-in")
    page.wait_for_selector("#login-warning", state="hidden")

    # Expired while a reading is half typed: the re-login dialog, then the reading goes through.
    page.fill("#obs-form input[name=hr]", "69")
    page.fill("#obs-form input[name=note]", "after re-login")
    idle_for(web_db, 16)
    page.wait_for_selector("#relogin[open]", timeout=15000)
    assert page.locator("#alerts form[action='/login']").count() == 0  # never nested in a fragment
    frame = page.frame_locator("#relogin-frame")
    frame.locator("input[name=username]").fill("nurse")
    frame.locator("input[name=password]").fill(STAFF_PASSWORD)
    screenshot(page, "chart-relogin-dialog")
    frame.locator("button[type=submit]").click()
    page.wait_for_selector("#relogin", state="hidden")
    assert page.input_value("#obs-form input[name=note]") == "after re-login"
    page.press("#obs-form input[name=hr]", "Enter")
    page.wait_for_selector("#flowsheet td:has-text('after re-login')")

    # The physician reads the record: totals stated, headings readable.
    doctor = browser_login("physician")
    doctor.goto(f"/sessions/{sid}")
    total = doctor.inner_text("#ketamine-total")
    assert "mg planned" in total and "ketamine given" in total.lower()
    screenshot(doctor, "chart-physician-record")
