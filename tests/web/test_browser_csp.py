"""In a real browser under the app's Content-Security-Policy: every kind of screen opens with nothing
refused, and what moved out of inline script still works (countdowns, a confirm, print, copy, /docs)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ketaclinic.services.outcomes.links import LinkIn, issue_link
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import infusion_rates
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.services.sessions.lifecycle import CheckInIn
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests import factories
from tests.conftest import watch_csp
from tests.services.sessions_support import CHECK_IN, approved_plan
from tests.services.test_outcomes_service import treated

pytestmark = pytest.mark.browser
SHOTS = "/tmp/shots-sec"


def _running_session(db: Database, staff: dict[str, Actor], minutes_ago: float) -> tuple[int, int]:
    """(plan id, session id) of a session started `minutes_ago` at the planned rate."""
    plan_id = approved_plan(db, staff, mrn="CSP-1")
    sid = create_session(db, staff["nurse"], SessionCreate(plan_id=plan_id, session_number=1)).id
    start = utcnow() - timedelta(minutes=minutes_ago)
    sessions.check_in(
        db,
        staff["nurse"],
        sid,
        CheckInIn.model_validate(CHECK_IN | {"at": start - timedelta(minutes=5)}),
        config=None,
    )
    sessions.start(db, staff["nurse"], sid, infusion_rates.RateIn(pump_ml_h=24.5, at=start), config=None)
    return plan_id, sid


def test_every_screen_kind_opens_with_nothing_refused_and_still_works(  # type: ignore[no-untyped-def]
    browser, browser_login, live_server: str, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    plan_id, sid = _running_session(web_db, web_staff, 10)
    draft = factories.draft_plan(web_db, web_staff, mrn="CSP-2")
    course = treated(web_db, web_staff["nurse"], "CSP-3", 8, {}, series_end=date.today() - timedelta(days=8))
    item = next(f for f in course.followups if f.weeks_after_series == 1)
    token = issue_link(web_db, web_staff["nurse"], LinkIn(followup_item_id=item.id)).token

    screens = {
        "physician": [
            "/",
            "/patients",
            f"/patients/{course.patient_id}",
            f"/patients/{course.patient_id}/edit",
            f"/patients/{course.patient_id}/outcomes",
            "/patients/new",
            "/screening",
            "/plans",
            f"/plans/{draft.id}",
            f"/plans/{plan_id}/sessions/1/pump-sheet",
            "/sessions",
            f"/sessions/{sid}",
            "/followup",
            "/pk",
            "/alerts/clinic",
            "/account/tokens",
        ],
        "admin": ["/admin/users", "/admin/audit"],
        "researcher": ["/analytics", "/analytics/report", "/patients"],
    }
    for username, paths in screens.items():
        page = browser_login(username)
        for path in paths:
            answer = page.goto(path)
            assert answer is not None and answer.status < 500, (path, answer.status if answer else None)
            assert "content-security-policy" in answer.headers, path

    # The chart: the vitals countdown renders, and completing early asks first (data-confirm).
    nurse = browser_login("nurse")
    nurse.goto(f"/sessions/{sid}")
    nurse.wait_for_function(
        "document.getElementById('countdown').textContent.startsWith('in ')"
        " || document.getElementById('countdown').textContent.startsWith('overdue')"
    )
    assert nurse.evaluate("document.activeElement.name") == nurse.locator(
        "#obs-form input[data-focus-on-load]"
    ).get_attribute("name")
    asked: list[str] = []

    def dismiss(dialog) -> None:  # type: ignore[no-untyped-def]
        asked.append(dialog.message)
        dialog.dismiss()

    nurse.on("dialog", dismiss)
    nurse.get_by_label("Early end reason").fill("patient asked to stop")
    nurse.get_by_role("button", name="Complete early").click()
    assert asked and "Complete the infusion early?" in asked[0]
    assert nurse.url.endswith(f"/sessions/{sid}")  # dismissed: nothing was sent
    nurse.screenshot(path=f"{SHOTS}/csp-session-chart.png", full_page=True)

    # The pump sheet's Print button calls the browser's print (stubbed: headless prints nothing).
    nurse.goto(f"/plans/{plan_id}/sessions/1/pump-sheet")
    nurse.evaluate("() => { window.printed = 0; window.print = () => { window.printed += 1; }; }")
    nurse.get_by_role("button", name="Print").click()
    assert nurse.evaluate("window.printed") == 1

    # A follow-up link issued on its page: the Copy button copies it.
    nurse.context.grant_permissions(["clipboard-read", "clipboard-write"])
    nurse.goto("/followup")
    with nurse.expect_navigation():
        nurse.locator("#followup-table tbody tr", has_text="week 2").first.get_by_role(
            "button", name="Issue link"
        ).click()
    nurse.get_by_role("button", name="Copy").click()
    assert nurse.evaluate("navigator.clipboard.readText()") == nurse.locator("#link-url").input_value()

    # Not logged in: the public questionnaire and the API reference, which renders the operations.
    visitor = browser.new_context(base_url=live_server)
    refused: list[str] = []
    watch_csp(visitor, refused)
    try:
        public = visitor.new_page()
        assert public.goto(f"/r/{token}").ok
        public.goto("/login")
        # The watch itself sees a refusal: an injected inline handler is blocked and reported.
        public.evaluate(
            "() => document.body.insertAdjacentHTML('beforeend', '<img src=/nowhere onerror=alert(1)>')"
        )
        public.wait_for_timeout(500)
        assert any("inline event handler" in line for line in refused), refused
        refused.clear()
        docs = visitor.new_page()
        docs.goto("/docs")
        docs.wait_for_selector(".opblock-summary", timeout=20000)
        assert docs.locator(".opblock").count() > 20
        docs.screenshot(path=f"{SHOTS}/csp-api-docs.png")
    finally:
        visitor.close()
    assert refused == [], refused
