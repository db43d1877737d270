"""Screening and consent over HTTP: API status codes, roles, locked records, and the HTML forms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

import ketaclinic.data
from ketaclinic.screening import current_consent_template
from ketaclinic.services.patients import records, registry
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database

Client = Callable[[str | None], TestClient]


def _patient(db: Database, staff: dict[str, Actor], sex: str = "female") -> int:
    return registry.register_patient(
        db,
        staff["nurse"],
        registry.PatientCreate(
            mrn=f"W-{sex}",
            family_name="Roe",
            given_name="Sam",
            birth_date="1975-01-02",
            sex=sex,
            weight_kg=80,
            diagnoses=["G50.0"],
            pain_mechanism="neuropathic",
            pain_duration_months=30,
            prior_treatments=[
                records.PriorTreatmentIn(name="carbamazepine", outcome="failed"),
                records.PriorTreatmentIn(name="pregabalin", outcome="failed"),
            ],
        ),
        config=None,
    ).id


def _intake(client: TestClient, pid: int, **overrides: Any) -> dict[str, Any]:
    prefill = client.get(f"/api/v1/patients/{pid}/intake-prefill")
    assert prefill.status_code == 200, prefill.text
    intake: dict[str, Any] = prefill.json() | {
        "baseline_nrs": 7,
        "conditions": [],
        "blood_pressure": {"systolic": 125, "diastolic": 80},
        "pregnant": False,
        "breastfeeding": False,
    }
    return intake | overrides


def _consent(protocol_id: str = "valle2024") -> dict[str, Any]:
    template = current_consent_template()
    return {
        "protocol_id": protocol_id,
        "risks": [{"code": r.code, "discussed": True} for r in template.risks],
        "alternatives": [template.alternatives[-1].code],
        "patient_signature": "Sam Roe",
        "witness": "Nina Nurse",
    }


def test_reference_endpoints(api_client: Client) -> None:
    nurse = api_client("nurse")
    conditions = nurse.get("/api/v1/screening/conditions").json()
    assert any(c["code"] == "active_psychosis" for c in conditions)
    schema = nurse.get("/api/v1/screening/intake-schema").json()
    assert "baseline_nrs" in schema["properties"]
    assert api_client("researcher").get("/api/v1/screening/conditions").status_code == 403
    assert api_client(None).get("/api/v1/screening/intake-schema").status_code == 401


def test_screening_lifecycle_over_the_api(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    pid = _patient(web_db, web_staff)
    doctor = api_client("physician")
    intake = _intake(doctor, pid)

    stateless = doctor.post("/api/v1/screening/evaluate", json={"intake": intake})
    assert stateless.status_code == 200 and stateless.json()["verdict"] == "eligible"
    assert doctor.get(f"/api/v1/patients/{pid}/screenings").json() == []  # nothing stored

    created = doctor.post(f"/api/v1/patients/{pid}/screenings", json={"intake": intake})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert created.json()["status"] == "draft"

    nurse = api_client("nurse")
    assert nurse.post(f"/api/v1/patients/{pid}/screenings", json={"intake": intake}).status_code == 403
    assert nurse.post(f"/api/v1/screenings/{sid}/sign", json={"version": 1}).status_code == 403
    assert nurse.get(f"/api/v1/screenings/{sid}").status_code == 200
    researcher = api_client("researcher")
    assert researcher.get(f"/api/v1/screenings/{sid}").status_code == 403
    assert researcher.get(f"/api/v1/patients/{pid}/screenings").status_code == 403

    unread = doctor.post(f"/api/v1/screenings/{sid}/sign", json={})
    assert unread.status_code == 422 and "version" in unread.text  # a signature names the version read
    signed = doctor.post(f"/api/v1/screenings/{sid}/sign", json={"version": 1})
    assert signed.status_code == 200 and signed.json()["signed_by"] == "physician"
    assert doctor.post(f"/api/v1/screenings/{sid}/sign", json={"version": 2}).status_code == 409
    edit = doctor.put(f"/api/v1/screenings/{sid}", json={"version": 1, "intake": intake})
    assert edit.status_code == 409
    note = doctor.post(f"/api/v1/screenings/{sid}/addenda", json={"text": "Reviewed with the patient."})
    assert note.status_code == 201 and note.json()["addenda"][0]["text"] == "Reviewed with the patient."
    assert doctor.get(f"/api/v1/screenings/{sid + 50}").status_code == 404


def test_contradictory_intake_is_422_naming_the_field(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    pid = _patient(web_db, web_staff, sex="male")
    doctor = api_client("physician")
    pregnant = doctor.post(
        f"/api/v1/patients/{pid}/screenings", json={"intake": _intake(doctor, pid, pregnant=True)}
    )
    assert pregnant.status_code == 422 and pregnant.json()["field"] == "pregnant"
    nrs = doctor.post("/api/v1/screening/evaluate", json={"intake": _intake(doctor, pid, baseline_nrs=14)})
    assert nrs.status_code == 422 and nrs.json()["field"] == "baseline_nrs"
    assert doctor.post("/api/v1/screening/evaluate", json={"intake": {}, "extra": 1}).status_code == 422
    assert doctor.get(f"/api/v1/patients/{pid}/screenings").json() == []


def test_consent_over_the_api(api_client: Client, web_db: Database, web_staff: dict[str, Actor]) -> None:
    pid = _patient(web_db, web_staff)
    doctor = api_client("physician")
    unknown = doctor.post(f"/api/v1/patients/{pid}/consents", json=_consent("no-such-protocol"))
    assert unknown.status_code == 422 and unknown.json()["field"] == "protocol_id"
    missing_risk = _consent()
    missing_risk["risks"][0]["discussed"] = False
    answer = doctor.post(f"/api/v1/patients/{pid}/consents", json=missing_risk)
    assert answer.status_code == 422 and answer.json()["field"].startswith("risks.")
    assert api_client("nurse").post(f"/api/v1/patients/{pid}/consents", json=_consent()).status_code == 403

    made = doctor.post(f"/api/v1/patients/{pid}/consents", json=_consent())
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    assert api_client("nurse").get(f"/api/v1/patients/{pid}/consents").json()[0]["id"] == cid
    assert doctor.post(f"/api/v1/consents/{cid}/withdraw", json={"reason": ""}).status_code == 422
    withdrawn = doctor.post(f"/api/v1/consents/{cid}/withdraw", json={"reason": "patient changed mind"})
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert doctor.post(f"/api/v1/consents/{cid}/withdraw", json={"reason": "again"}).status_code == 409


def test_screens(
    page_client: Callable[[str], TestClient], web_db: Database, web_staff: dict[str, Actor]
) -> None:
    pid = _patient(web_db, web_staff)
    doctor = page_client("physician")
    form = doctor.get(f"/patients/{pid}/screening/new")
    assert form.status_code == 200
    assert 'value="80' in form.text and "carbamazepine" in form.text  # pre-filled from the registry
    assert "Systolic (mmHg)" in form.text and "mm[Hg]" not in form.text  # UCUM stays a code, not a label
    fields: dict[str, Any] = {
        "csrf_token": doctor.csrf,
        "intake_version": "1",
        "age_y": "50",
        "sex": "female",
        "weight_kg": "80",
        "diagnoses": ["G50.0"],
        "pain_mechanism": "neuropathic",
        "pain_duration_months": "30",
        "baseline_nrs": "7",
        "systolic": "120",
        "diastolic": "130",
        "pregnant": "no",
        "breastfeeding": "no",
        "phq9": "",
        "treatment_name": ["carbamazepine", "pregabalin"],
        "treatment_outcome": ["failed", "failed"],
        "medications": "paracetamol\nnaproxen",
    }
    bad = doctor.post(f"/patients/{pid}/screening/new", data=fields)
    assert bad.status_code == 422 and "<li>Blood pressure: " in bad.text and "blood_pressure." not in bad.text
    assert 'name="diastolic" type="number" value="130"' in bad.text  # what was typed is kept
    fields["diastolic"] = "80"
    fields["conditions"] = ["glaucoma"]
    made = doctor.post(f"/patients/{pid}/screening/new", data=fields)
    assert made.status_code == 303, made.text
    page = doctor.get(made.headers["location"])
    assert "Eligible with precautions" in page.text and "Sign screening" in page.text
    assert "Cohen" in page.text  # every reason shows its source
    assert "120/80 mmHg" in page.text and "mm[Hg]" not in page.text
    sid = int(made.headers["location"].rsplit("/", 1)[1])
    # Opened at version 1, then a second tab edits the draft: the first tab's signature is refused
    # with the draft as it now stands, and signing what was read is then deliberate.
    opened = {"csrf_token": doctor.csrf, "version": "1"}
    edited = {**fields, "version": "1", "baseline_nrs": "8"}
    assert doctor.post(f"/screenings/{sid}/edit", data=edited).status_code == 303
    stale = doctor.post(f"/screenings/{sid}/sign", data=opened)
    assert stale.status_code == 409 and "was changed after you opened it, so it was not signed" in stale.text
    assert 'name="version" value="2"' in stale.text
    signed = doctor.post(f"/screenings/{sid}/sign", data={**opened, "version": "2"})
    assert signed.status_code == 303
    assert doctor.post(f"/screenings/{sid}/sign", data={**opened, "version": "3"}).status_code == 409
    assert doctor.get(f"/screenings/{sid}/edit").status_code == 409

    template = current_consent_template()
    consent_form = doctor.get(f"/patients/{pid}/consent/new?protocol=valle2024")
    assert consent_form.status_code == 200 and template.risks[0].label in consent_form.text
    data: dict[str, Any] = {
        "csrf_token": doctor.csrf,
        "template_version": template.version,
        "protocol_id": "valle2024",
        "alternatives": [template.alternatives[0].code],
        "patient_signature": "Sam Roe",
        "witness": "Nina Nurse",
    }
    data |= {f"risk_{r.code}": "yes" for r in template.risks[1:]}
    incomplete = doctor.post(f"/patients/{pid}/consent/new", data=data)
    assert incomplete.status_code == 422
    assert f"<li>Risks discussed: {template.risks[0].label} is not marked discussed" in incomplete.text
    data[f"reason_{template.risks[0].code}"] = "patient asked to skip"
    done = doctor.post(f"/patients/{pid}/consent/new", data=data)
    assert done.status_code == 303
    hub = doctor.get(f"/patients/{pid}/screening")
    assert "screening signed and consent in force" in hub.text

    listing = doctor.get("/screening")
    assert listing.status_code == 200 and "Roe, Sam" in listing.text
    nurse = page_client("nurse")
    assert nurse.get(f"/screenings/{sid}").status_code == 200
    assert nurse.get(f"/patients/{pid}/screening/new").status_code == 403
    assert nurse.get(f"/patients/{pid}/consent/new").status_code == 403


def test_a_clinic_protocol_can_be_consented_on_the_form_and_over_the_api(
    app: Any,
    page_client: Callable[[str], TestClient],
    api_client: Client,
    web_db: Database,
    web_staff: dict[str, Actor],
    tmp_path: Path,
) -> None:
    config_dir = tmp_path / "clinic"
    (config_dir / "protocols").mkdir(parents=True)
    shipped = Path(ketaclinic.data.__file__).resolve().parent / "protocols" / "cohen2018-test.toml"
    (config_dir / "protocols" / "clinic-test.toml").write_text(
        shipped.read_text(encoding="utf-8").replace('id = "cohen2018-test"', 'id = "clinic-test"'),
        encoding="utf-8",
    )
    app.state.settings = replace(app.state.settings, config_dir=config_dir)
    pid = _patient(web_db, web_staff)
    doctor = page_client("physician")
    form = doctor.get(f"/patients/{pid}/consent/new?protocol=clinic-test")
    assert form.status_code == 200 and '<option value="clinic-test" selected>' in form.text
    template = current_consent_template()
    data: dict[str, Any] = {
        "csrf_token": doctor.csrf,
        "template_version": template.version,
        "protocol_id": "clinic-test",
        "alternatives": [template.alternatives[0].code],
        "patient_signature": "Sam Roe",
        "witness": "Nina Nurse",
    } | {f"risk_{r.code}": "yes" for r in template.risks}
    done = doctor.post(f"/patients/{pid}/consent/new", data=data)
    assert done.status_code == 303, done.text
    api = api_client("physician")
    (signed,) = api.get(f"/api/v1/patients/{pid}/consents").json()
    assert signed["protocol_id"] == "clinic-test"
    assert signed["protocol_name"].startswith("Consensus test infusion")
    hub = doctor.get(f"/patients/{pid}/screening")
    assert hub.status_code == 200 and "clinic-test" in hub.text
    again = api.post(f"/api/v1/patients/{pid}/consents", json=_consent("clinic-test"))
    assert again.status_code == 201, again.text
    withdrawn = api.post(f"/api/v1/consents/{again.json()['id']}/withdraw", json={"reason": "test"})
    assert withdrawn.status_code == 200 and withdrawn.json()["protocol_name"].startswith("Consensus")
