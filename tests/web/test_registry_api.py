"""Registry API: allergies, contact details and referring physician; 422s name the field, stale is 409."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ketaclinic.screening import current_consent_template
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.factories import make_patient


@pytest.fixture
def nurse(api_client: Callable[[str | None], TestClient]) -> TestClient:
    return api_client("nurse")


@pytest.fixture
def patient_id(web_db: Database, web_staff: dict[str, Actor]) -> int:
    return make_patient(web_db, web_staff["nurse"], family_name="Roe", given_name="Sam")


def _version(client: TestClient, patient_id: int) -> int:
    return int(client.get(f"/api/v1/patients/{patient_id}").json()["version"])


def test_allergies_over_the_api(nurse: TestClient, patient_id: int) -> None:
    base = f"/api/v1/patients/{patient_id}/allergies"
    body = {"substance": "Latex", "reaction": "wheeze", "severity": "severe"}
    added = nurse.post(base, json=body | {"version": _version(nurse, patient_id)})
    assert added.status_code == 201
    record = added.json()
    assert record["allergy_status"] == "allergies_recorded" and record["allergies"][0]["severity"] == "severe"
    none = nurse.post(f"{base}/none-known", json={"version": record["version"]})
    assert none.status_code == 409 and none.json()["field"] == "allergies"
    struck = nurse.post(
        f"{base}/{record['allergies'][0]['id']}/strike-out",
        json={"version": record["version"], "reason": "entered on the wrong chart"},
    )
    assert struck.status_code == 200 and struck.json()["allergies"][0]["strike_reason"]
    assert nurse.post(f"{base}/none-known", json={"version": struck.json()["version"]}).status_code == 200
    fetched = nurse.get(f"/api/v1/patients/{patient_id}").json()
    assert fetched["allergy_status"] == "no_known_allergies"


def test_a_stale_allergy_edit_is_409(nurse: TestClient, patient_id: int) -> None:
    read = _version(nurse, patient_id)
    body = {"substance": "Latex", "reaction": "wheeze", "severity": "severe", "version": read}
    assert nurse.post(f"/api/v1/patients/{patient_id}/allergies", json=body).status_code == 201
    stale = nurse.post(f"/api/v1/patients/{patient_id}/allergies", json=body | {"substance": "Iodine"})
    assert stale.status_code == 409 and stale.json()["field"] == "version"


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        ("allergies", {"substance": "", "reaction": "rash", "severity": "mild"}, ["substance"]),
        ("allergies", {"substance": "Latex", "reaction": "rash", "severity": "bad"}, ["severity"]),
        ("allergies", {"substance": "Latex", "severity": "mild"}, ["reaction"]),
        ("contact", {"email": "nobody@", "phone": "12"}, ["email", "phone"]),
        ("contact", {"preferred_channel": "sms"}, ["preferred_channel"]),
        ("contact", {"consent_to_contact": True}, ["consent_on"]),
        ("referrer", {"name": "Dr Ana Silva"}, ["email"]),
        ("referrer", {"address": "1 Main St"}, ["name"]),
    ],
)
def test_bad_input_is_422_naming_every_field(
    nurse: TestClient, patient_id: int, path: str, body: dict[str, Any], fields: list[str]
) -> None:
    method = nurse.post if path == "allergies" else nurse.put
    answer = method(f"/api/v1/patients/{patient_id}/{path}", json=body | {"version": 1})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == fields[0]
    assert [e["field"] for e in answer.json()["errors"]] == fields


def test_contact_and_referrer_over_the_api(nurse: TestClient, patient_id: int) -> None:
    contact = {
        "version": _version(nurse, patient_id),
        "email": "sam.roe@example.org",
        "phone": "020 7946 0000",
        "preferred_channel": "email",
        "consent_to_contact": False,
        "consent_on": "2026-11-30",
    }
    saved = nurse.put(f"/api/v1/patients/{patient_id}/contact", json=contact)
    assert saved.status_code == 200
    assert saved.json()["contact"]["phone"] == "02079460000"
    referrer = {"version": saved.json()["version"], "name": "Dr Ana Silva", "email": "ana.silva@example.org"}
    done = nurse.put(f"/api/v1/patients/{patient_id}/referrer", json=referrer)
    assert done.status_code == 200 and done.json()["referrer"]["email"] == "ana.silva@example.org"


def test_a_researcher_may_not_edit_the_registry(
    api_client: Callable[[str | None], TestClient], patient_id: int
) -> None:
    answer = api_client("researcher").put(
        f"/api/v1/patients/{patient_id}/referrer",
        json={"version": 1, "name": "Dr X", "email": "x@example.org"},
    )
    assert answer.status_code == 403


def test_a_consent_problem_list_names_every_field(
    nurse: TestClient, patient_id: int, api_client: Any
) -> None:
    doctor = api_client("physician")
    template = current_consent_template()
    body = {
        "protocol_id": "valle2024",
        "risks": [{"code": r.code, "discussed": True} for r in template.risks[1:]],
        "alternatives": [template.alternatives[0].code],
        "patient_signature": "Someone Else",
        "witness": "Nina Nurse",
    }
    answer = doctor.post(f"/api/v1/patients/{patient_id}/consents", json=body)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == [
        f"risks.{template.risks[0].code}",
        "patient_signature",
    ]
    signed = doctor.post(
        f"/api/v1/patients/{patient_id}/consents",
        json=body
        | {
            "risks": [{"code": r.code, "discussed": True} for r in template.risks],
            "signed_by": "representative",
            "representative_relation": "guardian",
        },
    )
    assert signed.status_code == 201 and signed.json()["signed_as"] == "legal representative (legal guardian)"


def test_a_stale_contact_form_keeps_what_was_typed_and_shows_what_changed_beside_it(
    page_client: Callable[[str], TestClient], nurse: TestClient, patient_id: int
) -> None:
    read = _version(nurse, patient_id)
    form = page_client("nurse")

    def save(email: str) -> Any:
        return form.post(
            f"/patients/{patient_id}/contact",
            data={"csrf_token": form.csrf, "version": str(read), "email": email, "reason": "new address"},
            follow_redirects=False,
        )

    assert save("first@clinic.example").status_code == 303  # the other tab saves first
    stale = save("typed@clinic.example")
    assert stale.status_code == 409
    page = stale.text
    assert "This record was changed after you opened this form" in page
    assert 'value="typed@clinic.example"' in page  # nothing typed is lost
    assert "Now stored:" in page and "first@clinic.example" in page
    assert "contact_email" not in page  # the change is shown beside its field, not as a column name
    assert nurse.get(f"/api/v1/patients/{patient_id}").json()["contact"]["email"] == "first@clinic.example"
