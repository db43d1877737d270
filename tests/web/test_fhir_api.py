"""GET /api/v1/fhir/Patient/{id}/$everything: a FHIR Bundle for staff who see patients, problem+json else."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from ketaclinic.interop import fhir_base
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.factories import make_patient
from tests.interop.test_fhir_mapping import validate


def test_everything_is_a_valid_bundle_for_the_patient(
    api_client: Callable[[str | None], TestClient], web_db: Database, web_staff: dict[str, Actor]
) -> None:
    patient_id = make_patient(web_db, web_staff["nurse"], family_name="Roe", given_name="Sam")
    response = api_client("nurse").get(f"/api/v1/fhir/Patient/{patient_id}/$everything")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    validate(bundle)
    resources = [e["resource"] for e in bundle["entry"]]
    assert fhir_base.unresolved_references(resources) == []
    (patient,) = [r for r in resources if r["resourceType"] == "Patient"]
    assert patient["name"][0]["family"] == "Roe"


def test_unknown_patient_and_researcher_get_problems(
    api_client: Callable[[str | None], TestClient], web_db: Database, web_staff: dict[str, Actor]
) -> None:
    missing = api_client("physician").get("/api/v1/fhir/Patient/999/$everything")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    patient_id = make_patient(web_db, web_staff["nurse"])
    assert api_client("researcher").get(f"/api/v1/fhir/Patient/{patient_id}/$everything").status_code == 403
