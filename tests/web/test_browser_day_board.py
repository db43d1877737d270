"""Browser: a nurse starts a session from the day board (two at once, one on each chair); with the board
and the chart open elsewhere, an abnormal reading she charts shows its alert on both without a reload."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import infusion_rates
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.lifecycle import CheckInIn
from ketaclinic.settings import Settings
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests.conftest import screenshot
from tests.services.sessions_support import CHECK_IN
from tests.web.board_support import booked_today, open_all_day

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots-board")


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The app's settings with a clinic open around the clock (the live server uses these)."""
    return open_all_day(settings, tmp_path / "config")


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    screenshot(page, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_the_board_and_the_chart_show_a_new_alert_without_a_reload(  # type: ignore[no-untyped-def]
    browser_login, live_server: str, web_db: Database, web_staff: dict[str, Actor], settings: Settings
) -> None:
    appointment = booked_today(web_db, web_staff, settings, "BB-1")
    nurse = browser_login("nurse")
    nurse.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    nurse.wait_for_selector(f"#appointment-{appointment.id}")
    _shot(nurse, "board-booked")
    nurse.locator(f"#appointment-{appointment.id}").get_by_role("button", name="Start session").click()
    nurse.wait_for_url("**/sessions/*")
    session_id = int(nurse.url.rsplit("/", 1)[1])
    actor = web_staff["nurse"]
    sessions.check_in(web_db, actor, session_id, CheckInIn.model_validate(CHECK_IN), config=settings)
    rate = infusion_rates.RateIn(
        rate_mg_kg_h=0.35, at=utcnow() - timedelta(minutes=10), deviation_reason="a round rate for the test"
    )
    sessions.start(web_db, actor, session_id, rate, config=settings)

    physician = browser_login("physician")
    physician.goto("/today")
    row = physician.locator(f"#appointment-{appointment.id}")
    assert "running" in row.locator(".board-state").inner_text()
    assert "none" in row.inner_text()  # no open alert yet
    chart = physician.context.new_page()
    chart.goto(f"/sessions/{session_id}")
    for page in (physician, chart):
        page.wait_for_function("document.body.dataset.liveMode === 'stream'")
        page.evaluate("window.__sameDocument = true")
    assert chart.locator("#alerts .alert").count() == 0

    nurse.reload()
    nurse.wait_for_selector("#obs-form")
    for name, value in (("sbp", "186"), ("dbp", "114"), ("hr", "104"), ("spo2", "97")):
        nurse.fill(f"#obs-form input[name={name}]", value)
    nurse.get_by_role("button", name="Chart ⏎").click()

    row.locator(".board-alerts").wait_for(timeout=10_000)
    assert "critical" in row.locator(".board-alerts").inner_text()
    chart.locator("#alerts .alert").first.wait_for(timeout=10_000)
    chart.locator("#live tbody tr", has_text="186").first.wait_for(timeout=10_000)  # the flowsheet too
    for page in (physician, chart):
        assert page.evaluate("window.__sameDocument === true")  # no reload: the same document
        assert page.evaluate("document.body.dataset.liveMode") == "stream"  # the stream, not the fallback
    _shot(physician, "board-live-alert")
    _shot(chart, "chart-live-alert")


def test_without_the_stream_the_chart_falls_back_to_polling(  # type: ignore[no-untyped-def]
    browser_login, live_server: str, web_db: Database, web_staff: dict[str, Actor], settings: Settings
) -> None:
    from ketaclinic.services.sessions.flowsheet import chart_observation
    from tests.services.sessions_support import STARTED_YESTERDAY_MAYBE, checked_in_session

    session_id = checked_in_session(web_db, web_staff, mrn="BB-2")
    rate = infusion_rates.RateIn(rate_mg_kg_h=0.35, at=utcnow() - timedelta(minutes=10))
    sessions.start(
        web_db, web_staff["nurse"], session_id, rate, start_reason=STARTED_YESTERDAY_MAYBE, config=settings
    )
    physician = browser_login("physician")
    physician.context.route("**/api/v1/events", lambda route: route.abort())  # a proxy that drops it
    physician.goto(f"/sessions/{session_id}")
    physician.wait_for_function("document.body.dataset.liveMode === 'polling'")
    chart_observation(
        web_db,
        web_staff["nurse"],
        session_id,
        {"sbp": 186, "dbp": 114, "hr": 104, "spo2": 97},
        config=settings,
    )
    physician.locator("#alerts .alert").first.wait_for(timeout=10_000)  # the next 4 s poll brings it
    _shot(physician, "chart-polling-fallback")


def test_a_nurse_runs_two_sessions_from_the_board(  # type: ignore[no-untyped-def]
    browser_login, live_server: str, web_db: Database, web_staff: dict[str, Actor], settings: Settings
) -> None:
    first = booked_today(web_db, web_staff, settings, "BB-3")
    second = booked_today(web_db, web_staff, settings, "BB-4")
    assert first.chair != second.chair  # two patients at once: one on each chair
    nurse = browser_login("nurse")
    actor = web_staff["nurse"]
    started: dict[int, int] = {}
    for appointment in (first, second):
        nurse.goto("/today")
        nurse.locator(f"#appointment-{appointment.id}").get_by_role("button", name="Start session").click()
        nurse.wait_for_url("**/sessions/*")
        session_id = int(nurse.url.rsplit("/", 1)[1])
        sessions.check_in(web_db, actor, session_id, CheckInIn.model_validate(CHECK_IN), config=settings)
        rate = infusion_rates.RateIn(
            rate_mg_kg_h=0.35,
            at=utcnow() - timedelta(minutes=5),
            deviation_reason="a round rate for the test",
        )
        sessions.start(web_db, actor, session_id, rate, config=settings)
        started[appointment.id] = session_id
    assert len(set(started.values())) == 2  # two sessions, not one opened twice

    nurse.goto("/today")
    for appointment in (first, second):
        row = nurse.locator(f"#appointment-{appointment.id}")
        assert "running" in row.locator(".board-state").inner_text()
        chart_link = row.get_by_role("link", name="Open chart")
        assert chart_link.get_attribute("href") == f"/sessions/{started[appointment.id]}"  # its own session
        assert row.get_by_role("button", name="Start session").count() == 0  # started once, not offered again
    _shot(nurse, "board-two-running")
