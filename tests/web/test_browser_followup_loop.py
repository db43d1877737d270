"""Browser, the whole follow-up loop through pages only: a physician approves a plan; a nurse ends the course
and issues the week-1 link; the patient answers on a phone with PHQ-9 item 9 = 2 and reads the crisis text;
the physician follows the alert badge to the answers and acknowledges the alert with the action taken."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from tests import factories
from tests.conftest import PHONE, WEEK1_PHQ9, answer_week1_questionnaire, screenshot
from tests.services.sessions_support import given_today

pytestmark = pytest.mark.browser


def _course_updates(db: Database) -> int:
    """How many times a course was changed (ending one is an audited update)."""
    with db.read() as session:
        query = select(func.count()).where(
            AuditEvent.entity == "treatment_course", AuditEvent.action == "update"
        )
        return int(session.execute(query).scalar_one())


def test_plan_approval_to_the_physician_acknowledging_the_week1_self_harm_alert(  # type: ignore[no-untyped-def]
    browser, browser_login, live_server: str, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    plan = factories.draft_plan(web_db, web_staff, mrn="LOOP-1")

    # 1. The physician approves the drafted plan on its page.
    doctor = browser_login("physician")
    doctor.get_by_role("navigation", name="Main").get_by_role("link", name="Dose plans").click()
    doctor.locator("#plans-table tbody tr", has_text="Chart, Test").get_by_role("link").first.click()
    doctor.get_by_role("button", name="Approve plan").click()
    doctor.wait_for_selector("text=Approved by")
    given_today(web_db, web_staff["nurse"], plan.id)

    # 2. The nurse finds the patient, ends the course (a double click ends it once), issues week 1.
    nurse = browser_login("nurse")
    nurse.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    nurse.locator("#patients-table tbody tr", has_text="LOOP-1").get_by_role("link").click()
    section = nurse.locator("#patient-course")
    assert "open" in section.locator("#course-summary").inner_text()
    assert section.locator("#patient-course-sessions tbody tr[data-state=completed]").count() == 1
    section.get_by_label("Last session of the series").fill(date.today().isoformat())
    section.get_by_label("Why the course ends").fill("All planned sessions given")
    before = _course_updates(web_db)
    section.get_by_role("button", name="End course").dblclick()
    nurse.wait_for_selector("#series-end-recorded")
    assert nurse.locator("#course-state").inner_text() == "ended"
    assert nurse.locator("#series-end-problem").count() == 0
    assert _course_updates(web_db) == before + 1  # the second click changed and audited nothing
    nurse.get_by_role("navigation", name="Main").get_by_role("link", name="Follow-up").click()
    week1 = nurse.locator("#followup-table tbody tr", has_text="week 1 after series")
    with nurse.expect_navigation():
        week1.get_by_role("button", name="Issue link").click()
    url = nurse.locator("#link-url").input_value()
    assert url.startswith("http")
    screenshot(nurse, "loop-2-week1-link-issued")

    # 3. The patient, on a phone and not logged in, answers with item 9 = 2 and reads the crisis text.
    assert WEEK1_PHQ9[8] == 2
    phone_context = browser.new_context(viewport=PHONE, is_mobile=True)
    try:
        phone = phone_context.new_page()
        phone.goto(url)
        answer_week1_questionnaire(phone)
        phone.get_by_role("button", name="Send my answers").click()
        phone.wait_for_selector("#crisis-text")
        assert "Thank you" in phone.locator("h1").inner_text()
        assert "emergency" in phone.locator("#crisis-text").inner_text()
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(phone, "loop-3-patient-thanks-crisis")
    finally:
        phone_context.close()

    # 4. The physician follows the badge to the alert and the answers, and acknowledges it.
    doctor.goto("/")
    doctor.wait_for_selector("#alert-badge.has-open .badge:text('1')")
    doctor.locator("#alert-badge").click()
    alert = doctor.locator("#clinic-alerts .clinic-alert", has_text="mental health")
    assert "CRITICAL" in alert.inner_text() and "PHQ-9 item 9" in alert.inner_text()
    alert.get_by_role("link", name="patient's answers").click()
    outcomes = doctor.locator("#patient-outcomes")
    outcomes.locator("#nrs-trajectory svg").wait_for()
    week1_row = outcomes.locator("table.pro-answers tbody tr", has_text="week 1")
    assert week1_row.count() == 1
    cells = week1_row.locator("td").all_inner_texts()
    assert "now 5" in cells[1] and "worst 7" in cells[1]  # NRS
    assert "8 mild" in cells[4].replace("\n", " ")  # PHQ-9 total and band
    assert week1_row.locator("li.flagged").all_inner_texts() == ["2"]  # item 9 alone is flagged

    # Acknowledging without picking the action is refused; the note typed stays.
    patient_alert = outcomes.locator(".patient-alert[data-state=open]")
    patient_alert.get_by_label("Note").fill("phoned the patient: safe, seen tomorrow")
    patient_alert.get_by_role("button", name="Acknowledge").click()
    action = patient_alert.get_by_label("Action taken")
    assert action.evaluate("e => e.validity.valueMissing")
    assert patient_alert.get_by_label("Note").input_value() == "phoned the patient: safe, seen tomorrow"
    assert doctor.locator("#alert-badge .badge").inner_text() == "1"
    screenshot(doctor, "loop-4-ack-needs-an-action")

    action.select_option(label="Patient contacted and assessed")
    patient_alert.get_by_role("button", name="Acknowledge").click()
    acknowledged = doctor.locator("#patient-outcomes .patient-alert[data-state=acknowledged]")
    acknowledged.wait_for()
    text = acknowledged.inner_text()
    assert "Acknowledged by physician" in text and "Patient contacted and assessed" in text
    assert "phoned the patient: safe, seen tomorrow" in text
    doctor.wait_for_selector("#alert-badge .badge:text('0')", timeout=5_000)  # at once, not at its 10 s poll

    # The patient page, opened afresh, keeps the acknowledged alert and the answers.
    doctor.reload()
    doctor.locator("#patient-outcomes #nrs-trajectory svg").wait_for()
    assert doctor.locator("#patient-outcomes .patient-alert[data-state=open]").count() == 0
    assert "Patient contacted and assessed" in doctor.locator("#patient-outcomes .patient-alert").inner_text()
    assert doctor.locator("#patient-outcomes table.pro-answers li.flagged").all_inner_texts() == ["2"]
    screenshot(doctor, "loop-4-physician-acknowledged")
