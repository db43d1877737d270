"""Browser: a physician approves a plan, the patient page shows its course; a nurse ends the course and
issues, then re-issues, a follow-up link; the earlier link answers "no longer valid"."""

from __future__ import annotations

from datetime import date

import pytest

from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests import factories
from tests.conftest import screenshot
from tests.services.sessions_support import given_today

pytestmark = pytest.mark.browser


def test_approval_opens_the_course_and_a_nurse_ends_it_and_reissues_a_link(  # type: ignore[no-untyped-def]
    browser_login, live_server: str, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    plan = factories.draft_plan(web_db, web_staff, mrn="BC-1")
    doctor = browser_login("physician")
    doctor.goto(f"/plans/{plan.id}")
    doctor.click("button:has-text('Approve plan')")
    doctor.wait_for_selector("text=Approved by")
    doctor.goto(f"/patients/{plan.patient_id}")
    section = doctor.locator("#patient-course")
    assert "open" in section.locator("#course-summary").inner_text()
    planned = section.locator("#patient-course-sessions tbody tr[data-state=planned]")
    assert planned.count() == plan.session_count
    screenshot(doctor, "patient-course-opened")

    given_today(web_db, web_staff["nurse"], plan.id)
    nurse = browser_login("nurse")
    nurse.goto(f"/patients/{plan.patient_id}")
    section = nurse.locator("#patient-course")
    given = section.locator("#patient-course-sessions tbody tr[data-state=completed]")
    assert given.count() == 1 and "given" in given.inner_text()
    section.get_by_label("Last session of the series").fill(date.today().isoformat())
    section.get_by_role("button", name="End course").click()
    nurse.wait_for_selector("#series-end-problem")  # no reason given: nothing ended
    assert "reason" in nurse.locator("#end-reason-error").inner_text()
    assert nurse.locator("#course-state").inner_text() == "open"
    nurse.get_by_label("Why the course ends").fill("Series stopped after one session: travel")
    nurse.get_by_role("button", name="End course").click()
    nurse.wait_for_selector("#series-end-recorded")
    assert nurse.locator("#course-state").inner_text() == "ended"
    rows = nurse.locator("#course-followups tbody tr")
    assert rows.count() == 6 and "after session 1" in rows.first.inner_text()
    screenshot(nurse, "course-ended-followups")

    nurse.goto("/followup")
    ours = f'#followup-table tbody tr:has(a[href="/patients/{plan.patient_id}"])'
    assert nurse.locator(ours).count() == 2  # the day-after check and week 1 fall within the week
    check = nurse.locator(ours, has_text="after session 1")
    assert check.locator(".link-issued").inner_text() == "–"
    with nurse.expect_navigation():
        check.get_by_role("button", name="Issue link").click()
    first_url = nurse.locator("#link-url").input_value()
    check = nurse.locator(ours, has_text="after session 1")
    assert "UTC" in check.locator(".link-issued").inner_text()
    with nurse.expect_navigation():
        check.get_by_role("button", name="Re-issue link").click()
    second_url = nurse.locator("#link-url").input_value()
    assert second_url != first_url and nurse.locator("#link-replaced").count() == 1
    screenshot(nurse, "followup-link-reissued")

    patient = nurse.context.browser.new_context(base_url=live_server)  # no login: the patient's browser
    try:
        old = patient.new_page()
        old.goto(first_url)
        assert "no longer valid" in old.content()
        screenshot(old, "link-no-longer-valid")
        current = patient.new_page()
        current.goto(second_url)
        current.locator("input[name=nrs_now][value='3']").check(force=True)
        current.get_by_role("button", name="Send my answers").click()
        current.wait_for_selector("text=Thank you")
    finally:
        patient.close()

    nurse.goto("/followup")
    answered = nurse.locator("#answered-followups tbody tr", has_text="after session 1")
    cells = answered.locator("td").all_inner_texts()
    assert "UTC" in cells[3] and "UTC" in cells[4]  # when the link was issued, when it was answered
    assert nurse.locator(ours, has_text="after session 1").count() == 0  # no longer due
    screenshot(nurse, "followup-answered")


def test_a_nurse_opens_a_course_by_hand_from_the_patient_page(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    pid = factories.make_patient(web_db, web_staff["nurse"], mrn="BC-2")
    nurse = browser_login("nurse")
    nurse.goto(f"/patients/{pid}")
    assert nurse.locator("#no-course").count() == 1
    nurse.click("#open-course-link")
    nurse.get_by_label("First day of the course").fill("")
    nurse.get_by_role("button", name="Open course").click()
    nurse.wait_for_selector("#open-course-problem")
    screenshot(nurse, "course-open-by-hand-error")
    nurse.get_by_label("First day of the course").fill(date.today().isoformat())
    nurse.get_by_label("Sessions planned").fill("3")
    nurse.get_by_role("button", name="Open course").click()
    nurse.wait_for_selector("#course-state")
    assert nurse.locator("#course-state").inner_text() == "open"
    nurse.goto(f"/patients/{pid}")
    assert "open" in nurse.locator("#course-summary").inner_text()
    assert nurse.locator("#open-course-link").count() == 0  # one open course at a time
    screenshot(nurse, "patient-course-by-hand")
