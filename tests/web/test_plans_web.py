"""Dose plan API and screens: 422 on hard breach naming limit and source, 409 on prerequisites and locks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

import ketaclinic.data
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests import factories

PATIENT: dict[str, Any] = {
    "mrn": "PW-1",
    "family_name": "Pumpwell",
    "given_name": "Ada",
    "birth_date": "1970-01-01",
    "sex": "female",
    "weight_kg": 70,
    "height_cm": 165,
    "diagnoses": ["G50.0"],
}


@pytest.fixture
def patient_id(api_client: Callable[[str | None], TestClient]) -> int:
    return int(api_client("physician").post("/api/v1/patients", json=PATIENT).json()["id"])


@pytest.fixture
def treatable(patient_id: int, web_db: Database, web_staff: dict[str, Actor]) -> None:
    """The patient's signed screening and consents to the protocols these tests approve (real records)."""
    for protocol_id in ("valle2024", "schwartzman2009"):
        factories.make_treatable(web_db, web_staff, patient_id, protocol_id)


def test_reference_api(api_client: Callable[[str | None], TestClient]) -> None:
    nurse = api_client("nurse")
    library = nurse.get("/api/v1/library").json()
    outpatient = next(c for c in library["contexts"] if c["id"] == "outpatient")
    assert outpatient["limits"]["rate_mg_kg_h"]["hard_max"]["source"]
    assert "schwartzman2009" in {p["id"] for p in nurse.get("/api/v1/protocols").json()}
    assert nurse.get("/api/v1/protocols/valle2024").json()["id"] == "valle2024"
    missing = nurse.get("/api/v1/protocols/nope")
    assert missing.status_code == 404 and "valle2024" in missing.json()["detail"]
    check = nurse.post(
        "/api/v1/dose/check", json={"context": "outpatient", "weight_kg": 70, "rate": "1.5 mg/kg/h"}
    )
    assert check.json()["verdict"] == "soft" and check.json()["limit"] == 1.0 and check.json()["source"]
    hard = nurse.post(
        "/api/v1/dose/check", json={"context": "outpatient", "weight_kg": 70, "rate": "3 mg/kg/h"}
    )
    assert hard.json()["verdict"] == "hard"
    ml = nurse.post("/api/v1/dose/check", json={"context": "outpatient", "weight_kg": 70, "rate": "35 mL/h"})
    assert ml.json()["rate_mg_h"] == 35
    bad = nurse.post("/api/v1/dose/check", json={"context": "outpatient", "weight_kg": 70, "rate": "2.5mg"})
    assert bad.status_code == 422 and bad.json()["field"] == "rate"


def test_hard_breach_is_422_naming_limit_and_source(
    api_client: Callable[[str | None], TestClient], patient_id: int
) -> None:
    physician = api_client("physician")
    answer = physician.post(
        f"/api/v1/patients/{patient_id}/plans",
        json={"protocol_id": "valle2024", "weight_kg": 20, "weight_reason": "weighed today"},
    )
    assert answer.status_code == 422
    assert "hard max 2" in answer.json()["detail"] and "Cohen 2018" in answer.json()["detail"]
    assert physician.get(f"/api/v1/patients/{patient_id}/plans").json() == []


def test_plan_lifecycle_over_the_api(
    api_client: Callable[[str | None], TestClient], patient_id: int, treatable: None
) -> None:
    physician, physician2, nurse = api_client("physician"), api_client("physician2"), api_client("nurse")
    # 50 mg/h treatment sessions for 45 kg: above the 1 mg/kg/h soft maximum in sessions 2-6
    light = {"protocol_id": "valle2024", "weight_kg": 45, "weight_reason": "weighed today on the ward scale"}
    created = physician.post(f"/api/v1/patients/{patient_id}/plans", json=light)
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["status"] == "draft" and plan["soft_breaches"][0]["source"]
    every = [
        {"check": b["index"], "reason": "light patient, agreed with the pain team"}
        for b in plan["soft_breaches"]
    ]
    assert (
        nurse.post(f"/api/v1/patients/{patient_id}/plans", json={"protocol_id": "valle2024"}).status_code
        == 403
    )
    blocked = physician.post(f"/api/v1/plans/{plan['id']}/approve")
    assert blocked.status_code == 409 and "need a reason" in blocked.json()["detail"]
    short = physician.post(
        f"/api/v1/plans/{plan['id']}/soft-reasons",
        json={"version": plan["version"], "reasons": [{"check": 0, "reason": ""}]},
    )
    assert short.status_code == 422
    ok = physician.post(
        f"/api/v1/plans/{plan['id']}/soft-reasons", json={"version": plan["version"], "reasons": every}
    )
    assert ok.status_code == 200
    assert physician.post(f"/api/v1/plans/{plan['id']}/approve").json()["status"] == "awaiting_cosign"
    same = physician.post(f"/api/v1/plans/{plan['id']}/cosign")
    assert same.status_code == 409 and "second clinician" in same.json()["detail"]
    assert nurse.post(f"/api/v1/plans/{plan['id']}/cosign").json()["status"] == "approved"
    locked = physician2.post(f"/api/v1/plans/{plan['id']}/approve")
    assert locked.status_code == 409 and "locked" in locked.json()["detail"]
    assert api_client("researcher").get(f"/api/v1/plans/{plan['id']}").status_code == 403
    assert physician.post(f"/api/v1/plans/{plan['id']}/cancel", json={}).status_code == 422
    cancelled = physician.post(f"/api/v1/plans/{plan['id']}/cancel", json={"reason": "changed protocol"})
    assert cancelled.json()["status"] == "cancelled"
    assert physician.get("/api/v1/plans/9999").status_code == 404


def test_prerequisites_block_approval_with_409(
    api_client: Callable[[str | None], TestClient], patient_id: int
) -> None:
    physician = api_client("physician")
    plan = physician.post(
        f"/api/v1/patients/{patient_id}/plans", json={"protocol_id": "cohen2018-test"}
    ).json()
    answer = physician.post(f"/api/v1/plans/{plan['id']}/approve")
    assert answer.status_code == 409 and "signed screening" in answer.json()["detail"]


def test_screens(
    page_client: Callable[[str], TestClient],
    api_client: Callable[[str | None], TestClient],
    patient_id: int,
    treatable: None,
    web_db: Database,
) -> None:
    client = page_client("physician")
    builder = client.get(f"/patients/{patient_id}/plans/new")
    assert builder.status_code == 200 and "Weight on record" in builder.text
    refused = client.post(
        f"/patients/{patient_id}/plans/new",
        data={
            "csrf_token": client.csrf,
            "protocol_id": "valle2024",
            "weight_kg": "20",
            "weight_reason": "weighed today",
        },
    )
    assert refused.status_code == 422 and "hard max 2" in refused.text
    made = client.post(
        f"/patients/{patient_id}/plans/new",
        data={"csrf_token": client.csrf, "protocol_id": "schwartzman2009", "volume_ml": "250"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    url = made.headers["location"]
    page = client.get(url)
    assert page.status_code == 200 and "<svg" in page.text and "Bowdle 1998" in page.text
    assert "Minutes in analgesic window" in page.text and "Same regimen and curve as session 1" in page.text
    approved = client.post(f"{url}/approve", data={"csrf_token": client.csrf}, follow_redirects=True)
    assert "Approved by" in approved.text
    sheet = client.get(f"{url}/sessions/1/pump-sheet")
    assert sheet.status_code == 200 and "mL/h" in sheet.text and "Pumpwell" in sheet.text
    assert '"pump-rate big-number">24.5<' in sheet.text  # 0.35 mg/kg/h x 70 kg at 1 mg/mL
    assert client.get(f"{url}/sessions/11/pump-sheet").status_code == 404
    listing = client.get("/plans")
    assert "Schwartzman" in listing.text and "approved" in listing.text


def test_soft_reason_with_a_malformed_index_is_a_422_not_a_500(
    page_client: Callable[[str], TestClient], api_client: Callable[[str | None], TestClient], patient_id: int
) -> None:
    plan = api_client("physician").post(
        f"/api/v1/patients/{patient_id}/plans", json={"protocol_id": "cohen2018-test"}
    )
    assert plan.status_code == 201
    client = page_client("physician")
    answer = client.post(
        f"/plans/{plan.json()['id']}/soft-reasons",
        data={"csrf_token": client.csrf, "version": "1", "reason_abc": "reviewed with the pain team"},
    )
    assert answer.status_code == 422


def _clinic_protocol(config_dir: Path, dose_mg: int = 80) -> None:
    """The consensus test infusion as the clinic's own protocol 'clinic-test'."""
    shipped = Path(ketaclinic.data.__file__).resolve().parent / "protocols" / "cohen2018-test.toml"
    text = shipped.read_text(encoding="utf-8").replace('id = "cohen2018-test"', 'id = "clinic-test"')
    (config_dir / "protocols").mkdir(exist_ok=True)
    (config_dir / "protocols" / "clinic-test.toml").write_text(
        text.replace("dose_mg = { value = 80,", f"dose_mg = {{ value = {dose_mg},"), encoding="utf-8"
    )


def _library(config_dir: Path, text: str) -> None:
    (config_dir / "drug_library.toml").write_text(text, encoding="utf-8")


def _concentrations(values: str) -> str:
    return (
        f"[context.outpatient.concentrations_mg_ml]\nvalues = [{values}]\n"
        'source = "Clinic pharmacy"\nstatus = "local-policy"\n'
    )


_HARD = (
    "[context.outpatient.rate_mg_kg_h]\n"
    'soft_max = { value = 0.3, source = "Clinic pharmacy", status = "local-policy" }\n'
    'hard_max = { value = 0.4, source = "Clinic pharmacy", status = "local-policy" }\n'
)

# case: (set up the clinic config, the plan's body, change the config after the draft, the message)
REFUSALS: dict[str, tuple[Callable[[Path], None], dict[str, Any], Callable[[Path], None], str]] = {
    "protocol removed": (
        _clinic_protocol,
        {"protocol_id": "clinic-test"},
        lambda d: (d / "protocols" / "clinic-test.toml").unlink(),
        "the protocol 'clinic-test' is no longer available: create a new plan",
    ),
    "concentration delisted": (
        lambda d: _library(d, _concentrations("1.0, 2.0")),
        {"protocol_id": "cohen2018-test", "concentration_mg_ml": 2},
        lambda d: _library(d, _concentrations("1.0")),
        "the concentration 2 mg/mL is no longer in the library",
    ),
    "now a hard breach": (
        lambda d: None,
        {"protocol_id": "cohen2018-test"},
        lambda d: _library(d, _HARD),
        "the drug library now refuses this plan",
    ),
    "rate changed": (
        _clinic_protocol,
        {"protocol_id": "clinic-test"},
        lambda d: _clinic_protocol(d, dose_mg=75),
        "(session 1 segment 1 rate_mg_h 32 -> 30): create a new plan",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_approving_a_draft_todays_config_changes_is_a_409_on_the_page_never_a_500(
    app: Any,
    page_client: Callable[[str], TestClient],
    api_client: Callable[[str | None], TestClient],
    patient_id: int,
    tmp_path: Path,
    case: str,
) -> None:
    prepare, body, change, message = REFUSALS[case]
    config_dir = tmp_path / "clinic"
    config_dir.mkdir()
    app.state.settings = replace(app.state.settings, config_dir=config_dir)
    prepare(config_dir)
    physician = api_client("physician")
    created = physician.post(f"/api/v1/patients/{patient_id}/plans", json=body)
    assert created.status_code == 201, created.text
    plan_id = created.json()["id"]
    change(config_dir)
    client = page_client("physician")
    page = client.post(f"/plans/{plan_id}/approve", data={"csrf_token": client.csrf})
    assert page.status_code == 409, page.text[:500]
    assert str(escape(message)) in page.text and "Approved by" not in page.text
    api = physician.post(f"/api/v1/plans/{plan_id}/approve")
    assert api.status_code == 409 and api.json()["field"] == "plan" and message in api.json()["detail"]
    assert physician.get(f"/api/v1/plans/{plan_id}").json()["status"] == "draft"
