"""In a real browser: a physician screens a patient, reads the verdict and its sources, signs, consents."""

from __future__ import annotations

import pytest

from ketaclinic.services.patients import registry
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.conftest import screenshot

pytestmark = pytest.mark.browser


def test_physician_screens_signs_and_records_consent(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    patient = registry.register_patient(
        web_db,
        web_staff["nurse"],
        registry.PatientCreate.model_validate(
            {
                "mrn": "BR-SCR-1",
                "family_name": "Lindqvist",
                "given_name": "Maja",
                "birth_date": "1971-09-30",
                "sex": "female",
                "weight_kg": 64.5,
                "diagnoses": ["G50.0"],
                "pain_mechanism": "neuropathic",
                "pain_duration_months": 52,
                "prior_treatments": [
                    {"name": "carbamazepine", "outcome": "intolerant"},
                    {"name": "baclofen", "outcome": "failed"},
                ],
            }
        ),
        config=None,
    )
    doctor = browser_login("physician")
    doctor.click("nav >> text=Screening")
    doctor.wait_for_selector("h1:has-text('Screening')")
    doctor.goto(f"/patients/{patient.id}")
    doctor.wait_for_selector("h1:has-text('Lindqvist, Maja')")
    doctor.goto(f"/patients/{patient.id}/screening")
    doctor.click("text=New screening")
    doctor.wait_for_selector("h1:has-text('Screening intake')")
    assert doctor.input_value("input[name=weight_kg]") == "64.5"  # pre-filled from the registry
    assert doctor.input_value("input[name=treatment_name] >> nth=0") == "carbamazepine"
    doctor.fill("input[name=baseline_nrs]", "8")
    doctor.fill("input[name=systolic]", "142")
    doctor.fill("input[name=diastolic]", "88")
    doctor.check("input[name=pregnant][value=no]")
    doctor.check("input[name=breastfeeding][value=no]")
    doctor.fill("input[name=phq9]", "21")
    doctor.fill("input[name=gad7]", "9")
    doctor.check("input[name=conditions][value=cardiovascular_risk]")
    doctor.fill("textarea[name=medications]", "paracetamol\nomeprazole")
    screenshot(doctor, "screening-intake-form")
    doctor.click("button:has-text('Evaluate')")

    doctor.wait_for_selector("[data-verdict]")
    assert doctor.get_attribute("[data-verdict]", "data-verdict") == "eligible_with_precautions"
    reasons = doctor.locator("tr.reason")
    assert reasons.count() >= 2  # PHQ-9 review and the cardiovascular-risk finding, each with a source
    assert "phq9" in doctor.content().lower() or "PHQ-9" in doctor.content()
    assert doctor.locator("tr.reason .tag.source").count() == reasons.count()
    assert "ECG" in doctor.content() or "Electrocardiogram" in doctor.content()
    assert "Vallé" in doctor.content()  # the published cohort beside the verdict
    screenshot(doctor, "screening-verdict")
    doctor.click("button:has-text('Sign screening')")
    doctor.wait_for_selector("text=(locked)")
    assert doctor.locator("button:has-text('Sign screening')").count() == 0

    doctor.click("text=Record consent")
    doctor.wait_for_selector("h2:has-text('Risks discussed')")
    doctor.select_option("select[name=protocol_id]", "valle2024")
    for box in doctor.locator("input[type=checkbox][name^=risk_]").all():
        box.check()
    doctor.locator("input[name=alternatives]").first.check()
    doctor.fill("input[name=patient_signature]", "Maja Lindqvist")
    doctor.fill("input[name=witness]", "Nina Nurse")
    screenshot(doctor, "consent-form")
    doctor.click("button:has-text('Sign consent')")
    doctor.wait_for_selector("text=screening signed and consent in force")
    assert "Maja Lindqvist" in doctor.content()
    screenshot(doctor, "screening-patient-hub")
