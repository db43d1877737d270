"""Sessions over HTTP: the API from creation to signature, 4xx answers, roles, and the charting screen."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from ketaclinic.reports.svg import PALETTE
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from tests.conftest import STAFF_PASSWORD
from tests.ledger_support import prepare_bag
from tests.services.sessions_support import CHECK_IN, approved_plan, clinic_ending_policy

Client = Callable[[str | None], TestClient]


def _new_session(api: TestClient, web_db: Database, web_staff: dict[str, Actor]) -> int:
    plan_id = approved_plan(web_db, web_staff)
    made = api.post("/api/v1/sessions", json={"plan_id": plan_id, "session_number": 1})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def test_api_session_from_creation_to_signature(
    app: FastAPI, api_client: Client, web_db: Database, web_staff: dict[str, Actor], tmp_path: Path
) -> None:
    api = api_client("nurse")
    sid = _new_session(api, web_db, web_staff)
    base = f"/api/v1/sessions/{sid}"
    assert api.post(f"{base}/start", json={"pump_ml_h": 24.5}).status_code == 409
    assert api.post(f"{base}/check-in", json=CHECK_IN).json()["state"] == "checked_in"
    prepare_bag(web_db, web_staff, sid)
    hard = api.post(f"{base}/start", json={"pump_ml_h": 150})
    assert hard.status_code == 422 and "hard max" in hard.json()["detail"]
    assert api.post(f"{base}/start", json={"rate_mg_kg_h": 0.35}).json()["state"] == "running"
    over_total = api.post(
        f"{base}/rate", json={"pump_ml_h": 80, "limit_reason": "x", "deviation_reason": "y"}
    )
    assert over_total.status_code == 422 and "projected session total" in over_total.json()["detail"]
    soft = api.post(f"{base}/rate", json={"pump_ml_h": 72, "deviation_reason": "pain"})
    assert soft.status_code == 422 and soft.json()["field"] == "limit_reason"
    preview = api.post(f"{base}/rate/check", json={"pump_ml_h": 72})
    assert preview.json()["check"]["verdict"] == "soft" and preview.json()["check"]["source"]
    assert preview.json()["session_total"]["verdict"] == "soft"
    ok = api.post(f"{base}/rate", json={"pump_ml_h": 72, "limit_reason": "order", "deviation_reason": "pain"})
    assert ok.status_code == 201 and ok.json()["deviation"] is True
    impossible = api.post(f"{base}/observations", json={"hr": 400})
    assert impossible.status_code == 422 and impossible.json()["field"] == "hr"
    reading = api.post(f"{base}/observations", json={"sbp": 182, "dbp": 95, "hr": 88, "spo2": 97})
    assert reading.status_code == 201 and reading.json()["alerts_raised"]
    polled = api.get(f"{base}/alerts").json()
    assert [(a["group"], a["severity"]) for a in polled] == [("blood_pressure", "critical")]
    assert {f["trigger_key"] for f in polled[0]["findings"]} == set(reading.json()["alerts_raised"])
    first = polled[0]["id"]
    assert api.post(f"{base}/alerts/{first}/resolve", json={"resolution": "x"}).status_code == 409
    bad_pick = api.post(f"{base}/alerts/{first}/ack", json={"action": "rate halved"})
    assert bad_pick.status_code == 422 and bad_pick.json()["field"] == "action"
    acked = api.post(f"{base}/alerts/{first}/ack", json={"action": "reduce_rate", "note": "to 0.25"})
    assert acked.json()["acknowledged_by"] == "nurse" and acked.json()["action_taken"] == "reduce_rate"
    both = api.post(f"{base}/alerts/{first}/resolve", json={"resolution": "x", "observation_id": 1})
    assert both.status_code == 422
    assert api.post(f"{base}/alerts/{first}/resolve", json={"resolution": "BP settled"}).status_code == 200
    ae = api.post(
        f"{base}/adverse-events",
        json={"kind": "hypertension", "severity": "moderate", "action": "rate reduced", "outcome": "settled"},
    )
    assert ae.status_code == 201 and ae.json()["cp_at_onset_ng_ml"] >= 0
    assert (
        api.post(f"{base}/adverse-events", json={"kind": "gremlins", "severity": "mild"}).status_code == 422
    )
    med = api.post(f"{base}/medications", json={"purpose": "rescue", "medication": "labetalol", "dose": 10})
    assert med.status_code == 201 and med.json()["unit"] == "mg"
    assert (
        api.post(f"{base}/medications", json={"purpose": "rescue", "medication": "x", "dose": 1}).status_code
        == 404
    )
    api.post(f"{base}/observations", json={"sbp": 126, "dbp": 78, "hr": 72, "spo2": 98, "rass": 0})
    at_once = api.post(f"{base}/complete")
    assert at_once.status_code == 409 and at_once.json()["field"] == "early_end_reason"
    early = api.post(f"{base}/complete", json={"early_end_reason": "patient asked to stop"})
    assert early.json()["state"] == "recovery"
    assert api.get(base).json()["early_end_reason"] == "patient asked to stop"
    api.post(f"{base}/observations", json={"sbp": 126, "dbp": 78, "hr": 72, "spo2": 98, "rass": 0})
    too_soon = api.post(f"{base}/discharge", json={"answers": {"able_to_walk": True, "escort_present": True}})
    assert too_soon.status_code == 409 and too_soon.json()["field"] == "discharge"
    assert "30 min observed" in too_soon.json()["detail"]
    assert api.post(f"{base}/discharge", json={"answers": {}}).status_code == 409
    no_wait = clinic_ending_policy(tmp_path / "clinic", recovery_min=0)
    app.state.settings = replace(app.state.settings, config_dir=no_wait)
    done = api.post(f"{base}/discharge", json={"answers": {"able_to_walk": True, "escort_present": True}})
    assert done.json()["state"] == "discharged"
    assert api_client("researcher").post(f"{base}/sign").status_code == 403
    gate = api.post(f"{base}/sign")
    assert gate.status_code == 409 and gate.json()["field"] == "ledger"
    left = api.get(f"/api/v1/ledger/sessions/{sid}/reconciliation").json()
    residual = (left["prepared_mg"] - left["administered_mg"]) / left["preparations"][0][
        "concentration_mg_ml"
    ]
    waste = {
        "residual_ml": residual,
        "method": "sink",
        "witness": "physician",
        "witness_password": STAFF_PASSWORD,
    }
    wasted = api.post(f"/api/v1/ledger/sessions/{sid}/waste", json=waste)
    assert wasted.status_code == 200 and wasted.json()["within_tolerance"], wasted.text
    assert api.post(f"{base}/sign").json()["state"] == "signed"
    assert api.post(f"{base}/observations", json={"hr": 70}).status_code == 409
    assert api.post(f"{base}/addenda", json={"text": "called the patient"}).status_code == 201
    chart = api.get(base).json()
    assert chart["state"] == "signed" and chart["addenda"][0]["text"] == "called the patient"
    assert chart["prediction"]["bands"][0]["source"]
    assert api_client("researcher").get(base).status_code == 403
    assert api_client(None).get(base).status_code == 401
    assert api.get("/api/v1/sessions/9999").status_code == 404


def test_charting_screen_and_fragments(
    api_client: Client,
    page_client: Callable[[str], TestClient],
    web_db: Database,
    web_staff: dict[str, Actor],
) -> None:
    api = api_client("nurse")
    sid = _new_session(api, web_db, web_staff)
    page = page_client("nurse")
    listing = page.get("/sessions")
    assert listing.status_code == 200 and f"/sessions/{sid}" in listing.text
    screen = page.get(f"/sessions/{sid}")
    assert screen.status_code == 200 and "Check-in" in screen.text
    api.post(f"/api/v1/sessions/{sid}/check-in", json=CHECK_IN)
    check = page.post(
        f"/sessions/{sid}/rate/check",
        data={"rate": "72", "unit": "ml_h", "action": "start"},
        headers={"X-CSRF-Token": page.csrf, "HX-Request": "true"},
    )
    assert "SOFT" in check.text and "Reason for exceeding the soft limit" in check.text
    started = page.post(
        f"/sessions/{sid}/rate",
        data={"rate": "0.35", "unit": "mg_kg_h", "action": "start", "csrf_token": page.csrf},
    )
    assert started.status_code == 303
    live = page.post(
        f"/sessions/{sid}/observations",
        data={"sbp": "185", "dbp": "95", "hr": "80", "spo2": "97"},
        headers={"X-CSRF-Token": page.csrf, "HX-Request": "true"},
    )
    assert live.status_code == 200 and live.headers["HX-Trigger"] == "refresh-alerts" and "<svg" in live.text
    bad = page.post(
        f"/sessions/{sid}/observations",
        data={"spo2": "140"},
        headers={"X-CSRF-Token": page.csrf, "HX-Request": "true"},
    )
    assert "spo2" in bad.text and "impossible" in bad.text
    fragment = page.get(f"/sessions/{sid}/alerts")
    assert "Acknowledge" in fragment.text
    running = page.get(f"/sessions/{sid}")
    assert 'id="countdown"' in running.text and "data-due" in running.text
    wrong = page.post(f"/sessions/{sid}/lifecycle", data={"action": "resume", "csrf_token": page.csrf})
    assert wrong.status_code == 409 and "cannot resume" in wrong.text


def test_check_in_form_refuses_a_fractional_pain_score(
    api_client: Client,
    page_client: Callable[[str], TestClient],
    web_db: Database,
    web_staff: dict[str, Actor],
) -> None:
    sid = _new_session(api_client("nurse"), web_db, web_staff)
    nurse = page_client("nurse")
    form = {k: str(v) for k, v in CHECK_IN.items() if k != "premedication_none"}
    form |= {"nrs": "3.7", "premed_medication": "none", "csrf_token": nurse.csrf}
    answer = nurse.post(f"/sessions/{sid}/check-in", data=form)
    assert answer.status_code == 422
    assert "nrs" in answer.text
    form["nrs"] = "4"
    assert nurse.post(f"/sessions/{sid}/check-in", data=form).status_code == 303


def _running_session(api: TestClient, web_db: Database, web_staff: dict[str, Actor]) -> int:
    sid = _new_session(api, web_db, web_staff)
    assert api.post(f"/api/v1/sessions/{sid}/check-in", json=CHECK_IN).status_code == 200
    assert api.post(f"/api/v1/sessions/{sid}/start", json={"pump_ml_h": 24.5}).status_code == 200
    return sid


def test_vitals_chart_shows_a_single_reading(
    api_client: Client,
    page_client: Callable[[str], TestClient],
    web_db: Database,
    web_staff: dict[str, Actor],
) -> None:
    api = api_client("nurse")
    sid = _running_session(api, web_db, web_staff)
    nurse = page_client("nurse")
    assert "<title>Vital signs</title>" not in nurse.get(f"/sessions/{sid}").text  # baseline only: no panel
    api.post(f"/api/v1/sessions/{sid}/observations", json={"nrs": 5})
    assert "<title>Vital signs</title>" not in nurse.get(f"/sessions/{sid}").text  # no vital sign in it
    api.post(f"/api/v1/sessions/{sid}/observations", json={"sbp": 131, "hr": 77})
    vitals = nurse.get(f"/sessions/{sid}").text.split("<title>Vital signs</title>")[1].split("</svg>")[0]
    points = re.findall(r'<circle class="point"[^>]* fill="(#\w+)"><title>([^<]*)</title>', vitals)
    assert points == [(PALETTE[0], "SBP mmHg: 131 at 0 min"), (PALETTE[2], "HR /min: 77 at 0 min")]


def test_resume_from_the_page_at_a_new_rate_with_reasons(
    api_client: Client,
    page_client: Callable[[str], TestClient],
    web_db: Database,
    web_staff: dict[str, Actor],
) -> None:
    api = api_client("nurse")
    sid = _running_session(api, web_db, web_staff)
    nurse = page_client("nurse")
    csrf = nurse.csrf

    def lifecycle(action: str, **fields: str) -> str:
        answer = nurse.post(
            f"/sessions/{sid}/lifecycle", data={"action": action, "csrf_token": csrf, **fields}
        )
        return f"{answer.status_code} {answer.text}"

    assert lifecycle("pause").startswith("303")
    paused = nurse.get(f"/sessions/{sid}").text
    assert 'aria-label="New pump rate mL/h"' in paused and 'name="deviation_reason"' in paused
    assert "resume at 24.5 mL/h, the rate before the pause" in paused
    for bad, message in (
        ("abc", "Rate: &#39;abc&#39; is not a number"),
        ("1e999", "is not a number"),
        ("-3", "Pump rate: must be at least 0 mL/h; -3 mL/h was entered"),
        ("5000", "Pump rate: must be at most 1000 mL/h; 5000 mL/h was entered"),
    ):
        answer = lifecycle("resume", rate=bad)
        assert answer.startswith("422") and message in answer.split('id="page-error">')[1], bad
    soft = lifecycle("resume", rate="60", deviation_reason="pain uncontrolled")
    assert soft.startswith("422") and 'id="page-error">Soft-limit reason: soft limit:' in soft
    assert "give a reason to confirm" in soft
    deviation = lifecycle("resume", rate="20")
    assert deviation.startswith("422") and 'id="page-error">Plan deviation reason:' in deviation
    hard = lifecycle("resume", rate="150", limit_reason="order", deviation_reason="pain")
    assert hard.startswith("422") and 'id="page-error">Pump rate: refused, ' in hard
    zero = lifecycle("resume", rate="0")
    assert zero.startswith("422") and 'id="page-error">Rate: resume at a rate above zero' in zero
    assert api.get(f"/api/v1/sessions/{sid}").json()["state"] == "paused"  # nothing half-written

    assert lifecycle(
        "resume", rate=" 60 ", limit_reason="physician order", deviation_reason="pain"
    ).startswith("303")
    chart = api.get(f"/api/v1/sessions/{sid}").json()
    last = chart["segments"][-1]
    assert chart["state"] == "running" and last["kind"] == "resume" and last["pump_ml_h"] == 60
    assert (last["verdict"], last["limit_reason"], last["deviation_reason"]) == (
        "soft",
        "physician order",
        "pain",
    )
    with web_db.transaction() as session:
        reason = session.execute(
            select(AuditEvent.reason).where(AuditEvent.action == "resume", AuditEvent.entity_id == str(sid))
        ).scalar_one()
    assert reason == "limit: physician order; plan deviation: pain"

    # Blank fields: back to the rate before the pause, whose reasons still stand.
    assert lifecycle("pause").startswith("303")
    assert lifecycle("resume", rate="", limit_reason=" ", deviation_reason="").startswith("303")
    again = api.get(f"/api/v1/sessions/{sid}").json()["segments"][-1]
    assert (again["kind"], again["pump_ml_h"], again["limit_reason"]) == ("resume", 60, "physician order")
    # A blank rate with a reason: the same rate, the new reason in place of the earlier one.
    assert lifecycle("pause").startswith("303")
    assert lifecycle("resume", limit_reason="re-confirmed by Dr Jones").startswith("303")
    third = api.get(f"/api/v1/sessions/{sid}").json()["segments"][-1]
    assert (third["pump_ml_h"], third["limit_reason"]) == (60, "re-confirmed by Dr Jones")


def test_api_start_out_of_schedule_needs_start_reason(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    api = api_client("nurse")
    plan_id = approved_plan(web_db, web_staff)
    sid = api.post("/api/v1/sessions", json={"plan_id": plan_id, "session_number": 2}).json()[
        "id"
    ]  # tomorrow
    base = f"/api/v1/sessions/{sid}"
    assert api.post(f"{base}/check-in", json=CHECK_IN).status_code == 200
    refused = api.post(f"{base}/start", json={"rate_mg_kg_h": 0.35})
    assert refused.status_code == 409 and refused.json()["field"] == "start_reason"
    assert "before its planned date" in refused.json()["detail"]
    started = api.post(f"{base}/start", json={"rate_mg_kg_h": 0.35, "start_reason": "moved up a day"})
    assert started.json()["state"] == "running" and api.get(base).json()["start_reason"] == "moved up a day"
