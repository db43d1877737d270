"""Stale edits at the edges: the API answers 409 naming the fields changed since, 422 without a version;
the edit form comes back with the typed values kept and the stored ones beside the changed fields."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ketaclinic.services.outcomes import courses
from ketaclinic.services.permissions import Actor
from ketaclinic.services.screening import screenings
from ketaclinic.store.db import Database
from tests.factories import draft_plan
from tests.screening.screening_samples import eligible_tn

PATIENT: dict[str, Any] = {
    "mrn": "V-100",
    "family_name": "Doe",
    "given_name": "Jane",
    "birth_date": "1970-01-01",
    "sex": "female",
    "diagnoses": ["G50.0"],
    "notes": "no known allergies",
}


@pytest.fixture
def nurse(api_client: Callable[[str | None], TestClient]) -> TestClient:
    return api_client("nurse")


@pytest.fixture
def physician(api_client: Callable[[str | None], TestClient]) -> TestClient:
    return api_client("physician")


def test_the_patient_api_output_carries_its_version(nurse: TestClient) -> None:
    created = nurse.post("/api/v1/patients", json=PATIENT).json()
    assert created["version"] == 1
    listed = nurse.get("/api/v1/patients").json()["items"]
    assert [p["version"] for p in listed] == [1]


def test_a_stale_patch_is_a_409_problem_naming_the_fields_changed_since(
    nurse: TestClient, physician: TestClient
) -> None:
    patient_id = nurse.post("/api/v1/patients", json=PATIENT).json()["id"]
    first = physician.patch(
        f"/api/v1/patients/{patient_id}", json={"version": 1, "reason": "allergy", "notes": "penicillin"}
    )
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = nurse.patch(
        f"/api/v1/patients/{patient_id}", json={"version": 1, "reason": "allergy", "notes": "latex"}
    )
    assert stale.status_code == 409, stale.text
    assert stale.headers["content-type"] == "application/problem+json"
    body = stale.json()
    assert (body["field"], body["read_version"], body["current_version"]) == ("version", 1, 2)
    assert [(c["field"], c["value"], c["changed_by"]) for c in body["changed_fields"]] == [
        ("notes", "penicillin", "physician")
    ]
    assert "notes" in body["detail"]
    assert nurse.get(f"/api/v1/patients/{patient_id}").json()["notes"] == "penicillin"


def test_a_patch_without_a_version_is_a_422_naming_version(nurse: TestClient) -> None:
    patient_id = nurse.post("/api/v1/patients", json=PATIENT).json()["id"]
    answer = nurse.patch(f"/api/v1/patients/{patient_id}", json={"reason": "allergy", "notes": "latex"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "version"
    assert nurse.get(f"/api/v1/patients/{patient_id}").json()["notes"] == "no known allergies"


def _edit_form(client: TestClient, patient_id: int) -> dict[str, Any]:
    page = client.get(f"/patients/{patient_id}/edit")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version, "the edit form carries no version"
    return {
        "csrf_token": client.csrf,
        "version": version.group(1),
        "family_name": "Doe",
        "given_name": "Jane",
        "birth_date": "1970-01-01",
        "sex": "female",
        "diagnoses": "G50.0",
        "reason": "allergy",
    }


def test_a_stale_form_keeps_what_was_typed_and_shows_the_stored_value_beside(
    page_client: Callable[[str], TestClient], nurse: TestClient
) -> None:
    patient_id = nurse.post("/api/v1/patients", json=PATIENT).json()["id"]
    a, b = page_client("physician"), page_client("nurse")
    a_form, b_form = _edit_form(a, patient_id), _edit_form(b, patient_id)
    assert a.post(f"/patients/{patient_id}/edit", data={**a_form, "notes": "penicillin"}).status_code == 303
    refused = b.post(f"/patients/{patient_id}/edit", data={**b_form, "notes": "latex", "given_name": "Janet"})
    assert refused.status_code == 409
    assert "This record was changed after you opened this form" in refused.text
    assert ">latex</textarea>" in refused.text and 'value="Janet"' in refused.text
    note = re.search(r'<span class="stale-change".*?</span></span>', refused.text, re.S)
    assert note and "penicillin" in note.group(0)
    assert "changed by physician" in note.group(0)
    assert 'name="version" value="2"' in refused.text  # saving again is a deliberate choice
    saved = b.post(f"/patients/{patient_id}/edit", data={**b_form, "version": "2", "notes": "latex"})
    assert saved.status_code == 303
    assert nurse.get(f"/api/v1/patients/{patient_id}").json()["notes"] == "latex"


@pytest.fixture
def records(web_db: Database, web_staff: dict[str, Actor]) -> dict[str, int]:
    """One of each editable record: a drafted plan (with soft breaches) for a screened patient, a course."""
    plan = draft_plan(web_db, web_staff, protocol_id="cohen2018-test", weight_kg=30.0)
    assert plan.soft_breaches
    course = courses.start_course(
        web_db,
        web_staff["nurse"],
        plan.patient_id,
        courses.CourseIn(started_on=date.today() - timedelta(days=20), plan_id=plan.id),
    )
    draft = screenings.create_screening(
        web_db, web_staff["physician"], plan.patient_id, screenings.ScreeningIn(intake=eligible_tn())
    )
    return {"patient": plan.patient_id, "plan": plan.id, "course": course.id, "screening": draft.id}


def test_every_editable_records_api_output_carries_its_version(
    physician: TestClient, records: dict[str, int]
) -> None:
    patient = physician.get(f"/api/v1/patients/{records['patient']}").json()
    outputs = [
        patient,
        *patient["measurements"],
        physician.get(f"/api/v1/screenings/{records['screening']}").json(),
        *physician.get(f"/api/v1/patients/{records['patient']}/screenings").json(),
        physician.get(f"/api/v1/plans/{records['plan']}").json(),
        *physician.get(f"/api/v1/patients/{records['patient']}/plans").json(),
        *physician.get(f"/api/v1/patients/{records['patient']}/courses").json(),
    ]
    assert len(outputs) >= 7 and patient["measurements"]
    assert all(isinstance(out.get("version"), int) and out["version"] >= 1 for out in outputs), outputs


def _edits(records: dict[str, int]) -> list[tuple[str, str, dict[str, Any], dict[str, Any], str]]:
    """(method, url, first edit, second edit, field the first changed) per editable record."""
    later = (date.today() - timedelta(days=6)).isoformat()
    return [
        ("put", f"/api/v1/screenings/{records['screening']}", {"intake": {**eligible_tn(), "phq9": 21}},
         {"intake": {**eligible_tn(), "gad7": 3}}, "intake.phq9"),
        ("post", f"/api/v1/plans/{records['plan']}/soft-reasons",
         {"reasons": [{"check": 0, "reason": "reviewed at the pain MDT"}]},
         {"reasons": [{"check": 0, "reason": "typed meanwhile"}]}, "reasons.0"),
        ("post", f"/api/v1/courses/{records['course']}/series-end",
         {"series_end": (date.today() - timedelta(days=7)).isoformat(), "reason": "series complete"},
         {"series_end": later, "reason": "series complete"}, "series_end"),
        ("post", f"/api/v1/courses/{records['course']}/discontinuation",
         {"discontinued": "adverse_event", "reason": "nausea"},
         {"discontinued": "lack_of_effect", "reason": "no relief"}, "discontinued"),
    ]  # fmt: skip


@pytest.mark.parametrize("which", range(4), ids=["screening", "plan", "series-end", "discontinuation"])
def test_each_edit_without_a_version_is_422_and_a_stale_one_409_naming_the_changes(
    physician: TestClient, api_client: Callable[[str | None], TestClient], records: dict[str, int], which: int
) -> None:
    method, url, first, second, changed = _edits(records)[which]
    send = getattr(physician, method)
    missing = send(url, json=first)
    assert missing.status_code == 422 and missing.json()["field"] == "version", missing.text
    done = getattr(api_client("physician2"), method)(url, json={"version": 1, **first})
    assert done.status_code == 200, done.text
    stale = send(url, json={"version": 1, **second})
    assert stale.status_code == 409, stale.text
    body = stale.json()
    assert body["field"] == "version" and body["read_version"] == 1
    named = {c["field"]: c for c in body["changed_fields"]}
    assert named[changed]["changed_by"] == "physician2"
    assert send(url, json={"version": body["current_version"], **second}).status_code == 200
