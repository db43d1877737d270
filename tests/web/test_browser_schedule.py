"""Browser: a nurse books a series from the approved plan page, moves one appointment, sees the patient page
list them; an admin sees the clinic calendar."""

from __future__ import annotations

import pytest

from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests import factories
from tests.conftest import screenshot

pytestmark = pytest.mark.browser


def test_book_a_series_move_one_and_see_the_patient_page(  # type: ignore[no-untyped-def]
    browser_login, live_server: str, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    plan_id = factories.approved_plan(web_db, web_staff, mrn="BS-1", protocol_id="valle2024")
    nurse = browser_login("nurse")
    nurse.goto(f"/plans/{plan_id}")
    nurse.click("#book-series")
    rows = nurse.locator("#proposed-slots tbody tr")
    assert rows.count() == 6
    screenshot(nurse, "schedule-book-series")
    nurse.get_by_role("button", name="Book these 6 appointments").click()
    nurse.wait_for_selector("#upcoming-appointments")
    upcoming = nurse.locator("#upcoming-appointments tbody tr")
    assert upcoming.count() == 6 and "booked" in upcoming.first.inner_text()
    screenshot(nurse, "schedule-patient-appointments")

    second = upcoming.nth(1)
    before = second.locator("td").first.inner_text()
    second.get_by_role("link", name="move or cancel").click()
    nurse.wait_for_selector("#move-form")
    screenshot(nurse, "schedule-move-appointment")
    when = nurse.get_by_label("New arrival (clinic time)")
    when.fill(when.input_value()[:11] + "12:00")
    nurse.get_by_label("Move the later sessions too, keeping the protocol's interval").check()
    nurse.get_by_label("Reason").first.fill("patient asked for midday")
    nurse.get_by_role("button", name="Move", exact=True).click()
    nurse.wait_for_selector("#upcoming-appointments")
    moved = nurse.locator("#upcoming-appointments tbody tr").nth(1).locator("td").first.inner_text()
    assert moved != before and moved.endswith("12:00")
    screenshot(nurse, "schedule-patient-after-move")


def test_the_admin_calendar_screen(browser_login, live_server: str) -> None:  # type: ignore[no-untyped-def]
    admin = browser_login("admin")
    admin.goto("/admin/calendar")
    assert admin.locator("#chairs tbody tr").count() == 5  # four shipped chairs and an empty row
    admin.get_by_label("Nurses on duty").fill("3")
    admin.get_by_role("button", name="Save calendar").click()
    admin.wait_for_selector("text=set on the calendar screen by admin")
    screenshot(admin, "schedule-admin-calendar")
