"""Input at the edges, on both databases: ids past the column, hidden characters, tiny volumes,
numbers as dates, 405 with Allow, encoded download names, the researcher's list order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests import factories
from tests.services.sessions_support import CHECK_IN
from tests.services.test_outcomes_service import treated
from tests.web.test_patients_api import GOOD

Client = Callable[[str | None], TestClient]
SQLITE_MAX = 2**63 - 1
PG_INTEGER_MAX = 2**31 - 1


@pytest.mark.parametrize("too_big", [PG_INTEGER_MAX + 1, SQLITE_MAX, SQLITE_MAX + 1, 10**30])
def test_an_id_past_the_column_is_a_422_naming_it_never_a_500(
    api_client: Client, page_client: Callable[[str], TestClient], too_big: int
) -> None:
    physician = api_client("physician")
    for path, name in (
        (f"/api/v1/patients/{too_big}", "patient_id"),
        (f"/api/v1/plans/{too_big}", "plan_id"),
        (f"/api/v1/sessions/{too_big}", "session_id"),
        (f"/api/v1/patients/1/measurements/{too_big}/strike-out", "measurement_id"),
    ):
        method = physician.post if path.endswith("strike-out") else physician.get
        answer = method(
            path, **({"json": {"reason": "entered in error"}} if method == physician.post else {})
        )
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["field"] == name
    booked = physician.post("/api/v1/sessions", json={"plan_id": too_big, "session_number": 1})
    assert booked.status_code == 422 and booked.json()["field"] == "plan_id"
    page = page_client("physician").get(f"/plans/new?patient_id={too_big}")
    assert page.status_code == 422
    # At the column's maximum the id is in range and simply not there.
    assert physician.get(f"/api/v1/patients/{PG_INTEGER_MAX}").status_code == 404


@pytest.mark.parametrize(
    "hidden",
    ["\x00", "\x07", "\x1b[31m", "\u202e", "\u202a", "\u2066", "\u2069", "\x7f", "\u0085"],
    ids=["nul", "bell", "escape", "rlo", "lre", "lri", "pdi", "del", "nel"],
)
def test_a_hidden_character_in_a_name_is_a_422_naming_the_field(
    api_client: Client, page_client: Callable[[str], TestClient], hidden: str
) -> None:
    nurse = api_client("nurse")
    answer = nurse.post("/api/v1/patients", json={**GOOD, "family_name": f"Doe{hidden}nhoJ"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "family_name" and "must not contain" in answer.json()["detail"]
    assert nurse.get("/api/v1/patients", params={"q": "doe"}).json()["total"] == 0  # nothing was written

    form_client = page_client("nurse")
    form = {
        "csrf_token": form_client.csrf,
        "mrn": "F-9",
        "family_name": "Doe",
        "given_name": f"Ja{hidden}ne",
        "birth_date": "1970-01-01",
        "sex": "female",
        "weight_kg": "70",
        "diagnoses": "G50.0",
    }
    page = form_client.post("/patients/new", data=form)
    assert page.status_code == 422 and "Given name" in page.text


def test_free_text_keeps_line_breaks_but_not_other_controls(api_client: Client) -> None:
    nurse = api_client("nurse")
    kept = nurse.post("/api/v1/patients", json={**GOOD, "notes": "line one\nline two\ttabbed"})
    assert kept.status_code == 201, kept.text
    refused = nurse.post("/api/v1/patients", json={**GOOD, "mrn": "A-101", "notes": "bad\x00note"})
    assert refused.status_code == 422 and refused.json()["field"] == "notes"


def test_a_container_volume_near_zero_is_a_422_not_a_500(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    patient_id = factories.treatable_patient(web_db, web_staff, mrn="VOL-1")
    physician = api_client("physician")
    for volume in (1e-323, 0.5, 5001, 1e308):
        answer = physician.post(
            f"/api/v1/patients/{patient_id}/plans",
            json={"protocol_id": "schwartzman2009", "volume_ml": volume},
        )
        assert answer.status_code == 422, (volume, answer.text)
        assert answer.json()["field"] == "volume_ml"
    fine = physician.post(
        f"/api/v1/patients/{patient_id}/plans", json={"protocol_id": "schwartzman2009", "volume_ml": 250}
    )
    assert fine.status_code == 201, fine.text


@pytest.mark.parametrize("number", [0, 86400, 1700000000, 19000.0])
def test_a_number_is_not_a_date(api_client: Client, number: float) -> None:
    answer = api_client("nurse").post("/api/v1/patients", json={**GOOD, "birth_date": number})
    assert answer.status_code == 422
    assert answer.json()["field"] == "birth_date" and "ISO 8601" in answer.json()["detail"]


def test_a_number_is_not_a_time(api_client: Client, web_db: Database, web_staff: dict[str, Actor]) -> None:
    plan_id = factories.approved_plan(web_db, web_staff, mrn="TIME-1")
    nurse = api_client("nurse")
    sid = nurse.post("/api/v1/sessions", json={"plan_id": plan_id, "session_number": 1}).json()["id"]
    answer = nurse.post(f"/api/v1/sessions/{sid}/check-in", json=CHECK_IN | {"at": 1700000000})
    assert answer.status_code == 422 and answer.json()["field"] == "at"


def test_a_405_names_the_allowed_methods(
    api_client: Client, page_client: Callable[[str], TestClient]
) -> None:
    answer = api_client("nurse").put("/api/v1/patients")
    assert answer.status_code == 405
    assert set(answer.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert answer.headers["content-type"] == "application/problem+json"
    page = page_client("nurse").delete("/patients")
    assert page.status_code == 405 and "GET" in page.headers["allow"]


def test_every_download_route_encodes_its_file_name(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    treated(web_db, web_staff["nurse"], "DL-1", 8, {1: 2, 12: 3})
    researcher = api_client("researcher")
    for fmt in ("json", "csv"):
        answer = researcher.get(f"/analytics/export.{fmt}")
        assert answer.status_code == 200, answer.text
        disposition = answer.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="cohort-clinic-')
        assert "; filename*=UTF-8''cohort-clinic-" in disposition and disposition.endswith(f".{fmt}")


def test_the_researchers_list_is_in_pseudonym_order_not_by_name(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    for index, family in enumerate(("Young", "Adams", "Miller", "Baker", "Zimmer", "Carter")):
        factories.make_patient(web_db, web_staff["nurse"], mrn=f"ORD-{index}", family_name=family)
    rows: list[dict[str, Any]] = api_client("researcher").get("/api/v1/patients").json()["items"]
    pseudonyms = [row["pseudonym"] for row in rows]
    assert len(pseudonyms) == 6 and pseudonyms == sorted(pseudonyms)
    staff_rows = api_client("nurse").get("/api/v1/patients").json()["items"]
    assert [row["family_name"] for row in staff_rows] == sorted(row["family_name"] for row in staff_rows)
