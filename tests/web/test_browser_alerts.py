"""In a real browser: one grouped alert escalating, acknowledged with one pick, and the physician's badge."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page

from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import infusion_rates
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.services.sessions.lifecycle import CheckInIn
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests.services.sessions_support import CHECK_IN, approved_plan

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/alerts_shots")


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def _running(db: Database, staff: dict[str, Actor]) -> int:
    sid = create_session(
        db, staff["nurse"], SessionCreate(plan_id=approved_plan(db, staff, mrn="BR-A1"), session_number=1)
    ).id
    start = utcnow() - timedelta(minutes=10)
    sessions.check_in(
        db,
        staff["nurse"],
        sid,
        CheckInIn.model_validate(CHECK_IN | {"at": start - timedelta(minutes=5)}),
        config=None,
    )
    sessions.start(db, staff["nurse"], sid, infusion_rates.RateIn(pump_ml_h=24.5, at=start), config=None)
    return sid


def _chart(page: Page, *, hallucinations: bool = False, **values: str) -> None:
    for name, value in values.items():
        page.fill(f"#obs-form input[name={name}]", value)
    if hallucinations:
        page.check("#obs-form input[name=hallucinations]")
    page.press(f"#obs-form input[name={next(iter(values))}]", "Enter")


def test_a_grouped_alert_escalates_reaches_the_physician_and_resolves_by_the_reading(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    sid = _running(web_db, web_staff)
    nurse = browser_login("nurse")
    nurse.goto(f"/sessions/{sid}")

    # A wrong value is refused naming the field, and raises nothing.
    _chart(nurse, spo2="104")
    nurse.wait_for_selector("text=/SpO₂.*impossible/")
    assert nurse.locator("#alerts .session-alert").count() == 0

    # A raised blood pressure: one warning.
    _chart(nurse, sbp="165", dbp="95", hr="80", spo2="98")
    nurse.wait_for_selector("#alerts .session-alert[data-group=blood_pressure][data-severity=warning]")
    _shot(nurse, "01-nurse-bp-warning")

    # The reading of the clinic day: it escalates the same alert and adds one psychomimetic alert.
    _chart(nurse, hallucinations=True, sbp="186", dbp="114", hr="104", spo2="97")
    nurse.wait_for_selector("#alerts .session-alert[data-group=blood_pressure][data-severity=critical]")
    panel = nurse.locator("#alerts .session-alert")
    nurse.wait_for_selector("#alerts .session-alert[data-group=psychomimetic]")
    assert nurse.locator("#alerts .session-alert[data-group=blood_pressure]").count() == 1
    assert panel.count() == 2  # seven rules fired, two alerts
    assert panel.first.get_attribute("data-severity") == "critical"  # most severe first
    assert "clinic-wide" in panel.first.inner_text()
    assert "2 readings since" in panel.first.inner_text()
    nurse.locator("#alerts .session-alert[data-group=blood_pressure] summary").click()
    _shot(nurse, "02-nurse-bp-escalated")

    # The physician, elsewhere, sees the badge on every page and the list on the home page.
    physician = browser_login("physician")
    physician.wait_for_selector("#alert-badge.has-open .badge:text('1')")
    physician.wait_for_selector(f"#clinic-alerts a[href='/sessions/{sid}']")
    assert "CRITICAL" in physician.locator("#clinic-alerts").inner_text()
    _shot(physician, "03-physician-home-badge")
    physician.click("nav >> text=Dose plans")
    physician.wait_for_selector("#alert-badge.has-open .badge:text('1')")

    # A double click acknowledges once, with no error.
    bp = nurse.locator("#alerts .session-alert[data-group=blood_pressure]")
    bp.locator("select[name=action]").select_option("physician_called")
    bp.locator("input[name=note]").fill("Dr Lee on the way")
    bp.locator("button:has-text('Acknowledge')").dblclick()
    nurse.wait_for_selector("#alerts :text('Acknowledged by')")
    assert nurse.locator("#alerts [role=alert]").count() == 0
    assert "Physician called (Dr Lee on the way)" in nurse.locator("#alerts").inner_text()

    # The pressure settles: one click resolves by that reading.
    _chart(nurse, sbp="128", dbp="80", hr="76", spo2="98")
    button = nurse.locator("#alerts button.resolve-by-reading")
    button.wait_for()
    assert re.fullmatch(r"Resolved by the reading at \d\d:\d\d", button.inner_text().strip())
    _shot(nurse, "04-nurse-resolve-offered")
    button.click()
    nurse.wait_for_selector("#alerts summary:has-text('1 resolved alert(s)')")
    nurse.mouse.wheel(0, 1500)
    nurse.wait_for_timeout(300)
    assert nurse.locator(".alerts-card").is_visible()
    _shot(nurse, "05-nurse-scrolled-alerts-stay")

    physician.reload()
    physician.wait_for_selector("#alert-badge .badge:text('0')")
    _shot(physician, "06-physician-badge-cleared")
