"""In a real browser: a nurse registers a patient and finds it; a researcher sees no names."""

from __future__ import annotations

import pytest

from tests.conftest import screenshot, without_random_tokens

pytestmark = pytest.mark.browser


def test_nurse_registers_and_finds_a_patient_researcher_sees_no_names(browser_login) -> None:  # type: ignore[no-untyped-def]
    nurse = browser_login("nurse")
    screenshot(nurse, "home-nurse")
    nurse.click("text=Patients")
    nurse.click("text=Register a patient")
    nurse.fill("input[name=mrn]", "BR-77")
    nurse.fill("input[name=family_name]", "Brightwater")
    nurse.fill("input[name=given_name]", "Helena")
    nurse.fill("input[name=birth_date]", "1968-04-12")
    nurse.select_option("select[name=sex]", "female")
    nurse.fill("input[name=weight_kg]", "500")
    nurse.select_option("select[name=diagnoses]", ["G50.0"])
    nurse.fill("input[name=treatment_name] >> nth=0", "carbamazepine")
    nurse.click("button:has-text('Register')")
    nurse.wait_for_selector(".field-error")  # the form is sent once the login is checked
    screenshot(nurse, "patient-form-error")
    nurse.fill("input[name=weight_kg]", "72.5")
    nurse.click("button:has-text('Register')")
    nurse.wait_for_selector("h1:has-text('Brightwater, Helena')")
    assert "Trigeminal neuralgia" in nurse.content()
    screenshot(nurse, "patient-record")
    nurse.click("text=Patients")
    nurse.fill("input[type=search]", "bright")
    nurse.wait_for_selector("#patients-table td:has-text('Brightwater')")
    screenshot(nurse, "patient-list-search")

    researcher = browser_login("researcher")
    researcher.click("text=Patients")
    researcher.wait_for_selector("#patients-table")
    text = without_random_tokens(researcher.content())
    assert "De-identified view" in text
    assert "Brightwater" not in text and "BR-77" not in text and "1968-04-12" not in text
    assert researcher.locator("#patients-table tbody tr").count() == 1
    screenshot(researcher, "patient-list-researcher")
