"""Patient API: problem+json 4xx naming the field for every kind of bad input; never a 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

GOOD: dict[str, Any] = {
    "mrn": "A-100",
    "family_name": "Doe",
    "given_name": "Jane",
    "birth_date": "1970-01-01",
    "sex": "female",
    "weight_kg": 70,
    "diagnoses": ["G50.0"],
}


@pytest.fixture
def nurse(api_client: Callable[[str | None], TestClient]) -> TestClient:
    return api_client("nurse")


def test_register_then_get(nurse: TestClient) -> None:
    created = nurse.post("/api/v1/patients", json=GOOD)
    assert created.status_code == 201
    assert nurse.get(f"/api/v1/patients/{created.json()['id']}").json()["mrn"] == "A-100"


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"diagnoses": ["X00.0"]}, 422, "diagnoses"),
        ({"weight_kg": 0.5}, 422, "weight_kg"),
        ({"weight_kg": 401}, 422, "weight_kg"),
        ({"weight_kg": "heavy"}, 422, "weight_kg"),
        ({"birth_date": "1970-13-01"}, 422, "birth_date"),
        ({"mrn": None}, 422, "mrn"),
        ({"surprise": 1}, 422, "surprise"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    nurse: TestClient, change: dict[str, Any], status: int, field: str
) -> None:
    answer = nurse.post("/api/v1/patients", json={**GOOD, **change})
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == field


def test_duplicate_mrn_is_409(nurse: TestClient) -> None:
    assert nurse.post("/api/v1/patients", json=GOOD).status_code == 201
    answer = nurse.post("/api/v1/patients", json=GOOD)
    assert answer.status_code == 409
    assert answer.json()["field"] == "mrn"


def test_malformed_json_is_422(nurse: TestClient) -> None:
    answer = nurse.post(
        "/api/v1/patients", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422


def test_unknown_patient_is_404(nurse: TestClient) -> None:
    assert nurse.get("/api/v1/patients/4242").status_code == 404


def test_researcher_list_has_no_names(
    api_client: Callable[[str | None], TestClient], nurse: TestClient
) -> None:
    nurse.post("/api/v1/patients", json=GOOD)
    listing = api_client("researcher").get("/api/v1/patients").text
    assert "Doe" not in listing and "A-100" not in listing and "1970-01-01" not in listing


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from([*sorted(GOOD), "prior_treatments", "pain_mechanism", "height_cm"]),
    value=json_values,
)
def test_any_json_value_in_any_field_never_500s(nurse: TestClient, field: str, value: Any) -> None:
    answer = nurse.post("/api/v1/patients", json={**GOOD, "mrn": "FUZZ-1", field: value})
    assert answer.status_code in (201, 409, 422), answer.text


@pytest.mark.parametrize("field", ["family_name", "given_name", "birth_date", "sex", "notes"])
def test_clearing_a_required_field_in_an_edit_is_a_422_naming_it(nurse: TestClient, field: str) -> None:
    patient_id = nurse.post("/api/v1/patients", json=GOOD).json()["id"]
    answer = nurse.patch(f"/api/v1/patients/{patient_id}", json={"version": 1, "reason": "typo", field: None})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert nurse.get(f"/api/v1/patients/{patient_id}").json()["family_name"] == "Doe"
