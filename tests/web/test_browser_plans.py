"""In a real browser: a physician builds a soft-limit plan, gives the reason, approves; a nurse co-signs;
the pump sheet shows mL/h first."""

from __future__ import annotations

from datetime import date

import pytest

from ketaclinic.services.patients.registry import PatientCreate, register_patient
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.conftest import screenshot
from tests.factories import make_treatable as _make_treatable

pytestmark = pytest.mark.browser


def test_plan_builder_approval_cosign_and_pump_sheet(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    patient_id = register_patient(
        web_db,
        web_staff["physician"],
        PatientCreate(
            mrn="BP-30",
            family_name="Lindqvist",
            given_name="Maren",
            birth_date=date(1971, 5, 2),
            sex="female",
            weight_kg=45,  # light: Valle's 150 mg over 3 h is above 1 mg/kg/h, a soft breach per session
            height_cm=168,
            diagnoses=["G50.0"],
        ),
        config=None,
    ).id
    _make_treatable(web_db, web_staff, patient_id, "valle2024")
    doctor = browser_login("physician")
    doctor.click("text=Dose plans")
    doctor.select_option("select[name=patient_id]", str(patient_id))
    doctor.click("text=Open plan builder")
    doctor.select_option("select[name=protocol_id]", "valle2024")
    doctor.fill("input[name=volume_ml]", "100")
    screenshot(doctor, "plan-builder")
    doctor.click("text=Where each protocol's numbers come from")
    sources = doctor.locator("#protocol-sources")
    assert "test dose dose_mg" in sources.inner_text()
    sources.screenshot(path=str(screenshot(doctor, "plan-builder-sources").with_name("protocol-sources.png")))
    doctor.click("button:has-text('Compute and check plan')")
    doctor.wait_for_selector("h1:has-text('Dose plan #')")
    assert doctor.locator("svg.chart").count() >= 2
    screenshot(doctor, "plan-draft-soft")
    doctor.click("button:has-text('Approve plan')")
    assert "need a reason" in doctor.locator(".alert-hard").first.inner_text()
    for box in doctor.locator("input[name^=reason_]").all():
        box.fill("Light patient; 150 mg per Valle 2024 agreed with the pain team")
    doctor.click("button:has-text('Save reasons')")
    doctor.click("button:has-text('Approve plan')")
    doctor.wait_for_selector("text=awaiting co-signature")
    plan_url = doctor.url

    nurse = browser_login("nurse")
    nurse.goto(plan_url)
    nurse.click("button:has-text('Co-sign')")
    nurse.wait_for_selector(".tag:has-text('approved')")
    screenshot(nurse, "plan-approved-cosigned")
    nurse.goto(plan_url + "/sessions/2/pump-sheet")
    rate = nurse.locator(".pump-rate").first
    assert rate.inner_text() == "50.0"  # 150 mg over 180 min at 1 mg/mL
    size = float(rate.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    others = nurse.locator("dd").evaluate_all("els => els.map(e => parseFloat(getComputedStyle(e).fontSize))")
    assert size > 2 * max(others)
    assert "Lindqvist" in nurse.content() and "Co-signed by" in nurse.content()
    screenshot(nurse, "pump-sheet")
    nurse.emulate_media(media="print")
    screenshot(nurse, "pump-sheet-print")
