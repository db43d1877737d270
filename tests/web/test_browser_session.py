"""In a real browser: a nurse and a physician through a whole session, from check-in to signature."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import expect

from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import charting, flowsheet, infusion_rates
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.services.sessions.lifecycle import CheckInIn
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests.conftest import SCREENSHOTS, screenshot
from tests.ledger_support import prepare_bag, waste_rest
from tests.services.sessions_support import (
    CHECK_IN,
    STARTED_YESTERDAY_MAYBE,
    approved_plan,
    clinic_ending_policy,
)

pytestmark = pytest.mark.browser


def test_nurse_and_physician_walk_a_safe_infusion_day(  # type: ignore[no-untyped-def]
    browser_login, app: FastAPI, web_db: Database, web_staff: dict[str, Actor], tmp_path: Path
) -> None:
    """One patient from check-in to signature, the nurse and the physician in a browser each, with the
    mistakes people make: a weight typo, a double click on Complete, a discharge tried too soon."""
    plan_id = approved_plan(web_db, web_staff, mrn="BR-S1")
    sid = create_session(web_db, web_staff["nurse"], SessionCreate(plan_id=plan_id, session_number=1)).id
    physician = browser_login("physician")  # at the desk, the home page open
    physician.wait_for_selector("#alert-badge .badge:text('0')")
    nurse = browser_login("nurse")
    nurse.click("nav >> text=Sessions")
    nurse.click(f"a[href='/sessions/{sid}']")

    # 1. Check-in with a dropped zero in the weight: 7 kg against the plan's 70 kg is refused, all kept.
    typed = {"weight_kg": "7", "sbp": "128", "dbp": "78", "hr": "72", "spo2": "98", "nrs": "7"}
    for name, value in typed.items():
        nurse.fill(f"#check-in input[name={name}]", value)
    nurse.select_option("select[name=premed_medication]", "ondansetron")
    nurse.fill("input[name=premed_dose]", "4")
    nurse.select_option("select[name=pregnancy_check]", "negative_test")
    nurse.click("button:has-text('Check in')")
    error = nurse.wait_for_selector("#page-error")
    assert "90% below the plan's 70 kg" in error.inner_text()
    assert nurse.locator(".big-state").inner_text().strip() == "scheduled"
    assert all(nurse.input_value(f"#check-in input[name={n}]") == v for n, v in typed.items())
    _shot(nurse, "session-1-check-in-tenfold-refused")
    nurse.fill("#check-in input[name=weight_kg]", "70")
    nurse.click("button:has-text('Check in')")
    nurse.wait_for_selector("text=Start the infusion")
    prepare_bag(web_db, web_staff, sid)  # the bag (its own browser walk is in test_browser_ledger.py)
    assert nurse.locator("#weight-discrepancy").count() == 0
    assert nurse.locator("#alerts .session-alert").count() == 0  # the corrected weight raises nothing

    # A soft-limit rate: the library verdict shows first, then a reason confirms it.
    nurse.fill("#rate input[name=rate]", "72")
    nurse.click("button:has-text('Check against library and plan')")
    nurse.wait_for_selector(".rate-verdict:has-text('SOFT')")
    nurse.fill("input[name=limit_reason]", "physician order: severe pain")
    nurse.fill("input[name=deviation_reason]", "   ")  # only spaces: refused, and the box comes back
    nurse.click("button:has-text('Confirm start')")
    nurse.wait_for_selector("#page-error:has-text('Plan deviation reason')")
    assert nurse.input_value("#rate-confirm input[name=limit_reason]") == "physician order: severe pain"
    assert nurse.locator(".big-state").inner_text().strip() == "checked in"
    _shot(nurse, "session-1-rate-confirm-refused-keeps-reasons")
    nurse.fill("#rate-confirm input[name=deviation_reason]", "titrated up at the bedside")
    nurse.click("button:has-text('Confirm start')")
    nurse.wait_for_selector(".big-state:has-text('running')")
    assert nurse.locator("#countdown").inner_text().startswith("in ")

    # 2. One grouped alert escalating: a raised pressure warns, the next reading escalates the same alert.
    _chart(nurse, sbp="165", dbp="95", hr="80", spo2="98")
    nurse.wait_for_selector("#alerts .session-alert[data-group=blood_pressure][data-severity=warning]")
    # Ready for the next row (the form's answer may land after the alert's live event).
    expect(nurse.locator("#obs-form input[name=sbp]")).to_be_focused()  # retried: no eval under the CSP
    nurse.fill("#obs-form input[name=sbp]", "186")
    nurse.keyboard.press("Tab")
    nurse.keyboard.type("114")
    nurse.fill("#obs-form input[name=hr]", "104")
    nurse.fill("#obs-form input[name=spo2]", "97")
    nurse.press("#obs-form input[name=spo2]", "Enter")
    nurse.wait_for_selector("#alerts .session-alert[data-group=blood_pressure][data-severity=critical]")
    assert nurse.locator("#alerts .session-alert[data-group=blood_pressure]").count() == 1
    assert "2 readings since" in nurse.locator("#alerts .session-alert").first.inner_text()
    nurse.wait_for_selector("#alert-badge.has-open .badge:text('1')", timeout=3000)  # not the 10-s poll
    _shot(nurse, "session-2-alert-escalated")

    # 3. The physician's badge: the desk page counts the alert without a reload and lists it.
    physician.wait_for_selector("#alert-badge.has-open .badge:text('1')", timeout=15000)
    physician.reload()
    physician.wait_for_selector(f"#clinic-alerts a[href='/sessions/{sid}']")
    assert "CRITICAL" in physician.locator("#clinic-alerts").inner_text()
    assert "escalated over 2 readings" in physician.locator("#clinic-alerts").inner_text()
    _shot(physician, "session-3-physician-badge")
    physician.click(f"#clinic-alerts a[href='/sessions/{sid}']")
    physician.wait_for_selector("#alerts .session-alert[data-group=blood_pressure][data-severity=critical]")
    physician.wait_for_selector("#alert-badge.has-open .badge:text('1')")
    # The reading row has the keyboard, but the chart opens at its top, the patient named.
    assert physician.evaluate("[window.scrollY, document.activeElement.name]") == [0, "sbp"]
    physician.screenshot(path=str(SCREENSHOTS / "session-3-physician-opens-the-chart-viewport.png"))
    _shot(physician, "session-3-physician-opens-the-chart")

    # The nurse acknowledges with one pick, reduces the rate, and the next reading resolves the alert.
    bp = nurse.locator("#alerts .session-alert[data-group=blood_pressure]")
    bp.locator("select[name=action]").select_option("physician_called")
    bp.locator("input[name=note]").fill("Dr at the bedside, rate reduced")
    bp.locator("button:has-text('Acknowledge')").click()
    nurse.wait_for_selector("#alerts :text('Acknowledged by')")
    _chart(nurse, sbp="126", dbp="78", hr="72", spo2="98", rass="0")
    nurse.wait_for_selector("#flowsheet td:has-text('126')")
    nurse.locator("#alerts button.resolve-by-reading").click()
    nurse.wait_for_selector("#alerts summary:has-text('1 resolved alert(s)')")
    _shot(nurse, "session-3-alert-resolved-chart")
    physician.reload()
    physician.wait_for_selector("#alert-badge .badge:text('0')")

    # 4. A premature completion asks for its reason: confirmed without one, refused; a double click then
    # records one completion.
    nurse.once("dialog", lambda dialog: dialog.accept())
    nurse.click("button:has-text('Complete early')")
    nurse.wait_for_selector("#page-error:has-text('Early end reason')")
    assert nurse.locator(".big-state").inner_text() == "running"
    _shot(nurse, "session-4-complete-early-needs-reason")
    nurse.fill("input[name=early_end_reason]", "blood pressure: physician decision to stop")
    nurse.on("dialog", lambda dialog: dialog.accept())
    nurse.dblclick("button:has-text('Complete early')")
    nurse.wait_for_selector(".big-state:has-text('recovery')")
    assert "ended early: blood pressure: physician decision to stop" in nurse.locator("dl.facts").inner_text()
    with web_db.read() as session:
        assert [s.kind for s in charting.segment_rows(session, sid)].count("stop") == 1

    # 5. Discharge tried too soon: refused on the 30-min recovery wait, the post-infusion reading charted.
    nurse.goto(f"/sessions/{sid}")
    assert nurse.locator("#recovery-countdown").inner_text().startswith("in ")
    _chart(nurse, sbp="124", dbp="76", hr="70", spo2="98", rass="0")
    nurse.wait_for_selector("#flowsheet td:has-text('124')")
    nurse.check("input[name=q_able_to_walk]")
    nurse.check("input[name=q_escort_present]")
    nurse.click("button:has-text('Discharge')")
    nurse.wait_for_selector("#page-error:has-text('At least 30 min observed')")
    assert "full set of vitals" not in nurse.locator("#page-error").inner_text()
    assert nurse.locator(".big-state").inner_text() == "recovery"
    assert nurse.is_checked("input[name=q_able_to_walk]") and nurse.is_checked("input[name=q_escort_present]")
    _shot(nurse, "session-5-discharge-too-soon")

    # The half hour passes (the clinic's recovery minimum set to 0 min stands in for it): discharge, sign.
    app.state.settings = replace(
        app.state.settings, config_dir=clinic_ending_policy(tmp_path / "clinic", recovery_min=0)
    )
    waste_rest(web_db, web_staff, sid)
    nurse.goto(f"/sessions/{sid}")
    nurse.check("input[name=q_able_to_walk]")
    nurse.check("input[name=q_escort_present]")
    nurse.click("button:has-text('Discharge')")
    nurse.wait_for_selector("button:has-text('Sign and lock')")
    assert nurse.locator("#discharged-at dd").inner_text().count(":") == 1  # the time on the record
    nurse.click("button:has-text('Sign and lock')")
    nurse.wait_for_selector("#signed:has-text('Signed by nurse')")
    nurse.fill("input[name=text]", "Phoned next day: well, no nightmares.")
    nurse.click("button:has-text('Add addendum')")
    nurse.wait_for_selector(".addendum:has-text('Phoned next day')")
    _shot(nurse, "session-6-signed")

    # The physician reads the signed record, the badge still at 0.
    physician.goto(f"/sessions/{sid}")
    physician.wait_for_selector("#signed:has-text('Signed by nurse')")
    physician.wait_for_selector("#alert-badge .badge:text('0')")
    _shot(physician, "session-6-physician-signed-record")


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """A full-page screenshot from the top: scrolled, the sticky alerts card would be drawn over the page."""
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, name)


def _chart(page, **values: str) -> None:  # type: ignore[no-untyped-def]
    """One row of the flowsheet typed in and submitted with Enter."""
    for name, value in values.items():
        page.fill(f"#obs-form input[name={name}]", value)
    page.press(f"#obs-form input[name={next(iter(values))}]", "Enter")


def _running(db: Database, staff: dict[str, Actor], mrn: str, minutes_ago: float) -> int:
    """A session started `minutes_ago` at the planned 24.5 mL/h, checked in five minutes before."""
    sid = create_session(
        db, staff["nurse"], SessionCreate(plan_id=approved_plan(db, staff, mrn=mrn), session_number=1)
    ).id
    start = utcnow() - timedelta(minutes=minutes_ago)
    check_in = CheckInIn.model_validate(CHECK_IN | {"at": start - timedelta(minutes=5)})
    sessions.check_in(db, staff["nurse"], sid, check_in, config=None)
    rate = infusion_rates.RateIn(pump_ml_h=24.5, at=start)
    sessions.start(db, staff["nurse"], sid, rate, start_reason=STARTED_YESTERDAY_MAYBE, config=None)
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
