"""Browser: a nurse finds a course without a series end and ends it from the keyboard."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ketaclinic.services.outcomes.courses import CourseIn, start_course
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.conftest import screenshot
from tests.services.test_outcomes_service import make_patient, treated

pytestmark = pytest.mark.browser


@pytest.fixture
def clinic(web_db: Database, web_staff: dict[str, Actor]) -> int:
    nurse = web_staff["nurse"]
    treated(web_db, nurse, "K1", 8, {}, series_end=date.today() - timedelta(days=8))
    pid = make_patient(web_db, nurse, "K2")
    started = date.today() - timedelta(days=15)
    return start_course(web_db, nurse, pid, CourseIn(started_on=started, sessions_planned=3)).id


def test_nurse_records_the_series_end(browser_login, clinic: int) -> None:  # type: ignore[no-untyped-def]
    page = browser_login("nurse")
    page.goto("/followup")
    screenshot(page, "outcomes-followup-awaiting-series-end")
    page.locator("#awaiting-series-end").get_by_role("link", name="End course").click()
    page.wait_for_url(f"**/courses/{clinic}")
    page.get_by_label("Why the course ends").fill("all planned sessions given")
    field = page.get_by_label("Last session of the series")
    field.focus()
    field.fill((date.today() + timedelta(days=20)).isoformat())
    page.keyboard.press("Enter")
    page.wait_for_selector("#series-end-problem")
    assert "in the future" in page.locator("#series-end-error").inner_text()
    assert (
        page.evaluate("document.activeElement.id") == f"series-end-{clinic}"
    )  # back at the field to correct it
    assert page.get_by_label("Why the course ends").input_value() == "all planned sessions given"  # kept
    screenshot(page, "outcomes-course-series-end-error")

    end = date.today() - timedelta(days=1)
    page.get_by_label("Last session of the series").fill(end.isoformat())
    page.keyboard.press("Enter")
    page.wait_for_selector("#series-end-recorded")
    assert page.locator("#series-end-value").inner_text() == end.isoformat()
    rows = page.locator("#course-followups tbody tr")
    assert rows.count() == 5 and "week 1 after series" in rows.first.inner_text()
    screenshot(page, "outcomes-course-series-end")
