"""In a real browser: a clinic's own protocol is consented to and planned; approving a draft that the
changed protocol would dose differently shows why, and approves once the protocol is back."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import ketaclinic.data
from ketaclinic.services.patients.registry import PatientCreate, register_patient
from ketaclinic.services.permissions import Actor
from ketaclinic.services.screening import screenings as screening_service
from ketaclinic.store.db import Database
from tests.conftest import screenshot
from tests.screening.screening_samples import eligible_tn

pytestmark = pytest.mark.browser


def _clinic_protocol(config_dir: Path, dose_mg: int) -> None:
    shipped = Path(ketaclinic.data.__file__).resolve().parent / "protocols" / "cohen2018-test.toml"
    text = shipped.read_text(encoding="utf-8").replace('id = "cohen2018-test"', 'id = "clinic-test"')
    (config_dir / "protocols" / "clinic-test.toml").write_text(
        text.replace("dose_mg = { value = 80,", f"dose_mg = {{ value = {dose_mg},"), encoding="utf-8"
    )


def test_clinic_protocol_consent_plan_and_approval_recheck(  # type: ignore[no-untyped-def]
    app: Any, browser_login, web_db: Database, web_staff: dict[str, Actor], tmp_path: Path
) -> None:
    config_dir = tmp_path / "clinic"
    (config_dir / "protocols").mkdir(parents=True)
    _clinic_protocol(config_dir, 80)
    app.state.settings = replace(app.state.settings, config_dir=config_dir)
    physician = web_staff["physician"]
    patient_id = register_patient(
        web_db,
        physician,
        PatientCreate(
            mrn="BR-1",
            family_name="Okafor",
            given_name="Ines",
            birth_date=date(1969, 8, 14),
            sex="female",
            weight_kg=70,
            height_cm=165,
            diagnoses=["G50.0"],
        ),
        config=None,
    ).id
    made = screening_service.create_screening(
        web_db, physician, patient_id, screening_service.ScreeningIn(intake=eligible_tn())
    )
    screening_service.sign_screening(
        web_db, physician, made.id, screening_service.SignIn(version=made.version)
    )

    doctor = browser_login("physician")
    doctor.goto(f"/patients/{patient_id}/consent/new")
    doctor.select_option("select[name=protocol_id]", "clinic-test")
    for box in doctor.locator("input[type=checkbox][name^=risk_]").all():
        box.check()
    doctor.locator("input[name=alternatives]").first.check()
    doctor.fill("input[name=patient_signature]", "Ines Okafor")
    doctor.fill("input[name=witness]", "Nina Nurse")
    screenshot(doctor, "consent-form-clinic-protocol")
    doctor.click("button:has-text('Sign consent')")
    doctor.wait_for_selector("text=screening signed and consent in force")

    doctor.goto(f"/patients/{patient_id}/plans/new")
    doctor.select_option("select[name=protocol_id]", "clinic-test")
    doctor.click("button:has-text('Compute and check plan')")
    doctor.wait_for_selector("h1:has-text('Dose plan #')")
    _clinic_protocol(config_dir, 75)  # the clinic edits its protocol after the draft: 30 mg/h, not 32
    doctor.click("button:has-text('Approve plan')")
    alert = doctor.locator(".alert-hard").first.inner_text()
    assert "session 1 segment 1 rate_mg_h 32 -> 30" in alert and "create a new plan" in alert
    screenshot(doctor, "plan-approval-refused-protocol-changed")
    _clinic_protocol(config_dir, 80)
    doctor.click("button:has-text('Approve plan')")
    doctor.wait_for_selector(".tag:has-text('approved')")
