"""Outcomes and analytics over HTTP: roles, 4xx, the /r/ link (expiry, reuse), import, exports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ketaclinic.services.outcomes.courses import CourseOut
from ketaclinic.services.outcomes.links import LinkIn, issue_link
from ketaclinic.services.outcomes.pros import list_pros
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.tables.outcomes import ProLink
from tests.conftest import without_random_tokens
from tests.services.test_outcomes_service import treated

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cohorts" / "valle2024_reconstructed.csv"
Client = Callable[[str | None], TestClient]
Clinic = dict[str, CourseOut]


@pytest.fixture
def clinic(web_db: Database, web_staff: dict[str, Actor]) -> dict[str, CourseOut]:
    nurse = web_staff["nurse"]
    return {
        "tn": treated(web_db, nurse, "W1", 8, {1: 2, 12: 3}),
        "afp": treated(web_db, nurse, "W2", 7, {12: 6}, code="G50.1", mechanism="nociplastic"),
        "open": treated(web_db, nurse, "W3", 8, {}, series_end=date.today() - timedelta(days=8)),
    }


def _actions(db: Database, action: str) -> list[AuditEvent]:
    with db.transaction() as session:
        return list(session.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


def test_record_pro_api_and_422_naming_the_item(api_client: Client, clinic: Clinic) -> None:
    pid = clinic["tn"].patient_id
    ok = api_client("nurse").post(
        f"/api/v1/patients/{pid}/outcomes", json={"nrs": {"now": 4}, "gad7": [0] * 7}
    )
    assert ok.status_code == 201 and ok.json()["scores"]["gad7"]["loinc"] == "70274-6"
    bad = api_client("nurse").post(
        f"/api/v1/patients/{pid}/outcomes", json={"phq9": [0, 0, 0, 0, 5, 0, 0, 0, 0]}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "phq9.item5"
    assert (
        api_client("researcher")
        .post(f"/api/v1/patients/{pid}/outcomes", json={"nrs": {"now": 4}})
        .status_code
        == 403
    )
    assert (
        api_client(None).post(f"/api/v1/patients/{pid}/outcomes", json={"nrs": {"now": 4}}).status_code == 401
    )
    assert (
        api_client("nurse").post("/api/v1/patients/9999/outcomes", json={"nrs": {"now": 4}}).status_code
        == 404
    )


def test_due_list_and_links_api(api_client: Client, clinic: Clinic) -> None:
    due = api_client("nurse").get("/api/v1/outcomes/due")
    assert due.status_code == 200
    item = next(f for f in due.json() if f["weeks_after_series"] == 1)
    assert item["overdue"] and item["patient"] == "Doe, Jane (W3)"
    link = api_client("nurse").post("/api/v1/outcomes/links", json={"followup_item_id": item["id"]})
    assert link.status_code == 201 and link.json()["path"].startswith("/r/")
    assert (
        api_client("nurse").post("/api/v1/outcomes/links", json={"followup_item_id": 999}).status_code == 404
    )
    assert (
        api_client("nurse")
        .post("/api/v1/outcomes/links", json={"followup_item_id": item["id"], "ttl_days": 99})
        .status_code
        == 422
    )
    assert api_client("researcher").get("/api/v1/outcomes/due").status_code == 403


def test_discontinuation_is_physician_only(api_client: Client, clinic: Clinic) -> None:
    url = f"/api/v1/courses/{clinic['afp'].id}/discontinuation"
    body = {
        "version": clinic["afp"].version,
        "discontinued": "lack_of_effect",
        "reason": "no relief after 3 sessions",
    }
    assert api_client("nurse").post(url, json=body).status_code == 403
    assert api_client("physician").post(url, json={**body, "discontinued": "boredom"}).status_code == 422
    done = api_client("physician").post(url, json=body)
    assert done.status_code == 200 and done.json()["discontinued"] == "lack_of_effect"


def test_patient_link_once_then_gone(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor], clinic: Clinic
) -> None:
    item = next(f for f in clinic["open"].followups if f.weeks_after_series == 1)
    token = issue_link(web_db, web_staff["nurse"], LinkIn(followup_item_id=item.id)).token
    anonymous = api_client(None)
    page = anonymous.get(f"/r/{token}")
    assert page.status_code == 200
    shown = without_random_tokens(page.text)  # the link's own token is on the page
    assert "Hello Jane" in shown and "Doe" not in shown and "W3" not in shown
    assert "Follow-up" not in page.text and "Log out" not in page.text  # nothing but the questionnaire
    bad = anonymous.post(f"/r/{token}", data={"nrs_average": "3", "phq9_1": "1"})
    assert bad.status_code == 422 and "phq9.item2" in bad.text
    answers = {"nrs_now": "3", "nrs_average": "3", "nrs_worst": "5", "nrs_least": "1", "pgic": "2"}
    answers |= {f"phq9_{i}": "1" for i in range(1, 10)} | {f"gad7_{i}": "0" for i in range(1, 8)}
    answers |= {"bpi_mood": "2", "bpi_sleep": "3", "bpi_walking_ability": "1", "bpi_normal_work": "2"}
    done = anonymous.post(f"/r/{token}", data=answers)
    assert done.status_code == 200 and "Thank you, Jane" in done.text
    pro = list_pros(web_db, web_staff["nurse"], item.patient_id)[-1]
    assert pro.via == "link" and pro.scores["phq9"]["total"] == 9 and pro.scores["bpi"]["severity"] == 3.0
    assert anonymous.get(f"/r/{token}").status_code == 410
    assert anonymous.post(f"/r/{token}", data=answers).status_code == 410
    assert anonymous.get("/r/not-a-real-token-at-all-xx").status_code == 404
    assert anonymous.get("/r/x").status_code == 404


def test_expired_link_is_410(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor], clinic: Clinic
) -> None:
    item = next(f for f in clinic["open"].followups if f.weeks_after_series == 1)
    token = issue_link(web_db, web_staff["nurse"], LinkIn(followup_item_id=item.id)).token
    with web_db.transaction() as session:
        session.execute(select(ProLink)).scalar_one().expires_at = datetime.now(UTC) - timedelta(seconds=1)
    answer = api_client(None).get(f"/r/{token}")
    assert answer.status_code == 410 and "expired" in answer.text


def test_followup_page_issues_link(page_client: Callable[[str], TestClient], clinic: Clinic) -> None:
    nurse = page_client("nurse")
    page = nurse.get("/followup")
    assert page.status_code == 200 and "overdue" in page.text
    item = next(f for f in clinic["open"].followups if f.weeks_after_series == 1)
    issued = nurse.post(f"/followup/{item.id}/link", data={"csrf_token": nurse.csrf})
    assert issued.status_code == 200 and "/r/" in issued.text and "One-time link issued" in issued.text
    assert page_client("researcher").get("/followup").status_code == 403


def test_cohort_import_api(api_client: Client, web_db: Database) -> None:
    bad = "patient_id,diagnosis,pain_mechanism,baseline_nrs,followup_nrs,discontinued,"
    bad += "relief_weeks,relief_ongoing\n"
    bad += "A,G50.0,neuropathic,12,3,none,,\nB,G50.0,sideways,8,3,none,,\n"
    refused = api_client("researcher").post(
        "/api/v1/cohorts/import", files={"file": ("bad.csv", bad, "text/csv")}
    )
    assert refused.status_code == 422
    assert [(e["row"], e["column"]) for e in refused.json()["errors"]] == [
        (2, "baseline_nrs"),
        (3, "pain_mechanism"),
    ]
    assert (
        api_client("nurse")
        .post("/api/v1/cohorts/import", files={"file": ("x.csv", bad, "text/csv")})
        .status_code
        == 403
    )
    ok = api_client("researcher").post(
        "/api/v1/cohorts/import",
        files={"file": ("valle.csv", FIXTURE.read_bytes(), "text/csv")},
        data={"name": "valle"},
    )
    assert ok.status_code == 201 and ok.json() == {
        "name": "valle",
        "n": 45,
        "synthetic": True,
        "source": ok.json()["source"],
    }
    again = api_client("researcher").post(
        "/api/v1/cohorts/import", files={"file": ("valle.csv", FIXTURE.read_bytes())}, data={"name": "valle"}
    )
    assert again.status_code == 409
    report = api_client("researcher").get(
        "/api/v1/analytics/cohort", params={"cohort": "valle", "compare": "mechanism:neuropathic,nociplastic"}
    )
    assert report.status_code == 200 and report.json()["n"] == 45 and report.json()["responders"] == 23
    assert _actions(web_db, "import")[0].entity == "cohort"


def test_analytics_api_and_dashboard_deidentified(
    api_client: Client,
    page_client: Callable[[str], TestClient],
    web_db: Database,
    clinic: Clinic,
) -> None:
    report = api_client("physician").get("/api/v1/analytics/cohort", params={"definition": "immpact30"})
    assert (
        report.status_code == 200
        and report.json()["n"] == 2  # the course still in follow-up is not evaluable yet
        and report.json()["definition"]["id"] == "immpact30"
    )
    assert (
        api_client("physician").get("/api/v1/analytics/cohort", params={"definition": "nope"}).status_code
        == 404
    )
    assert (
        api_client("physician").get("/api/v1/analytics/cohort", params={"compare": "colour:red"}).status_code
        == 422
    )
    assert api_client("nurse").get("/api/v1/analytics/cohort").status_code == 403
    assert _actions(web_db, "export")
    researcher = page_client("researcher")
    page = researcher.get("/analytics")
    assert page.status_code == 200 and "Responders" in page.text and "<svg" in page.text
    text = without_random_tokens(page.text)
    for identity in ("Jane", "Doe", "W1", "W2", "1970-05-01"):
        assert identity not in text
    csv_export = researcher.get("/analytics/export.csv")
    assert csv_export.status_code == 200 and csv_export.text.splitlines()[2].startswith("breakdown,group")
    assert researcher.get("/analytics/export.xml").status_code == 422
    full = researcher.get("/analytics/report")
    assert full.status_code == 200 and "Jane" not in full.text
    assert page_client("nurse").get("/analytics").status_code == 403


def test_dashboard_without_data_and_synthetic_banner(
    page_client: Callable[[str], TestClient], web_db: Database, web_staff: dict[str, Actor]
) -> None:
    empty = page_client("physician").get("/analytics")
    assert empty.status_code == 200 and "no evaluable treatment courses" in empty.text
    from ketaclinic.outcomes import read_cohort_csv
    from ketaclinic.services.outcomes.cohort import import_cohort

    import_cohort(web_db, web_staff["physician"], read_cohort_csv(FIXTURE), name="valle")
    page = page_client("physician").get(
        "/analytics", params={"cohort": "valle", "compare": "mechanism:neuropathic,nociplastic"}
    )
    assert "SYNTHETIC DATA" in page.text and "Fisher" in page.text


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({f"phq9_{i}": "nan" for i in range(1, 10)}, "phq9_1"),
        ({"pgic": "inf"}, "pgic"),
        ({"pgic": "1e400"}, "pgic"),
        ({f"phq9_{i}": "1.5" for i in range(1, 10)}, "phq9.item1"),
        ({"pgic": "2.5"}, "pgic"),
    ],
)
def test_link_answers_not_a_number_or_a_fraction_are_422_never_500_or_truncated(
    api_client: Client,
    web_db: Database,
    web_staff: dict[str, Actor],
    clinic: Clinic,
    answers: dict[str, Any],
    field: str,
) -> None:
    item = next(f for f in clinic["open"].followups if f.weeks_after_series == 1)
    token = issue_link(web_db, web_staff["nurse"], LinkIn(followup_item_id=item.id)).token
    answer = api_client(None).post(f"/r/{token}", data=answers)
    assert answer.status_code == 422 and field in answer.text
    assert all(p.via != "link" for p in list_pros(web_db, web_staff["nurse"], item.patient_id))
