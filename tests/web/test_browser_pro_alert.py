"""In a real browser: a patient answers on a phone with PHQ-9 item 9 = 2, reads the crisis text; the physician
sees the badge and the alert, acknowledges it with the action taken, and reads the answers and the plot."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ketaclinic.services.outcomes.links import LinkIn, issue_link
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.conftest import PHONE, answer_week1_questionnaire, screenshot
from tests.services.test_outcomes_service import treated

pytestmark = pytest.mark.browser


def test_self_harm_answer_on_a_phone_reaches_the_physician(  # type: ignore[no-untyped-def]
    browser, browser_login, live_server: str, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    course = treated(web_db, web_staff["nurse"], "P1", 8, {}, series_end=date.today() - timedelta(days=8))
    item = next(f for f in course.followups if f.weeks_after_series == 1)
    link = issue_link(web_db, web_staff["nurse"], LinkIn(followup_item_id=item.id))

    phone = browser.new_context(viewport=PHONE, is_mobile=True).new_page()
    phone.goto(live_server + link.path)
    assert "LOINC" not in phone.content() and phone.locator("footer, nav").count() == 0
    # The 0-10 scale sits on one line inside the phone's width.
    boxes = [
        phone.locator(f"input[name=nrs_now][value='{v}']").locator("..").bounding_box() for v in range(11)
    ]
    assert all(b is not None for b in boxes)
    tops = {round(b["y"]) for b in boxes if b}
    assert len(tops) == 1 and max(b["x"] + b["width"] for b in boxes if b) <= 360
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    answer_week1_questionnaire(phone)
    screenshot(phone, "pros-phone-questionnaire-360")
    phone.get_by_role("button", name="Send my answers").click()
    phone.wait_for_selector("#crisis-text")
    assert "emergency" in phone.locator("#crisis-text").inner_text()
    screenshot(phone, "pros-phone-thanks-crisis-360")
    phone.context.close()

    physician = browser_login("physician")
    physician.wait_for_selector("#alert-badge.has-open .badge:text('1')")
    alert = physician.locator("#clinic-alerts .clinic-alert", has_text="mental health")
    alert.wait_for()
    assert "CRITICAL" in alert.inner_text() and "PHQ-9 item 9" in alert.inner_text()
    alert.get_by_role("link", name="patient's answers").click()
    section = physician.locator("#patient-outcomes")
    section.locator("#nrs-trajectory svg").wait_for()
    assert section.locator("li.flagged").inner_text() == "2"
    assert "8 mild" in section.inner_text().replace("\n", " ")
    section.locator("select[name=action]").select_option("patient_assessed")
    section.locator("input[name=note]").fill("phoned the patient: safe, seen tomorrow")
    section.get_by_role("button", name="Acknowledge").click()
    physician.wait_for_selector("#patient-outcomes >> text=Patient contacted and assessed")
    physician.wait_for_selector("#alert-badge .badge:text('0')")
    screenshot(physician, "pros-patient-page-outcomes")
