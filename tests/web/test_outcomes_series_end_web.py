"""Recording a series end over HTTP: the API (reschedule, 422/403/404) and the course page form."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ketaclinic.services.outcomes.courses import CourseIn, CourseOut, start_course
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.services.test_outcomes_service import make_patient, treated

Client = Callable[[str | None], TestClient]
WEEKS = [1, 2, 4, 8, 12]


@pytest.fixture
def open_course(web_db: Database, web_staff: dict[str, Actor]) -> CourseOut:
    """A course started three weeks ago without a series end (so nothing is scheduled)."""
    pid = make_patient(web_db, web_staff["nurse"], "S1")
    return start_course(
        web_db, web_staff["nurse"], pid, CourseIn(started_on=date.today() - timedelta(days=21))
    )


def _url(course_id: int) -> str:
    return f"/api/v1/courses/{course_id}/series-end"


def test_api_schedules_the_follow_ups(api_client: Client, open_course: CourseOut) -> None:
    end = date.today() - timedelta(days=7)
    answer = api_client("nurse").post(
        _url(open_course.id), json={"version": 1, "series_end": end.isoformat()}
    )
    assert answer.status_code == 200, answer.text
    course = answer.json()
    assert course["series_end"] == end.isoformat() and course["patient"] == "Doe, Jane (S1)"
    assert [f["weeks_after_series"] for f in course["followups"]] == WEEKS
    week1 = course["followups"][0]
    assert week1["due_on"] == (end + timedelta(weeks=1)).isoformat() and week1["status"] == "due"
    due = api_client("nurse").get("/api/v1/outcomes/due").json()
    assert week1["id"] in [f["id"] for f in due]


def test_api_reschedules_and_keeps_answered_items(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    old_end = date.today() - timedelta(weeks=5)
    course = treated(web_db, web_staff["nurse"], "S2", 8, {1: 3, 4: 2}, series_end=old_end)
    new_end = old_end + timedelta(days=2)
    answer = api_client("physician").post(
        _url(course.id),
        json={
            "version": course.version,
            "series_end": new_end.isoformat(),
            "session_dates": [(new_end - timedelta(days=7)).isoformat()],
        },
    )
    assert answer.status_code == 200, answer.text
    after = {f["weeks_after_series"]: f for f in answer.json()["followups"] if f["kind"] == "after_series"}
    assert sorted(after) == WEEKS  # each week once
    for week in (1, 4):
        assert after[week]["status"] == "completed"
        assert after[week]["due_on"] == (old_end + timedelta(weeks=week)).isoformat()
    for week in (2, 8, 12):
        assert after[week]["status"] == "due"
        assert after[week]["due_on"] == (new_end + timedelta(weeks=week)).isoformat()
    checks = [f for f in answer.json()["followups"] if f["kind"] == "after_session"]
    assert [c["due_on"] for c in checks] == [(new_end - timedelta(days=6)).isoformat()]


@pytest.mark.parametrize(
    "body",
    [
        {"series_end": "2026-02-30"},
        {"series_end": "next tuesday"},
        {},
        {"series_end": (date.today() + timedelta(days=60)).isoformat()},
        {"series_end": (date.today() - timedelta(days=400)).isoformat()},  # before the course started
        {"series_end": date.today().isoformat(), "session_dates": ["2026-13-01"]},
    ],
)
def test_api_bad_date_is_422_naming_the_field(
    api_client: Client, open_course: CourseOut, body: dict[str, Any]
) -> None:
    answer = api_client("nurse").post(_url(open_course.id), json={"version": 1, **body})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"].split(".")[0] == (
        "session_dates" if "session_dates" in body else "series_end"
    )


def test_api_roles_and_unknown_course(api_client: Client, open_course: CourseOut) -> None:
    body = {"version": 1, "series_end": date.today().isoformat()}
    for role in ("researcher", "admin"):
        assert api_client(role).post(_url(open_course.id), json=body).status_code == 403
    assert api_client(None).post(_url(open_course.id), json=body).status_code == 401
    unknown = api_client("nurse").post(_url(9999), json=body)
    assert unknown.status_code == 404 and unknown.json()["field"] == "course_id"


def test_course_page_form_records_the_series_end(
    page_client: Callable[[str], TestClient], open_course: CourseOut
) -> None:
    nurse = page_client("nurse")
    listed = nurse.get("/followup")
    assert listed.status_code == 200 and f'href="/courses/{open_course.id}"' in listed.text
    page = nurse.get(f"/courses/{open_course.id}")
    assert page.status_code == 200
    assert "Record the series end" in page.text and 'name="series_end"' in page.text
    end = date.today() - timedelta(days=1)
    saved = nurse.post(
        f"/courses/{open_course.id}/series-end",
        data={"csrf_token": nurse.csrf, "version": "1", "series_end": end.isoformat()},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/courses/{open_course.id}?recorded=1"
    shown = nurse.get(saved.headers["location"])
    assert "Series end recorded" in shown.text and "week 12 after series" in shown.text
    assert (end + timedelta(weeks=12)).isoformat() in shown.text
    assert "Every running course has its series end recorded" in nurse.get("/followup").text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "give the date of the last session"),
        ("30/01/2026", "is not a date"),
        ((date.today() + timedelta(days=30)).isoformat(), "in the future"),
        ((date.today() - timedelta(days=300)).isoformat(), "before the course started"),
    ],
)
def test_course_page_shows_a_bad_date_next_to_the_field(
    page_client: Callable[[str], TestClient], open_course: CourseOut, value: str, message: str
) -> None:
    nurse = page_client("nurse")
    answer = nurse.post(
        f"/courses/{open_course.id}/series-end",
        data={"csrf_token": nurse.csrf, "version": "1", "series_end": value},
    )
    assert answer.status_code == 422
    assert 'id="series-end-error"' in answer.text and message in answer.text
    assert 'aria-invalid="true"' in answer.text and f'value="{value}"' in answer.text
    assert "not recorded" in answer.text  # nothing was written


def test_course_page_roles_csrf_and_unknown(
    page_client: Callable[[str], TestClient], open_course: CourseOut
) -> None:
    researcher = page_client("researcher")
    assert researcher.get(f"/courses/{open_course.id}").status_code == 403
    refused = researcher.post(
        f"/courses/{open_course.id}/series-end",
        data={"csrf_token": researcher.csrf, "series_end": date.today().isoformat()},
    )
    assert refused.status_code == 403
    nurse = page_client("nurse")
    stale = nurse.post(
        f"/courses/{open_course.id}/series-end", data={"csrf_token": "forged", "series_end": "2026-01-01"}
    )
    assert stale.status_code == 403
    assert nurse.get("/courses/9999").status_code == 404
    assert (
        nurse.post(
            "/courses/9999/series-end",
            data={"csrf_token": nurse.csrf, "version": "1", "series_end": date.today().isoformat()},
        ).status_code
        == 404
    )
