"""In a real browser: a nurse charts a whole session, from check-in to signature."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI

from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import charting, flowsheet
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.services.sessions.lifecycle import CheckInIn
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests.conftest import screenshot
from tests.services.sessions_support import CHECK_IN, approved_plan, clinic_ending_policy

pytestmark = pytest.mark.browser


def test_nurse_charts_a_session_from_check_in_to_signature(  # type: ignore[no-untyped-def]
    browser_login, app: FastAPI, web_db: Database, web_staff: dict[str, Actor], tmp_path: Path
) -> None:
    plan_id = approved_plan(web_db, web_staff, mrn="BR-S1")
    sid = create_session(web_db, web_staff["nurse"], SessionCreate(plan_id=plan_id, session_number=1)).id
    page = browser_login("nurse")
    page.click("nav >> text=Sessions")
    page.click(f"a[href='/sessions/{sid}']")
    for name, value in (
        ("weight_kg", "70"),
        ("sbp", "128"),
        ("dbp", "78"),
        ("hr", "72"),
        ("spo2", "98"),
        ("nrs", "7"),
    ):
        page.fill(f"#check-in input[name={name}]", value)
    page.select_option("select[name=premed_medication]", "ondansetron")
    page.fill("input[name=premed_dose]", "4")
    page.select_option("select[name=pregnancy_check]", "negative_test")
    screenshot(page, "session-check-in")
    page.click("button:has-text('Check in')")
    page.wait_for_selector("text=Start the infusion")

    # A soft-limit rate: the library verdict shows first, then a reason confirms it.
    page.fill("#rate input[name=rate]", "72")
    page.click("button:has-text('Check against library and plan')")
    page.wait_for_selector(".rate-verdict:has-text('SOFT')")
    page.fill("input[name=limit_reason]", "physician order: severe pain")
    page.fill("input[name=deviation_reason]", "titrated up at the bedside")
    page.click("button:has-text('Confirm start')")
    page.wait_for_selector(".big-state:has-text('running')")
    assert page.locator("#countdown").inner_text().startswith("in ")

    # One keyboard row: type the vitals, Enter submits; the alert appears without a reload.
    page.fill("#obs-form input[name=sbp]", "186")
    page.keyboard.press("Tab")
    page.keyboard.type("96")
    page.fill("#obs-form input[name=hr]", "88")
    page.fill("#obs-form input[name=spo2]", "97")
    page.press("#obs-form input[name=spo2]", "Enter")
    page.wait_for_selector("#flowsheet td:has-text('186')")
    page.wait_for_selector("#alerts .session-alert:has-text('CRITICAL')", timeout=10000)
    assert page.evaluate("document.activeElement.name") == "sbp"
    screenshot(page, "session-running-alert")
    page.locator("#alerts .session-alert").first.locator("select[name=action]").select_option("reduce_rate")
    page.locator("#alerts .session-alert").first.locator("button:has-text('Acknowledge')").click()
    page.wait_for_selector("#alerts :text('Acknowledged by')")
    page.fill("#obs-form input[name=sbp]", "126")
    page.fill("#obs-form input[name=dbp]", "78")
    page.fill("#obs-form input[name=hr]", "72")
    page.fill("#obs-form input[name=spo2]", "98")
    page.fill("#obs-form input[name=rass]", "0")
    page.press("#obs-form input[name=rass]", "Enter")
    page.wait_for_selector("#flowsheet td:has-text('126')")
    page.locator(".session-charts").scroll_into_view_if_needed()
    screenshot(page, "session-chart")

    # Minute 0 of a 240-min plan: completing early is confirmed with a reason; the clinic here waits 0 min.
    app.state.settings = replace(
        app.state.settings, config_dir=clinic_ending_policy(tmp_path, recovery_min=0)
    )
    page.fill("input[name=early_end_reason]", "demonstration of the whole screen")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Complete early')")
    page.wait_for_selector("#discharge")
    for name, value in (("sbp", "124"), ("dbp", "76"), ("hr", "70"), ("spo2", "98"), ("rass", "0")):
        page.fill(f"#obs-form input[name={name}]", value)  # the post-infusion reading discharge is judged on
    page.press("#obs-form input[name=rass]", "Enter")
    page.wait_for_selector("#flowsheet td:has-text('124')")
    page.click("button:has-text('Discharge')")
    page.wait_for_selector("#page-error:has-text('discharge criteria not met')")
    page.check("input[name=q_able_to_walk]")
    page.check("input[name=q_escort_present]")
    screenshot(page, "session-discharge")
    page.click("button:has-text('Discharge')")
    page.wait_for_selector("button:has-text('Sign and lock')")
    page.click("button:has-text('Sign and lock')")
    page.wait_for_selector("#signed:has-text('Signed by nurse')")
    page.fill("input[name=text]", "Phoned next day: well, no nightmares.")
    page.click("button:has-text('Add addendum')")
    page.wait_for_selector(".addendum:has-text('Phoned next day')")
    screenshot(page, "session-signed")


def _running(db: Database, staff: dict[str, Actor], mrn: str, minutes_ago: float) -> int:
    """A session started `minutes_ago` at the planned 24.5 mL/h, checked in five minutes before."""
    sid = create_session(
        db, staff["nurse"], SessionCreate(plan_id=approved_plan(db, staff, mrn=mrn), session_number=1)
    ).id
    start = utcnow() - timedelta(minutes=minutes_ago)
    check_in = CheckInIn.model_validate(CHECK_IN | {"at": start - timedelta(minutes=5)})
    sessions.check_in(db, staff["nurse"], sid, check_in, config=None)
    sessions.start(db, staff["nurse"], sid, charting.RateIn(pump_ml_h=24.5, at=start), config=None)
    return sid


def test_vitals_chart_marks_a_single_reading_and_isolated_ones(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    sid = _running(web_db, web_staff, "BR-V1", 40)
    page = browser_login("nurse")
    page.goto(f"/sessions/{sid}")
    assert page.locator(".session-charts circle.point").count() == 0
    for name, value in (("sbp", "132"), ("dbp", "81"), ("hr", "76"), ("spo2", "98")):
        page.fill(f"#obs-form input[name={name}]", value)
    page.press("#obs-form input[name=spo2]", "Enter")
    page.wait_for_selector("#flowsheet td:has-text('132')")
    points = page.locator(".session-charts circle.point")
    assert points.count() == 4 and all(points.nth(i).is_visible() for i in range(4))
    assert "SBP mmHg: 132 at 40 min" in page.locator(".session-charts circle.point title").all_text_contents()
    page.locator(".session-charts").scroll_into_view_if_needed()
    screenshot(page, "session-vitals-one-reading")

    # Earlier readings charted late: blood pressure only every other time, so SBP has gaps around it.
    for minutes_ago, values in (
        (35, {"sbp": 126, "dbp": 78, "hr": 72, "spo2": 98}),
        (28, {"hr": 81, "spo2": 97}),
        (20, {"sbp": 141, "dbp": 86, "hr": 84, "spo2": 97}),
        (12, {"hr": 79, "spo2": 96}),
    ):
        at = (utcnow() - timedelta(minutes=minutes_ago)).isoformat()
        flowsheet.chart_observation(web_db, web_staff["nurse"], sid, values | {"at": at}, config=None)
    page.reload()
    assert page.locator(".session-charts circle.point").count() == 4 + 4 + 2 + 4 + 2
    assert "SBP mmHg: 141 at 20 min" in page.locator(".session-charts circle.point title").all_text_contents()
    page.locator(".session-charts").scroll_into_view_if_needed()
    screenshot(page, "session-vitals-several-readings")


def test_nurse_resumes_at_a_new_rate_from_the_keyboard(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    sid = _running(web_db, web_staff, "BR-R1", 20)
    sessions.pause(web_db, web_staff["nurse"], sid, config=None)
    page = browser_login("nurse")
    page.goto(f"/sessions/{sid}")
    page.wait_for_selector("#resume:has-text('resume at 24.5 mL/h')")
    screenshot(page, "session-resume-controls")

    # A soft-limit rate without a reason: the service's message, nothing charted.
    page.fill("#resume input[name=rate]", "60")
    page.press("#resume input[name=rate]", "Enter")
    page.wait_for_selector("#page-error:has-text('soft limit')")
    assert page.locator(".big-state").inner_text() == "paused"
    screenshot(page, "session-resume-soft-error")

    assert page.input_value("#resume input[name=rate]") == "60"  # what was typed is kept
    page.focus("#resume input[name=rate]")
    page.keyboard.press("Tab")
    page.keyboard.type("physician order: pain uncontrolled")
    page.keyboard.press("Tab")
    page.keyboard.type("titrated at the bedside")
    page.keyboard.press("Enter")
    page.wait_for_selector(".big-state:has-text('running')")
    last = page.locator("#segments tbody tr").last
    assert "resume" in last.inner_text() and "60.0" in last.inner_text()
    assert "physician order: pain uncontrolled" in last.inner_text()
    assert "titrated at the bedside" in last.inner_text()
