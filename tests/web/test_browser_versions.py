"""In a real browser, two tabs of one user edit one patient: the second save is refused, keeps what was
typed, and shows the first tab's change beside the field it changed."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ketaclinic.services.outcomes import courses
from ketaclinic.services.permissions import Actor
from ketaclinic.services.screening import screenings
from ketaclinic.store.db import Database
from tests.conftest import screenshot
from tests.factories import draft_plan, make_patient
from tests.screening.screening_samples import eligible_tn

pytestmark = pytest.mark.browser


def test_two_tabs_edit_one_patient_the_second_sees_the_first_ones_change(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    patient_id = make_patient(
        web_db, web_staff["nurse"], mrn="TAB-1", family_name="Tabbot", given_name="Iris"
    )
    tab_a = browser_login("nurse")
    tab_b = tab_a.context.new_page()  # same user, same login, another tab
    for tab in (tab_a, tab_b):
        tab.goto(f"/patients/{patient_id}/edit")
        tab.wait_for_selector("h1:has-text('Edit Tabbot, Iris')")

    tab_a.fill("textarea[name=notes]", "Allergy: penicillin (rash, 2019)")
    tab_a.fill("input[name=reason]", "allergy reported by the patient")
    tab_a.click("button:has-text('Save changes')")
    tab_a.wait_for_url(f"**/patients/{patient_id}")  # saved (the edit page's own heading names her too)

    tab_b.fill("textarea[name=notes]", "Allergy: latex")
    tab_b.fill("input[name=given_name]", "Iris May")
    tab_b.fill("input[name=reason]", "second tab's edit")
    tab_b.click("button:has-text('Save changes')")
    tab_b.wait_for_selector(".stale-banner")
    screenshot(tab_b, "patient-edit-stale")

    assert tab_b.input_value("textarea[name=notes]") == "Allergy: latex"
    assert tab_b.input_value("input[name=given_name]") == "Iris May"
    assert tab_b.input_value("input[name=reason]") == "second tab's edit"
    beside_notes = tab_b.locator("textarea[name=notes] ~ .stale-change")
    assert beside_notes.count() == 1
    assert "penicillin (rash, 2019)" in beside_notes.inner_text()
    assert "changed by nurse" in beside_notes.inner_text()
    assert tab_b.locator(".stale-change").count() == 1  # the given name was not changed by tab A

    tab_b.click("button:has-text('Save changes')")  # saving again, having seen A's change, is deliberate
    tab_b.wait_for_selector("h1:has-text('Tabbot, Iris May')")
    assert "Allergy: latex" in tab_b.content()


def _two_tabs(browser_login, username: str, url: str):  # type: ignore[no-untyped-def]
    tab_a = browser_login(username)
    tab_b = tab_a.context.new_page()
    for tab in (tab_a, tab_b):
        tab.goto(url)
    return tab_a, tab_b


def test_two_tabs_edit_one_screening_draft(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    patient_id = make_patient(web_db, web_staff["nurse"], mrn="TAB-2")
    draft = screenings.create_screening(
        web_db, web_staff["physician"], patient_id, screenings.ScreeningIn(intake=eligible_tn())
    )
    tab_a, tab_b = _two_tabs(browser_login, "physician", f"/screenings/{draft.id}/edit")
    tab_a.fill("input[name=phq9]", "21")
    tab_a.click("button:has-text('Evaluate')")
    tab_a.wait_for_url(f"**/screenings/{draft.id}")
    tab_b.fill("input[name=gad7]", "3")
    tab_b.click("button:has-text('Evaluate')")
    tab_b.wait_for_selector(".stale-banner")
    screenshot(tab_b, "screening-edit-stale")
    assert tab_b.input_value("input[name=gad7]") == "3"
    beside = tab_b.locator("input[name=phq9] ~ .stale-change")
    assert beside.count() == 1 and "21" in beside.inner_text()


def test_two_tabs_give_one_soft_override_reason(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    plan = draft_plan(web_db, web_staff, mrn="TAB-3", protocol_id="cohen2018-test", weight_kg=30.0)
    tab_a, tab_b = _two_tabs(browser_login, "physician", f"/plans/{plan.id}")
    tab_a.fill("input[name=reason_0]", "light patient: reviewed at the pain MDT")
    tab_a.click("button:has-text('Save reasons')")
    tab_a.wait_for_selector("text=Reason: light patient")
    tab_b.fill("input[name=reason_0]", "the second tab's reason")
    tab_b.click("button:has-text('Save reasons')")
    tab_b.wait_for_selector(".stale-banner")
    tab_b.locator("#soft-breaches").scroll_into_view_if_needed()
    screenshot(tab_b, "plan-soft-reasons-stale")
    assert tab_b.input_value("input[name=reason_0]") == "the second tab's reason"
    beside = tab_b.locator("label:has(input[name=reason_0]) ~ .stale-change")
    assert beside.count() == 1 and "reviewed at the pain MDT" in beside.inner_text()


def test_two_tabs_record_one_courses_series_end(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    patient_id = make_patient(web_db, web_staff["nurse"], mrn="TAB-4")
    start = date.today() - timedelta(days=20)
    course = courses.start_course(web_db, web_staff["nurse"], patient_id, courses.CourseIn(started_on=start))
    tab_a, tab_b = _two_tabs(browser_login, "nurse", f"/courses/{course.id}")
    first, second = start + timedelta(days=7), start + timedelta(days=14)
    tab_a.fill("input[name=series_end]", first.isoformat())
    tab_a.fill("input[name=reason]", "all planned sessions given")
    tab_a.click("button:has-text('End course')")
    tab_a.wait_for_selector("#series-end-recorded")
    tab_b.fill("input[name=series_end]", second.isoformat())
    tab_b.fill("input[name=reason]", "last session moved")
    tab_b.click("button:has-text('End course')")
    tab_b.wait_for_selector(".stale-banner")
    screenshot(tab_b, "course-series-end-stale")
    assert tab_b.input_value("input[name=series_end]") == second.isoformat()
    beside = tab_b.locator("input[name=series_end] ~ .stale-change")
    assert beside.count() == 1 and first.isoformat() in beside.inner_text()
