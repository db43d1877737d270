"""Browser: a nurse issues a one-time link, the patient answers it, a researcher opens the dashboard."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.conftest import screenshot, without_random_tokens
from tests.services.test_outcomes_service import treated

pytestmark = pytest.mark.browser


@pytest.fixture
def clinic(web_db: Database, web_staff: dict[str, Actor]) -> None:
    nurse = web_staff["nurse"]
    plan = [
        ("B1", 8, {1: 2, 4: 2, 12: 3}, "G50.0", "neuropathic"),
        ("B2", 7, {1: 3, 12: 2}, "G50.0", "neuropathic"),
        ("B3", 9, {1: 4, 12: 4}, "G50.0", "neuropathic"),
        ("B4", 8, {1: 7, 12: 8}, "G50.1", "nociplastic"),
        ("B5", 7, {12: 6}, "G50.1", "nociplastic"),
        ("B6", 8, {1: 3, 8: 7, 12: 7}, "G90.50", "nociplastic"),
        ("B7", 6, {12: 2}, "G90.50", "nociplastic"),
    ]
    for mrn, baseline, weeks, code, mechanism in plan:
        treated(web_db, nurse, mrn, baseline, weeks, code=code, mechanism=mechanism)
    treated(web_db, nurse, "B8", 8, {}, series_end=date.today() - timedelta(days=8))


def test_patient_answers_through_the_link(browser_login, browser, live_server: str, clinic: None) -> None:  # type: ignore[no-untyped-def]
    nurse = browser_login("nurse")
    nurse.goto("/followup")
    row = nurse.locator("#followup-table tr", has_text="week 1 after series").first
    row.get_by_role("button", name="Issue link").click()
    url = nurse.locator("#link-url").input_value()
    assert "/r/" in url
    screenshot(nurse, "outcomes-followup-list")

    patient = browser.new_context(viewport={"width": 900, "height": 900}).new_page()
    patient.goto(url)
    assert "Hello Jane" in patient.content() and "Doe" not in patient.content()
    assert patient.locator("nav").count() == 0
    for name, value in (("nrs_now", "3"), ("nrs_average", "3"), ("nrs_worst", "5"), ("nrs_least", "2")):
        patient.locator(f"input[name={name}][value='{value}']").check(force=True)
    patient.locator("input[name=pgic][value='2']").check()
    for i in range(1, 10):
        patient.locator(f"input[name=phq9_{i}][value='{1 if i < 3 else 0}']").check()
    for i in range(1, 8):
        patient.locator(f"input[name=gad7_{i}][value='0']").check()
    screenshot(patient, "outcomes-patient-questionnaire")
    patient.get_by_role("button", name="Send my answers").click()
    patient.wait_for_selector("text=Thank you, Jane")
    patient.goto(url)
    assert "cannot be used" in patient.content()
    patient.context.close()


def test_researcher_dashboard_has_no_names(browser_login, clinic: None) -> None:  # type: ignore[no-untyped-def]
    page = browser_login("researcher")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Analytics").click()
    page.wait_for_selector("#responder-rate")
    text = without_random_tokens(page.content())
    for identity in ("Jane", "Doe", "B1", "1970-05-01"):
        assert identity not in text
    assert page.locator(".charts figure svg").count() >= 4
    assert "Fisher" in page.locator("#comparison").inner_text()
    screenshot(page, "outcomes-analytics-dashboard")


def test_dashboard_of_a_cohort_without_adverse_events_says_not_recorded(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    from ketaclinic.outcomes import read_cohort_csv
    from ketaclinic.services.outcomes.cohort import import_cohort

    garcia = Path(__file__).parents[1] / "fixtures" / "cohorts" / "garcia2023_illustrative.csv"
    import_cohort(web_db, web_staff["researcher"], read_cohort_csv(garcia), name="garcia")
    page = browser_login("researcher")
    page.goto("/analytics?cohort=garcia&compare=diagnosis:G50.0,G50.1")
    card = page.locator("#adverse-events-card")
    card.wait_for()
    assert "not recorded" in card.inner_text() and "of 12 patients" not in card.inner_text()
    assert "conditional MLE 15.99" in page.locator("#comparison").inner_text()
    assert "G50.0 16.0" in page.content() and "all 3.0" in page.content()
    path = screenshot(page, "outcomes-analytics-not-recorded")
    page.locator(".cards, #adverse-events-card").first.screenshot(
        path=str(path.with_name("ae-not-recorded.png"))
    )
    page.locator("#comparison").screenshot(path=str(path.with_name("comparison-methods.png")))
