"""The patient link over JSON (POST /api/v1/r/{token}), the self-harm alert over HTTP, the outcomes shown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ketaclinic.services.outcomes.courses import CourseOut
from ketaclinic.services.outcomes.links import LinkIn, issue_link
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import ProLink
from tests.services.test_outcomes_service import treated

Client = Callable[[str | None], TestClient]
SELF_HARM = [0, 1, 0, 0, 0, 0, 0, 0, 2]
ANSWERS: dict[str, Any] = {
    "nrs": {"now": 3, "average": 4, "worst": 6},
    "pgic": 2,
    "bpi": {"severity": {"worst": 6, "least": 2, "average": 4, "now": 3}, "interference": {"mood": 3}},
    "phq9": SELF_HARM,
    "gad7": [1, 0, 0, 0, 0, 0, 0],
}


@pytest.fixture
def course(web_db: Database, web_staff: dict[str, Actor]) -> CourseOut:
    return treated(web_db, web_staff["nurse"], "J1", 8, {}, series_end=date.today() - timedelta(days=8))


def _token(web_db: Database, web_staff: dict[str, Actor], course: CourseOut, week: int = 1) -> str:
    item = next(f for f in course.followups if f.weeks_after_series == week)
    return issue_link(web_db, web_staff["nurse"], LinkIn(followup_item_id=item.id)).token


def test_json_answers_are_stored_once_raise_the_alert_and_return_the_crisis_text(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor], course: CourseOut
) -> None:
    token = _token(web_db, web_staff, course)
    patient = api_client(None)
    done = patient.post(f"/api/v1/r/{token}", json=ANSWERS)
    assert done.status_code == 201, done.text
    body = done.json()
    assert set(body) == {"received_at", "crisis"} and "emergency" in " ".join(body["crisis"]["paragraphs"])
    again = patient.post(f"/api/v1/r/{token}", json=ANSWERS)
    assert again.status_code == 410 and again.json()["detail"] == "this link has already been used"
    assert patient.post(f"/r/{token}", data={"nrs_average": "3"}).status_code == 410  # the form agrees
    assert patient.post("/api/v1/r/not-a-real-token-at-all-xx", json=ANSWERS).status_code == 404

    pid = course.patient_id
    (pro,) = [
        p for p in api_client("nurse").get(f"/api/v1/patients/{pid}/outcomes").json() if p["via"] == "link"
    ]
    assert pro["answers"] == {
        "nrs": {"recall": "24h", "now": 3, "average": 4, "worst": 6},
        "pgic": 2,
        "bpi": ANSWERS["bpi"] | {"interference": {"mood": 3}},
        "phq9": SELF_HARM,
        "gad7": ANSWERS["gad7"],
    }
    assert pro["scores"]["phq9"]["total"] == 3 and pro["scores"]["phq9"]["band"] == "minimal"

    (alert,) = api_client("physician").get("/api/v1/alerts?status=open").json()
    assert (alert["patient_id"], alert["session_id"], alert["group"]) == (pid, None, "mental_health")
    assert alert["rule_key"] == "phq9_item9_self_harm" and alert["severity"] == "critical"
    assert api_client("nurse").get(f"/api/v1/patients/{pid}/alerts").json()[0]["id"] == alert["id"]
    ack = f"/api/v1/patients/{pid}/alerts/{alert['id']}/ack"
    assert api_client("nurse").post(ack, json={"action": "patient_assessed"}).status_code == 403
    wrong = api_client("physician").post(ack, json={"action": "pause"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "action"
    assert api_client("physician").post(ack, json={"action": "teleport"}).json()["field"] == "action"
    ok = api_client("physician").post(ack, json={"action": "patient_assessed", "note": "phoned, safe"})
    assert ok.status_code == 200 and ok.json()["action_taken"] == "patient_assessed"
    assert api_client("physician").post(ack, json={"action": "patient_assessed"}).status_code == 409
    assert api_client("physician").get("/api/v1/alerts?status=open").json() == []


def test_json_link_without_self_harm_has_no_crisis_text(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor], course: CourseOut
) -> None:
    token = _token(web_db, web_staff, course)
    done = api_client(None).post(f"/api/v1/r/{token}", json={"nrs": {"average": 2}, "phq9": [2] * 8 + [0]})
    assert done.status_code == 201 and done.json()["crisis"] is None
    assert api_client("physician").get("/api/v1/alerts?status=open").json() == []


def test_an_expired_link_is_410_over_json(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor], course: CourseOut
) -> None:
    token = _token(web_db, web_staff, course)
    with web_db.transaction() as session:
        session.execute(select(ProLink)).scalar_one().expires_at = datetime.now(UTC) - timedelta(seconds=1)
    answer = api_client(None).post(f"/api/v1/r/{token}", json=ANSWERS)
    assert answer.status_code == 410 and answer.json()["detail"] == "this link has expired"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"nrs": {"now": 11}}, "nrs.now"),
        ({"nrs": {"average": "a lot"}}, "nrs.average"),
        ({"nrs": {"recall": "1y", "now": 2}}, "nrs.recall"),
        ({"nrs": {}}, "nrs"),
        ({"pgic": 8}, "pgic"),
        ({"pgic": 2.5}, "pgic"),
        ({"bpi": {"severity": {"worst": 12, "least": 1, "average": 2, "now": 2}}}, "bpi.severity.worst"),
        ({"bpi": {"interference": {"appetite": 2}}}, "bpi.interference"),
        ({"phq9": [0] * 8}, "phq9"),
        ({"phq9": [0, 0, 0, 0, 4, 0, 0, 0, 0]}, "phq9.item5"),
        ({"phq9": [0, 0, 0, 0, 0, 0, 0, 0, "x"]}, "phq9.8"),
        ({"gad7": [0, 0, -1, 0, 0, 0, 0]}, "gad7.item3"),
        ({"gad7": [0] * 8}, "gad7"),
        ({"phq9": [0] * 9, "mood": "fine"}, "mood"),
        ({}, "nrs"),
    ],
)
def test_each_malformed_field_is_422_naming_it_and_leaves_the_link_usable(
    api_client: Client,
    web_db: Database,
    web_staff: dict[str, Actor],
    course: CourseOut,
    body: dict[str, Any],
    field: str,
) -> None:
    token = _token(web_db, web_staff, course)
    patient = api_client(None)
    bad = patient.post(f"/api/v1/r/{token}", json=body)
    assert bad.status_code == 422 and bad.json()["field"] == field, bad.text
    assert patient.post(f"/api/v1/r/{token}", json={"nrs": {"average": 3}}).status_code == 201


def test_the_questionnaire_shows_nothing_internal_and_the_form_thanks_with_the_crisis_text(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor], course: CourseOut
) -> None:
    token = _token(web_db, web_staff, course)
    patient = api_client(None)
    page = patient.get(f"/r/{token}").text
    for internal in (
        "LOINC",
        "44261-6",
        "72514-3",
        "not a substitute for clinical judgement",
        "ketaclinic 0",
    ):
        assert internal not in page
    form = {"nrs_average": "4"} | {f"phq9_{i}": str(v) for i, v in enumerate(SELF_HARM, start=1)}
    thanks = patient.post(f"/r/{token}", data=form)
    assert thanks.status_code == 200 and 'id="crisis-text"' in thanks.text
    assert "emergency" in thanks.text and "not a substitute" not in thanks.text
    calm = patient.post(f"/r/{_token(web_db, web_staff, course, 2)}", data={"nrs_average": "4"})
    assert calm.status_code == 200 and 'id="crisis-text"' not in calm.text


def test_the_patient_page_outcomes_show_each_answer_the_plot_and_the_alert(
    api_client: Client,
    page_client: Callable[[str], TestClient],
    web_db: Database,
    web_staff: dict[str, Actor],
    course: CourseOut,
) -> None:
    api_client(None).post(f"/api/v1/r/{_token(web_db, web_staff, course)}", json=ANSWERS)
    pid = course.patient_id
    record = page_client("physician").get(f"/patients/{pid}")
    assert f'hx-get="/patients/{pid}/outcomes"' in record.text
    section = page_client("physician").get(f"/patients/{pid}/outcomes")
    assert section.status_code == 200
    html = section.text
    assert "<svg" in html and "Pain NRS over time" in html and "responder 4" in html and "baseline 8" in html
    assert 'class="flagged">2</li>' in html and "much improved" in html and "minimal" in html
    assert "phq9_item9_self_harm" in html and 'name="action"' in html
    assert 'name="action"' not in page_client("nurse").get(f"/patients/{pid}/outcomes").text
    assert page_client("researcher").get(f"/patients/{pid}/outcomes").status_code == 403
    (alert,) = api_client("physician").get(f"/api/v1/patients/{pid}/alerts").json()
    physician = page_client("physician")
    url = f"/patients/{pid}/alerts/{alert['id']}/ack"
    wrong = physician.post(url, data={"action": "stop", "csrf_token": physician.csrf})
    assert wrong.status_code == 200 and "is not an action for this alert" in wrong.text
    # No action preselected: the physician picks one; without it nothing is recorded and the note stays.
    assert '<option value="">choose the action taken…</option>' in html and "selected" not in html
    unpicked = physician.post(url, data={"action": "", "note": "crisis team", "csrf_token": physician.csrf})
    assert unpicked.status_code == 200 and "action: choose the action taken" in unpicked.text
    assert 'value="crisis team"' in unpicked.text and 'data-state="open"' in unpicked.text
    too_long = {"action": "referred_urgently", "note": "x" * 2001, "csrf_token": physician.csrf}
    assert '<option value="referred_urgently" selected>' in physician.post(url, data=too_long).text
    acked = physician.post(
        url, data={"action": "referred_urgently", "note": "crisis team", "csrf_token": physician.csrf}
    )
    assert acked.status_code == 200 and "Referred for urgent mental health assessment" in acked.text
    assert acked.headers.get("HX-Trigger") == "refresh-alerts" and "HX-Trigger" not in unpicked.headers
    assert "crisis team" in acked.text and 'name="action"' not in acked.text
    again = physician.post(url, data={"action": "referred_urgently", "csrf_token": physician.csrf})
    assert again.status_code == 200 and "Acknowledged by physician" in again.text
