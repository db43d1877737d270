"""Course screens over HTTP: approval opens the course on the patient page; opening by hand; issuing links."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from ketaclinic.services.outcomes.courses import CourseIn, list_courses, start_course
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests import factories
from tests.services.test_outcomes_service import make_patient, treated

Client = Callable[[str | None], TestClient]
Pages = Callable[[str], TestClient]


def test_an_approval_through_the_api_shows_the_course_on_the_patient_page(
    api_client: Client, page_client: Pages, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    plan = factories.draft_plan(web_db, web_staff, mrn="W1")
    approved = api_client("physician").post(f"/api/v1/plans/{plan.id}/approve")
    assert approved.status_code == 200, approved.text
    (course,) = api_client("nurse").get(f"/api/v1/patients/{plan.patient_id}/courses").json()
    assert course["plan_id"] == plan.id and course["series_end"] is None
    page = page_client("nurse").get(f"/patients/{plan.patient_id}")
    assert page.status_code == 200
    section = page.text.split('id="patient-course"', 1)[1].split("</section>", 1)[0]
    assert f'href="/courses/{course["id"]}"' in section and 'id="course-open"' in section
    planned = re.findall(r'<tr data-state="planned">', section)
    assert len(planned) == plan.session_count  # every planned session, none given yet
    assert 'action="/courses/' in section and 'name="reason"' in section  # the end form


def test_the_course_section_is_for_the_clinical_roles_that_record_outcomes(
    page_client: Pages, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    pid = make_patient(web_db, web_staff["nurse"], "W2")
    page = page_client("physician").get(f"/patients/{pid}")
    assert 'id="no-course"' in page.text and f'href="/patients/{pid}/courses/new"' in page.text
    assert page_client("researcher").get(f"/patients/{pid}/courses/new").status_code == 403
    assert page_client("admin").get(f"/patients/{pid}/courses/new").status_code == 403


def test_opening_a_course_by_hand(page_client: Pages, web_db: Database, web_staff: dict[str, Actor]) -> None:
    pid = make_patient(web_db, web_staff["nurse"], "W3")
    nurse = page_client("nurse")
    form = nurse.get(f"/patients/{pid}/courses/new")
    assert form.status_code == 200 and 'name="started_on"' in form.text
    started = (date.today() - timedelta(days=2)).isoformat()
    body = {"csrf_token": nurse.csrf, "started_on": started, "sessions_planned": "4", "plan_id": ""}
    opened = nurse.post(f"/patients/{pid}/courses", data=body, follow_redirects=False)
    assert opened.status_code == 303
    (course,) = list_courses(web_db, web_staff["nurse"], pid)
    assert opened.headers["location"] == f"/courses/{course.id}" and course.sessions_planned == 4
    again = nurse.post(f"/patients/{pid}/courses", data=body, follow_redirects=False)  # a double click
    assert again.status_code == 303 and again.headers["location"] == f"/courses/{course.id}"
    other = nurse.post(f"/patients/{pid}/courses", data={**body, "started_on": date.today().isoformat()})
    assert other.status_code == 409 and f"course {course.id}" in other.text
    assert len(list_courses(web_db, web_staff["nurse"], pid)) == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"started_on": ""}, "started_on"),
        ({"started_on": "yesterday"}, "started_on"),
        ({"started_on": "2026-01-01", "sessions_planned": "0"}, "sessions_planned"),
        ({"started_on": "2026-01-01", "plan_id": "9999"}, "plan_id"),
    ],
)
def test_a_bad_open_form_comes_back_naming_the_field(
    page_client: Pages, web_db: Database, web_staff: dict[str, Actor], fields: dict[str, str], field: str
) -> None:
    pid = make_patient(web_db, web_staff["nurse"], "W4")
    nurse = page_client("nurse")
    answer = nurse.post(f"/patients/{pid}/courses", data={"csrf_token": nurse.csrf, **fields})
    assert answer.status_code in (404, 422) and 'id="open-course-problem"' in answer.text
    assert f'name="{field}"' in answer.text.split('id="open-course-problem"', 1)[1]
    assert list_courses(web_db, web_staff["nurse"], pid) == []


def _link_of(text: str) -> str:
    match = re.search(r'id="link-url" type="text" readonly value="[^"]*(/r/[^"]+)"', text)
    assert match, "no link shown"
    return match.group(1)


def test_issuing_again_from_the_course_page_revokes_the_earlier_link(
    page_client: Pages, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    course = treated(web_db, web_staff["nurse"], "W5", 8, {}, series_end=date.today() - timedelta(days=8))
    item = next(f for f in course.followups if f.weeks_after_series == 1)
    nurse = page_client("nurse")
    body = {"csrf_token": nurse.csrf, "followup_item_id": str(item.id)}
    first = nurse.post(f"/courses/{course.id}/links", data=body)
    assert first.status_code == 200 and "Re-issue link" in first.text
    second = nurse.post(f"/courses/{course.id}/links", data=body)
    old, new = _link_of(first.text), _link_of(second.text)
    assert old != new
    gone = nurse.get(old)
    assert gone.status_code == 410 and "no longer valid" in gone.text
    assert nurse.get(new).status_code == 200
    listed = nurse.get("/followup").text
    row = listed.split(f'<td><a href="/courses/{course.id}">week 1 after series', 1)[1].split("</tr>", 1)[0]
    assert "UTC" in row and "Re-issue link" in row


def test_a_link_for_an_item_of_another_course_or_an_answered_one_is_refused(
    page_client: Pages, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    course = treated(web_db, web_staff["nurse"], "W6", 8, {1: 3}, series_end=date.today() - timedelta(days=8))
    other = start_course(
        web_db,
        web_staff["nurse"],
        make_patient(web_db, web_staff["nurse"], "W7"),
        CourseIn(started_on=date.today()),
    )
    answered = next(f for f in course.followups if f.weeks_after_series == 1)
    open_item = next(f for f in course.followups if f.weeks_after_series == 2)
    nurse = page_client("nurse")
    elsewhere = nurse.post(
        f"/courses/{other.id}/links", data={"csrf_token": nurse.csrf, "followup_item_id": str(open_item.id)}
    )
    assert elsewhere.status_code == 404
    done = nurse.post(
        f"/courses/{course.id}/links", data={"csrf_token": nurse.csrf, "followup_item_id": str(answered.id)}
    )
    assert done.status_code == 409 and 'id="link-problem"' in done.text and "already completed" in done.text
    researcher = page_client("researcher")
    refused = researcher.post(
        f"/courses/{course.id}/links",
        data={"csrf_token": researcher.csrf, "followup_item_id": str(open_item.id)},
    )
    assert refused.status_code == 403


def test_the_patient_page_shows_the_open_course_before_an_older_record(
    page_client: Pages, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    pid = make_patient(web_db, web_staff["nurse"], "W8")
    nurse = web_staff["nurse"]
    current = start_course(web_db, nurse, pid, CourseIn(started_on=date.today() - timedelta(days=3)))
    past = date.today() - timedelta(days=200)
    older = start_course(web_db, nurse, pid, CourseIn(started_on=past, series_end=past + timedelta(days=14)))
    page = page_client("nurse").get(f"/patients/{pid}").text
    assert f'id="course-page-link">Course #{current.id} page' in page
    earlier = page.split('id="earlier-courses"', 1)[1].split("</ul>", 1)[0]
    assert f"Course #{older.id}" in earlier and f"ended {older.series_end}" in earlier
