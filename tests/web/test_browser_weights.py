"""In a real browser: a tenfold check-in weight refused, a reasoned one flagged for the physician, and a
registry typo confirmed or struck out."""

from __future__ import annotations

import pytest

from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.store.db import Database
from tests import factories
from tests.conftest import screenshot
from tests.services.sessions_support import approved_plan

pytestmark = pytest.mark.browser

BASELINE = (("sbp", "128"), ("dbp", "78"), ("hr", "72"), ("spo2", "98"), ("nrs", "7"))


def _fill_check_in(page, weight: str, reason: str = "") -> None:  # type: ignore[no-untyped-def]
    page.fill("#check-in input[name=weight_kg]", weight)
    page.fill("#check-in input[name=weight_discrepancy_reason]", reason)
    for name, value in BASELINE:
        page.fill(f"#check-in input[name={name}]", value)
    page.select_option("select[name=premed_medication]", "none")
    page.select_option("select[name=pregnancy_check]", "negative_test")


def test_a_tenfold_check_in_weight_is_refused_and_a_reasoned_one_tells_the_physician(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    plan_id = approved_plan(web_db, web_staff, mrn="BR-W1", weight_kg=72.5)
    sid = create_session(web_db, web_staff["nurse"], SessionCreate(plan_id=plan_id, session_number=1)).id
    nurse = browser_login("nurse")
    nurse.goto(f"/sessions/{sid}")
    _fill_check_in(nurse, "7.2")
    nurse.click("button:has-text('Check in')")
    error = nurse.wait_for_selector("#page-error")
    assert "Weight today" in error.inner_text() and "90% below the plan's 72.5 kg" in error.inner_text()
    assert nurse.locator(".big-state").inner_text().strip() == "scheduled"
    screenshot(nurse, "weights-check-in-tenfold-refused")

    _fill_check_in(nurse, "64", "lost 8 kg since the plan; weighed twice")
    button = nurse.locator("button:has-text('Check in')")
    button.dblclick()
    nurse.wait_for_selector(".big-state:has-text('checked in')")
    flag = nurse.locator("#weight-discrepancy")
    assert "12% below the plan's 72.5 kg" in flag.inner_text()
    assert "weighed twice" in flag.inner_text()
    nurse.wait_for_selector("#alerts .session-alert:has-text('Physician to review')")
    assert nurse.locator("#alerts .session-alert:has-text('Physician to review')").count() == 1
    screenshot(nurse, "weights-check-in-reasoned-flag")

    physician = browser_login("physician")
    physician.goto(f"/sessions/{sid}")
    physician.wait_for_selector("#alerts .session-alert:has-text('Check-in weight')")
    assert "weighed twice" in physician.locator("#weight-discrepancy").inner_text()
    screenshot(physician, "weights-physician-sees-flag")


def test_a_registry_typo_is_confirmed_or_struck_out(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    pid = factories.make_patient(web_db, web_staff["nurse"], mrn="BR-W2", weight_kg=63.3)
    nurse = browser_login("nurse")
    nurse.goto(f"/patients/{pid}")
    nurse.fill("input[name=weight_kg]", "6.3")
    nurse.click("button:has-text('Add measurement')")
    nurse.wait_for_selector(".field-error:has-text('weight_kg')")
    assert nurse.input_value("input[name=weight_kg]") == "6.3"
    screenshot(nurse, "weights-registry-asks-confirmation")
    nurse.fill("input[name=confirm_reason]", "scale read 6.3")
    nurse.click("button:has-text('Confirm measurement')")
    nurse.wait_for_selector("td:has-text('Confirmed: scale read 6.3')")

    physician = browser_login("physician")
    physician.goto(f"/patients/{pid}")
    row = physician.locator("tr:has-text('Confirmed: scale read 6.3')")
    row.locator("button:has-text('Strike out')").click()
    assert physician.url.endswith(f"/patients/{pid}")  # the browser asks for the reason (required)
    row.locator("input[name=reason]").fill("typo for 63.3 kg")
    row.locator("button:has-text('Strike out')").click()
    physician.wait_for_selector("td:has-text('Struck out by physician: typo for 63.3 kg')")
    assert physician.locator("tr.struck-out s:has-text('6.3')").count() == 1
    screenshot(physician, "weights-registry-struck-out")
