"""Weights over HTTP: check-in 409, plan override 422, the registry's confirmation and strike-out."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests import factories
from tests.services.sessions_support import CHECK_IN, approved_plan

Client = Callable[[str | None], TestClient]


def test_check_in_weight_typo_is_409_naming_weight_kg(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    api = api_client("nurse")
    plan_id = approved_plan(web_db, web_staff, weight_kg=72.5)
    sid = api.post("/api/v1/sessions", json={"plan_id": plan_id, "session_number": 1}).json()["id"]
    typo = api.post(f"/api/v1/sessions/{sid}/check-in", json=CHECK_IN | {"weight_kg": 7.2})
    assert typo.status_code == 409, typo.text
    assert typo.json()["field"] == "weight_kg" and "72.5 kg" in typo.json()["detail"]
    reasoned = api.post(
        f"/api/v1/sessions/{sid}/check-in",
        json=CHECK_IN | {"weight_kg": 64.0, "weight_discrepancy_reason": "lost weight, weighed twice"},
    )
    assert reasoned.status_code == 200, reasoned.text
    kinds = [a["rule_key"] for a in api.get(f"/api/v1/sessions/{sid}/alerts").json()]
    assert "weight_discrepancy" in kinds


def test_plan_override_without_reason_is_422_naming_it(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    pid = factories.treatable_patient(
        web_db, web_staff, mrn="WW-1", protocol_id="schwartzman2009", weight_kg=72.5
    )
    answer = api_client("physician").post(
        f"/api/v1/patients/{pid}/plans", json={"protocol_id": "schwartzman2009", "weight_kg": 7.2}
    )
    assert answer.status_code == 422 and answer.json()["field"] == "weight_reason"


def test_registry_weight_needs_confirming_and_can_be_struck_out(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    pid = factories.make_patient(web_db, web_staff["nurse"], mrn="WW-2", weight_kg=63.3)
    api = api_client("nurse")
    base = f"/api/v1/patients/{pid}/measurements"
    typo = api.post(base, json={"weight_kg": 6.3})
    assert typo.status_code == 409 and typo.json()["field"] == "weight_kg"
    confirmed = api.post(base, json={"weight_kg": 6.3, "confirm_reason": "scale read so"})
    assert confirmed.status_code == 201 and confirmed.json()["weight_kg"] == 6.3
    wrong = confirmed.json()["measurements"][-1]["id"]
    assert api.post(f"{base}/{wrong}/strike-out", json={"version": 1, "reason": ""}).status_code == 422
    unversioned = api.post(f"{base}/{wrong}/strike-out", json={"reason": "typo for 63.3"})
    assert unversioned.status_code == 422 and unversioned.json()["field"] == "version"
    struck = api.post(f"{base}/{wrong}/strike-out", json={"version": 1, "reason": "typo for 63.3"})
    assert struck.status_code == 200 and struck.json()["weight_kg"] == 63.3
    again = api.post(f"{base}/{wrong}/strike-out", json={"version": 1, "reason": "again"})
    assert again.status_code == 409 and again.json()["changed_fields"][0]["field"] == "struck_out"
    assert api.post(f"{base}/999999/strike-out", json={"version": 1, "reason": "none"}).status_code == 404
    assert (
        api_client("researcher")
        .post(f"{base}/{wrong}/strike-out", json={"version": 1, "reason": "x"})
        .status_code
        == 403
    )


def test_record_page_asks_for_a_confirmation_then_strikes_out(
    page_client: Callable[[str], TestClient], web_db: Database, web_staff: dict[str, Actor]
) -> None:
    pid = factories.make_patient(web_db, web_staff["nurse"], mrn="WW-3", weight_kg=63.3)
    client = page_client("nurse")
    asked = client.post(f"/patients/{pid}/measurements", data={"csrf_token": client.csrf, "weight_kg": "6.3"})
    assert asked.status_code == 409 and 'name="confirm_reason"' in asked.text and 'value="6.3"' in asked.text
    done = client.post(
        f"/patients/{pid}/measurements",
        data={"csrf_token": client.csrf, "weight_kg": "6.3", "confirm_reason": "scale read so"},
        follow_redirects=False,
    )
    assert done.status_code == 303
