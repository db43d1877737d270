"""In a real browser: a premature completion asks for its reason; discharge waits for the recovery time."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI

from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import charting, flowsheet, infusion_rates
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.services.sessions.lifecycle import CheckInIn
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests.conftest import screenshot
from tests.services.sessions_support import (
    CHECK_IN,
    STARTED_YESTERDAY_MAYBE,
    approved_plan,
    clinic_ending_policy,
)

pytestmark = pytest.mark.browser
NORMAL = {"sbp": "126", "dbp": "78", "hr": "72", "spo2": "98", "rass": "0"}


def _running(db: Database, staff: dict[str, Actor], mrn: str, minutes_ago: float) -> int:
    sid = create_session(
        db, staff["nurse"], SessionCreate(plan_id=approved_plan(db, staff, mrn=mrn), session_number=1)
    ).id
    start = utcnow() - timedelta(minutes=minutes_ago)
    sessions.check_in(
        db, staff["nurse"], sid, CheckInIn.model_validate(CHECK_IN | {"at": start}), config=None
    )
    rate = infusion_rates.RateIn(pump_ml_h=24.5, at=start)
    sessions.start(db, staff["nurse"], sid, rate, start_reason=STARTED_YESTERDAY_MAYBE, config=None)
    return sid


def _chart_reading(page, values: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    rows = page.locator("#flowsheet tbody tr").count()
    for name, value in values.items():
        page.fill(f"#obs-form input[name={name}]", value)
    page.press("#obs-form input[name=rass]", "Enter")
    # Wait for the new row: the baseline's row may already show the same values.
    page.wait_for_function("n => document.querySelectorAll('#flowsheet tbody tr').length > n", arg=rows)


def test_nurse_ending_early_gives_a_reason_and_waits_for_the_recovery(  # type: ignore[no-untyped-def]
    browser_login, app: FastAPI, web_db: Database, web_staff: dict[str, Actor], tmp_path: Path
) -> None:
    sid = _running(web_db, web_staff, "BR-E1", 20)  # 20 min into a 240-min plan
    page = browser_login("nurse")
    page.goto(f"/sessions/{sid}")
    page.wait_for_selector("button:has-text('Complete early')")
    assert "planned 240 min" in page.locator("#lifecycle .early-end").inner_text()

    # The nurse declines the confirmation: nothing happens.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("button:has-text('Complete early')")
    assert page.locator(".big-state").inner_text() == "running"

    # Confirms without a reason: refused, naming the field, still running.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Complete early')")
    page.wait_for_selector("#page-error:has-text('Early end reason')")
    assert page.locator(".big-state").inner_text() == "running"
    screenshot(page, "ending-early-needs-reason")

    # With a reason, a double click records one completion (the second answers that it is in recovery).
    page.fill("input[name=early_end_reason]", "patient asked to stop: nausea")
    page.on("dialog", lambda dialog: dialog.accept())
    page.dblclick("button:has-text('Complete early')")
    page.wait_for_selector(".big-state:has-text('recovery')")
    assert "ended early: patient asked to stop: nausea" in page.locator("dl.facts").inner_text()
    with web_db.read() as session:
        stops = [s for s in charting.segment_rows(session, sid) if s.kind == "stop"]
    assert len(stops) == 1

    # Discharge straight away: refused with the wait and the missing post-infusion reading.
    page.goto(f"/sessions/{sid}")
    assert page.locator("#recovery-countdown").inner_text().startswith("in ")
    decrement = page.locator("#decrement").inner_text()
    assert "50 ng/mL" in decrement and "Bowdle 1998" in decrement and "weight 70 kg" in decrement
    page.check("input[name=q_able_to_walk]")
    page.check("input[name=q_escort_present]")
    page.click("button:has-text('Discharge')")
    page.wait_for_selector("#page-error:has-text('discharge criteria not met')")
    error = page.locator("#page-error").inner_text()
    assert "At least 30 min observed" in error and "full set of vitals" in error
    # The refusal keeps the ticks, and the checklist judges them: only the wait and the readings are unmet.
    checklist = page.locator("#discharge ul.checklist").inner_text()
    assert "✔ Walks steadily without help yes" in checklist and "not answered" not in checklist
    assert page.is_checked("input[name=q_escort_present]")
    # In recovery the checklist leads the screen, above the flowsheet.
    assert page.locator("#discharge").bounding_box()["y"] < page.locator("#flowsheet").bounding_box()["y"]
    screenshot(page, "ending-discharge-refused-keeps-ticks")
    _chart_reading(page, NORMAL)
    page.locator("#discharge").scroll_into_view_if_needed()
    screenshot(page, "ending-discharge-countdown")
    page.check("input[name=q_able_to_walk]")
    page.check("input[name=q_escort_present]")
    # The first refusal's message is still on the page: wait for the new answer before reading it.
    with page.expect_navigation():
        page.click("button:has-text('Discharge')")
    page.wait_for_selector("#page-error:has-text('At least 30 min observed')")
    assert "full set of vitals" not in page.locator("#page-error").inner_text()

    # The clinic's policy says 0 min here (as if the half hour had passed): discharge goes through.
    app.state.settings = replace(
        app.state.settings, config_dir=clinic_ending_policy(tmp_path / "clinic", recovery_min=0)
    )
    page.goto(f"/sessions/{sid}")
    page.check("input[name=q_able_to_walk]")
    page.check("input[name=q_escort_present]")
    page.click("button:has-text('Discharge')")
    page.wait_for_selector(".big-state:has-text('discharged')")
    screenshot(page, "ending-discharged")


def test_physician_sees_the_decrement_and_no_early_prompt_at_the_planned_end(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    sid = _running(web_db, web_staff, "BR-E2", 238)  # within the 5-min margin of the 240-min plan
    flowsheet.chart_observation(
        web_db, web_staff["nurse"], sid, {k: float(v) for k, v in NORMAL.items()}, config=None
    )
    page = browser_login("physician")
    page.goto(f"/sessions/{sid}")
    assert page.locator("button:has-text('Complete early')").count() == 0
    page.click("button:has-text('Complete infusion')")
    page.wait_for_selector(".big-state:has-text('recovery')")
    assert "ended early" not in page.locator("dl.facts").inner_text()
    page.wait_for_selector("#decrement:has-text('min after the end')")
    assert page.locator("#discharge").bounding_box()["y"] < page.locator("#flowsheet").bounding_box()["y"]
    page.locator("#discharge").scroll_into_view_if_needed()
    screenshot(page, "ending-physician-recovery")
