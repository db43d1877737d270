"""In a real browser: a physician builds the consensus series with her own choices (a wrong one first, a
double click), a nurse co-signs and programs the pump from the sheet, and the sheet's rate charts cleanly."""

from __future__ import annotations

from datetime import date

import pytest

from ketaclinic.services.permissions import Actor
from ketaclinic.services.plans.records import list_plans
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.services.sessions.lifecycle import CheckInIn, check_in
from ketaclinic.store.db import Database
from tests.conftest import SCREENSHOTS, screenshot
from tests.factories import make_patient, make_treatable
from tests.services.sessions_support import CHECK_IN

pytestmark = pytest.mark.browser
SERIES = "cohen2018-series"


def test_series_choices_pump_sheet_and_charting_the_sheets_rate(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    patient_id = make_patient(
        web_db,
        web_staff["physician"],
        mrn="BR-R1",
        family_name="Okafor",
        given_name="Adaeze",
        birth_date=date(1975, 9, 14),
        weight_kg=67.3,
    )
    make_treatable(web_db, web_staff, patient_id, SERIES)
    doctor = browser_login("physician")
    doctor.goto(f"/patients/{patient_id}/plans/new")
    doctor.select_option("select[name=protocol_id]", SERIES)

    # A wrong value: zero mg/kg is refused on the form, naming the field, and stays there to correct.
    doctor.fill(f"input[name='choice.{SERIES}.dose_mg_kg']", "0")
    doctor.click("button:has-text('Compute and check plan')")
    doctor.wait_for_selector(".alert-hard:has-text('choices.dose_mg_kg')")
    assert doctor.input_value(f"input[name='choice.{SERIES}.dose_mg_kg']") == "0"
    screenshot(doctor, "rates-builder-wrong-choice")

    # 1.5 mg/kg (above the published 0.1-1 mg/kg) over 2 h, 6 sessions; a double click makes one plan.
    doctor.fill(f"input[name='choice.{SERIES}.dose_mg_kg']", "1.5")
    doctor.fill(f"input[name='choice.{SERIES}.sessions']", "6")
    screenshot(doctor, "rates-builder-choices")
    doctor.dblclick("button:has-text('Compute and check plan')")
    doctor.wait_for_selector("h1:has-text('Dose plan #')")
    assert len(list_plans(web_db, web_staff["physician"], patient_id=patient_id)) == 1
    choices = doctor.locator("#choices").inner_text()
    assert "dose per kg: 1.5 mg/kg is above the published range 0.1-1 mg/kg" in choices
    assert "sessions in the series: 6 sessions is within the published range 4-6 sessions" in choices
    # 1.5 x 67.3 kg over 2 h = 50.475 mg/h, programmed as 50.4 mL/h at 1 mg/mL
    assert doctor.locator("#session-1 td.num strong").first.inner_text() == "50.4"
    screenshot(doctor, "rates-plan-draft-choice-breach")
    for part in ("choices", "session-1", "soft-breaches"):  # the parts to read, at full size
        doctor.locator(f"#{part}").screenshot(path=str(SCREENSHOTS / f"rates-plan-{part}.png"))
    doctor.click("button:has-text('Approve plan')")
    assert "need a reason" in doctor.locator(".alert-hard").first.inner_text()
    doctor.fill("input[name=reason_0]", "Partial response at 1 mg/kg in the test infusion; pain MDT agreed")
    doctor.click("button:has-text('Save reasons')")
    doctor.click("button:has-text('Approve plan')")
    doctor.wait_for_selector("text=awaiting co-signature")
    plan_url = doctor.url
    plan_id = int(plan_url.rsplit("/", 1)[1])

    nurse = browser_login("nurse")
    nurse.goto(plan_url)
    nurse.click("button:has-text('Co-sign')")
    nurse.wait_for_selector(".tag:has-text('approved')")
    nurse.goto(plan_url + "/sessions/1/pump-sheet")
    sheet_rate = nurse.locator(".pump-rate").first.inner_text()
    assert sheet_rate == "50.4"
    screenshot(nurse, "rates-pump-sheet")

    # The nurse programs exactly the sheet's number: the library and the plan accept it.
    sid = create_session(web_db, web_staff["nurse"], SessionCreate(plan_id=plan_id, session_number=1)).id
    check_in(
        web_db, web_staff["nurse"], sid, CheckInIn.model_validate(CHECK_IN | {"weight_kg": 67.3}), config=None
    )
    nurse.goto(f"/sessions/{sid}")
    nurse.fill("#rate input[name=rate]", sheet_rate)
    nurse.click("button:has-text('Check against library and plan')")
    nurse.wait_for_selector(".rate-verdict")
    verdict = nurse.locator(".rate-verdict").inner_text()
    assert "OK" in verdict.upper() and "HARD" not in verdict.upper()
    screenshot(nurse, "rates-session-sheet-rate-check")
    nurse.click("button:has-text('Confirm start')")
    nurse.wait_for_selector(".big-state:has-text('running')")
    assert "50.4 mL/h" in nurse.content()
    screenshot(nurse, "rates-session-running")
