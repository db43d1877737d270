"""The chart screen during an infusion: login expiry, refused forms kept in clinical words, the record."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import ketaclinic.web
from ketaclinic.monitoring import PregnancyCheck
from ketaclinic.services.permissions import Actor
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests.login_support import idle_for, last_seen
from tests.services.sessions_support import CHECK_IN, approved_plan

Client = Callable[[str | None], TestClient]
OpenChart = Callable[[bool], tuple[TestClient, int, TestClient]]
Pages = Callable[[str], TestClient]
HX = {"HX-Request": "true"}


@pytest.fixture
def open_chart(
    api_client: Client,
    page_client: Callable[[str], TestClient],
    web_db: Database,
    web_staff: dict[str, Actor],
) -> Callable[[bool], tuple[TestClient, int, TestClient]]:
    """`open_chart(running)` -> (the nurse's API client, a session, the nurse's browser client)."""

    def make(running: bool) -> tuple[TestClient, int, TestClient]:
        api = api_client("nurse")
        plan_id = approved_plan(web_db, web_staff)
        made = api.post("/api/v1/sessions", json={"plan_id": plan_id, "session_number": 1})
        sid = int(made.json()["id"])
        if running:
            assert api.post(f"/api/v1/sessions/{sid}/check-in", json=CHECK_IN).status_code == 200
            assert api.post(f"/api/v1/sessions/{sid}/start", json={"pump_ml_h": 24.5}).status_code == 200
        return api, sid, page_client("nurse")

    return make


def test_an_expired_login_never_nests_the_login_page_in_a_fragment(
    open_chart: OpenChart, web_db: Database
) -> None:
    _api, sid, nurse = open_chart(True)
    idle_for(web_db, 16)
    for answer in (
        nurse.get(f"/sessions/{sid}/alerts", headers=HX),
        nurse.post(f"/sessions/{sid}/observations", data={"hr": "80"}, headers=HX | {"X-CSRF-Token": "x"}),
    ):
        assert answer.status_code == 401 and answer.headers["HX-Trigger"] == "session-expired"
        assert "<form" not in answer.text and "Log in" not in answer.text
    page = nurse.get(f"/sessions/{sid}")  # a whole page still goes to the login form
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_polling_is_not_activity_but_a_person_acting_is(open_chart: OpenChart, web_db: Database) -> None:
    _api, sid, nurse = open_chart(True)
    idle_for(web_db, 10)
    before = last_seen(web_db)
    assert nurse.get(f"/sessions/{sid}/alerts", headers=HX).status_code == 200
    assert nurse.get("/alerts/badge", headers=HX).status_code == 200  # every page polls the badge
    status = nurse.get("/session/status").json()
    assert last_seen(web_db) == before
    assert 4 * 60 <= status["seconds_left"] <= 5 * 60 and status["warn_seconds"] == 120
    idle_for(web_db, 14)
    assert nurse.get("/session/status").json()["seconds_left"] <= 60  # the screen warns now
    kept = nurse.post("/session/keepalive", headers={"X-CSRF-Token": nurse.csrf}).json()
    assert kept["seconds_left"] > 14 * 60 and last_seen(web_db) != before
    assert nurse.post("/session/keepalive").status_code == 403  # a write without the CSRF token


def test_the_re_login_landing_hands_the_new_csrf_token_to_the_screen(
    page_client: Callable[[str], TestClient],
) -> None:
    nurse = page_client("nurse")
    landing = nurse.get("/session/resumed")
    assert landing.status_code == 200 and f'data-csrf="{nurse.csrf}"' in landing.text
    # The hand-over runs from a static file (the CSP allows no inline script), same origin only.
    assert '<script src="/static/session-resumed.js"></script>' in landing.text
    script = nurse.get("/static/session-resumed.js").text
    assert "postMessage" in script and "window.location.origin" in script


def test_a_refused_check_in_keeps_what_was_typed_and_names_the_field_in_clinical_words(
    open_chart: OpenChart, web_db: Database
) -> None:
    _api, sid, nurse = open_chart(False)
    form = {
        "weight_kg": "0.5",
        "sbp": "131",
        "dbp": "82",
        "hr": "71",
        "spo2": "97",
        "nrs": "6",
        "premed_medication": "none",
        "pregnancy_check": "negative_test",
        "csrf_token": nurse.csrf,
    }
    answer = nurse.post(f"/sessions/{sid}/check-in", data=form)
    assert answer.status_code == 422
    beside = re.search(r'id="err-check-in-weight_kg"[^>]*>([^<]+)<', answer.text)
    assert beside and beside.group(1) == "must be at least 1 kg; 0.5 kg was entered"
    assert 'id="page-error">Weight today: must be at least 1 kg' in answer.text
    for name, value in (("weight_kg", "0.5"), ("sbp", "131"), ("dbp", "82"), ("nrs", "6")):
        assert re.search(rf'name="{name}"[^>]*value="{value}"', answer.text), name
    assert '<option value="negative_test" selected>' in answer.text
    # The answers are the vocabulary's and the form posts to the route's own path.
    offered = re.findall(
        r'<option value="(\w+)"[^>]*>([^<]+)</option>', answer.text.split('name="pregnancy_check"')[1]
    )
    assert offered[: len(PregnancyCheck)] == [(p.value, p.label) for p in PregnancyCheck]
    assert f'action="/sessions/{sid}/check-in"' in answer.text
    template = (Path(ketaclinic.web.__file__).parent / "templates/sessions/detail.html").read_text()
    assert "negative_test" not in template and "'PO'" not in template and '/check-in"' not in template
    assert '<option value="none" selected>' in answer.text
    for raw in ("weight_kg:", "Input should", "mm[Hg]"):
        assert raw not in answer.text.split('id="page-error">')[1].split("</div>")[0]
    assert "SBP mmHg" in answer.text and "SpO₂ %" in answer.text
    answer = nurse.post(f"/sessions/{sid}/check-in", data=form | {"weight_kg": "70", "nrs": "6.5"})
    assert 'id="err-check-in-nrs"' in answer.text and "must be a whole number; 6.5 was entered" in answer.text
    assert nurse.post(f"/sessions/{sid}/check-in", data=form | {"weight_kg": "70"}).status_code == 303


def test_a_refused_reading_keeps_its_values_and_note(open_chart: OpenChart, web_db: Database) -> None:
    _api, sid, nurse = open_chart(True)
    typed = {"sbp": "128", "hr": "77", "spo2": "140", "note": "patient drowsy", "hallucinations": "1"}
    answer = nurse.post(
        f"/sessions/{sid}/observations", data=typed, headers=HX | {"X-CSRF-Token": nurse.csrf}
    )
    assert answer.status_code == 200  # htmx swaps the refused row back in with its message
    assert re.search(r'id="err-obs-form-spo2"[^>]*>140.0 is impossible \(0-100 %\)<', answer.text)
    assert "SpO₂: 140.0 is impossible" in answer.text
    assert 'value="patient drowsy"' in answer.text and 'value="128"' in answer.text
    assert re.search(r'name="hallucinations"[^>]*checked', answer.text)


def test_flowsheet_headings_events_in_time_order_and_the_ketamine_totals(
    open_chart: OpenChart, web_db: Database
) -> None:
    api, sid, nurse = open_chart(True)
    base = f"/api/v1/sessions/{sid}"
    now = utcnow()
    late = {"kind": "nausea_vomiting", "severity": "mild", "action": "ondansetron", "outcome": "settled"}
    assert api.post(f"{base}/adverse-events", json=late | {"onset_at": now.isoformat()}).status_code == 201
    early = {"purpose": "rescue", "medication": "labetalol", "dose": 10}
    given_at = (now - timedelta(minutes=1)).isoformat()
    assert api.post(f"{base}/medications", json=early | {"given_at": given_at}).status_code == 201
    chart = api.get(base).json()
    assert chart["planned_total_mg"] > 0 and 0 <= chart["given_mg"] < chart["planned_total_mg"]
    screen = nurse.get(f"/sessions/{sid}").text
    headings = re.findall(r'<th class="num" title="[^"]*">([^<]+)</th>', screen.split('id="flowsheet"')[1])
    assert headings[:4] == ["SBP mmHg", "DBP mmHg", "HR /min", "SpO₂ %"] and "sbp" not in headings
    events = screen.split("Events and doses")[1].split("</table>")[0].lower()
    assert events.index("labetalol") < events.index("ae: nausea vomiting")
    assert re.search(r"Ketamine given</dt><dd><strong>[\d.,]+ mg</strong> of [\d.,]+ mg planned", screen)


def test_a_charted_reading_refreshes_the_ketamine_total_and_what_is_still_needed(
    open_chart: OpenChart,
) -> None:
    _api, sid, nurse = open_chart(True)
    page = nurse.get(f"/sessions/{sid}").text
    assert "at least one observation during the infusion" in page and page.count('id="ketamine-total"') == 1
    reading = {"csrf_token": nurse.csrf, "sbp": "120", "dbp": "75", "hr": "70", "spo2": "98", "rr": "14"}
    answer = nurse.post(f"/sessions/{sid}/observations", data=reading, headers=HX)
    assert answer.status_code == 200
    assert 'id="ketamine-total" hx-swap-oob="true"' in answer.text
    assert 'id="still-needed"' in answer.text
    assert "at least one observation during the infusion" not in answer.text


def test_a_refused_rate_confirmation_comes_back_with_its_box_and_the_reasons_typed(
    open_chart: OpenChart,
) -> None:
    _api, sid, nurse = open_chart(True)
    typed = {"action": "rate", "unit": "ml_h", "rate": "72", "deviation_reason": "pain flare, per Dr Lee"}
    answer = nurse.post(
        f"/sessions/{sid}/rate", data=typed | {"limit_reason": "  ", "csrf_token": nurse.csrf}
    )
    assert answer.status_code == 422 and 'id="page-error"' in answer.text
    box = answer.text.split('id="rate-confirm"')[1].split("</form>")[0]
    assert 'name="rate" value="72"' in box and "SOFT" in answer.text.split('id="rate-check"')[1]
    assert re.search(r'name="deviation_reason"[^>]*value="pain flare, per Dr Lee"', box)
    assert re.search(r'name="limit_reason"[^>]*required[^>]*value="\s*"', box)  # the one still missing


def test_a_refused_acknowledgement_keeps_the_note_and_the_action_picked(
    open_chart: OpenChart,
) -> None:
    api, sid, nurse = open_chart(True)
    assert api.post(f"/api/v1/sessions/{sid}/observations", json={"sbp": 165, "dbp": 80}).status_code == 201
    (alert,) = api.get(f"/api/v1/sessions/{sid}/alerts").json()
    typed = {"action": "reduce_rate", "note": "rate down to 20 mL/h, Dr Lee told"}
    headers = HX | {"X-CSRF-Token": nurse.csrf}
    first = nurse.post(f"/sessions/{sid}/alerts/{alert['id']}/ack", data=typed, headers=headers)
    assert first.status_code == 200 and "Acknowledged by" in first.text
    again = nurse.post(f"/sessions/{sid}/alerts/{alert['id']}/ack", data=typed, headers=headers)
    assert 'role="alert"' in again.text  # already acknowledged: refused, the panel says why
    # A refusal on an open alert keeps what was typed in its own form.
    assert api.post(f"/api/v1/sessions/{sid}/observations", json={"spo2": 92}).status_code == 201
    opened = [a for a in api.get(f"/api/v1/sessions/{sid}/alerts").json() if a["state"] == "open"]
    bad = {"action": "no_such_action", "note": "probe moved, recheck"}
    refused = nurse.post(f"/sessions/{sid}/alerts/{opened[0]['id']}/ack", data=bad, headers=headers)
    assert 'role="alert"' in refused.text
    form = refused.text.split(f'data-alert-id="{opened[0]["id"]}"')[1].split("</form>")[0]
    assert 'name="note" placeholder="Note (optional)" aria-label="Note" value="probe moved, recheck"' in form


def test_a_refused_discharge_judges_the_ticks_and_the_checklist_leads_the_recovery_screen(
    open_chart: OpenChart,
) -> None:
    api, sid, nurse = open_chart(True)
    assert api.post(f"/api/v1/sessions/{sid}/stop", json={"reason": "nausea"}).status_code == 200
    page = nurse.get(f"/sessions/{sid}").text
    assert page.index('id="discharge"') < page.index('id="flowsheet"')  # in recovery: near the top
    ticked = {"q_able_to_walk": "1", "q_escort_present": "1", "csrf_token": nurse.csrf}
    refused = nurse.post(f"/sessions/{sid}/discharge", data=ticked)
    assert refused.status_code == 409 and "discharge criteria not met" in refused.text
    checklist = refused.text.split('id="discharge"')[1].split("</ul>")[0]
    assert re.search(r"✔ Walks steadily without help <span[^>]*>yes<", checklist)
    assert "A responsible adult escort is present to take the patient home" in checklist
    assert "not answered" not in checklist
    assert re.search(r'name="q_able_to_walk"[^>]*checked', refused.text)
    assert "not answered" in nurse.get(f"/sessions/{sid}").text  # nothing was stored
