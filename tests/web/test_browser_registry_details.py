"""In a real browser: a refused registration keeps every typed field and names both problems; a consent
signed in another name is refused, then accepted from a legal representative; the record page shows and
edits allergies, contact details and the referring physician."""

from __future__ import annotations

import pytest

from ketaclinic.services.patients import registry
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.conftest import screenshot
from tests.factories import make_patient

pytestmark = pytest.mark.browser


def test_registration_with_two_errors_keeps_every_typed_field(browser_login) -> None:  # type: ignore[no-untyped-def]
    nurse = browser_login("nurse")
    nurse.goto("/patients/new")
    typed = {
        "input[name=mrn]": "BR-REG-2",
        "input[name=family_name]": "Okonkwo",
        "input[name=given_name]": "Adaeze",
        "input[name=birth_date]": "2090-01-01",  # in the future
        "input[name=weight_kg]": "900",  # above the largest plausible weight
        "input[name=height_cm]": "168",
        "input[name=pain_duration_months]": "30",
        "input[name=treatment_name] >> nth=0": "pregabalin",
        "textarea[name=notes]": "Referred after two failed nerve blocks.",
    }
    for selector, value in typed.items():
        nurse.fill(selector, value)
    nurse.select_option("select[name=sex]", "female")
    nurse.select_option("select[name=diagnoses]", ["G50.0"])
    nurse.select_option("select[name=pain_mechanism]", "neuropathic")
    nurse.click("button:has-text('Register')")
    nurse.wait_for_selector(".alert-critical li")
    problems = nurse.locator(".alert-critical li").all_inner_texts()
    assert len(problems) == 2, problems
    assert any(p.startswith("Date of birth: birth date is in the future") for p in problems)
    assert any(p.startswith("Weight: must be at most") and "900 kg was entered" in p for p in problems)
    for selector, value in typed.items():
        assert nurse.input_value(selector) == value, selector
    assert nurse.input_value("select[name=sex]") == "female"
    assert nurse.input_value("select[name=pain_mechanism]") == "neuropathic"
    assert nurse.locator("select[name=diagnoses] option:checked").all_inner_texts()[0].startswith("G50.0")
    screenshot(nurse, "registration-two-errors")
    nurse.fill("input[name=birth_date]", "1969-02-03")
    nurse.fill("input[name=weight_kg]", "68")
    nurse.click("button:has-text('Register')")
    nurse.wait_for_selector("h1:has-text('Okonkwo, Adaeze')")


def test_consent_in_another_name_is_refused_then_signed_by_a_representative(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    from tests.factories import make_treatable

    pid = make_patient(web_db, web_staff["nurse"], mrn="BR-CON-1", family_name="Lindqvist", given_name="Maja")
    make_treatable(web_db, web_staff, pid, "valle2024")  # a signed screening (and a first consent)
    doctor = browser_login("physician")
    doctor.goto(f"/patients/{pid}/consent/new?protocol=valle2024")
    doctor.wait_for_selector("h2:has-text('Risks discussed')")
    page = doctor.content()
    assert (
        "Reg Anesth Pain Med 2018" in page and "digest" not in page.lower() and "issue 5" not in page.lower()
    )
    for box in doctor.locator("input[type=checkbox][name^=risk_]").all():
        box.check()
    doctor.locator("input[name=alternatives]").first.check()
    doctor.fill("input[name=patient_signature]", "Erik Lindqvist")
    doctor.fill("input[name=witness]", "Nina Nurse")
    doctor.click("button:has-text('Sign consent')")
    doctor.wait_for_selector(".alert-critical li")
    problems = doctor.locator(".alert-critical li").all_inner_texts()
    assert len(problems) == 1 and problems[0].startswith("Signature: the signature 'Erik Lindqvist' is not")
    assert doctor.input_value("input[name=patient_signature]") == "Erik Lindqvist"
    assert doctor.input_value("input[name=witness]") == "Nina Nurse"
    assert (
        doctor.locator("input[type=checkbox][name^=risk_]:checked").count()
        == doctor.locator("input[type=checkbox][name^=risk_]").count()
    )
    screenshot(doctor, "consent-signature-refused")
    doctor.check("input[name=signed_by][value=representative]")
    doctor.select_option("select[name=representative_relation]", "spouse_partner")
    doctor.click("button:has-text('Sign consent')")
    doctor.wait_for_selector("h2:has-text('Consents')")
    signer = doctor.locator("td:has-text('Erik Lindqvist')").inner_text()
    assert signer.startswith("Erik Lindqvist as legal representative (spouse or partner)")
    screenshot(doctor, "consent-signed-by-representative")


def test_the_record_page_shows_and_edits_allergies_contact_and_referrer(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    pid = make_patient(web_db, web_staff["nurse"], mrn="BR-REG-3", family_name="Moreau", given_name="Élise")
    nurse = browser_login("nurse")
    nurse.goto(f"/patients/{pid}")
    nurse.wait_for_selector("#allergies h2:has-text('Not asked yet')")
    nurse.fill("#allergies input[name=substance]", "Penicillin")
    nurse.click("#allergies button:has-text('Add allergy')")
    nurse.wait_for_selector("#allergies .alert-critical")
    summary = nurse.inner_text("#allergies .alert-critical")
    assert "Reaction: is required" in summary and "Severity: is required" in summary
    assert nurse.input_value("#allergies input[name=substance]") == "Penicillin"
    nurse.fill("#allergies input[name=reaction]", "hives and wheeze")
    nurse.select_option("#allergies select[name=severity]", "severe")
    nurse.click("#allergies button:has-text('Add allergy')")
    nurse.wait_for_selector("#allergies td:has-text('Penicillin')")
    assert "Allergies recorded" in nurse.inner_text("#allergies h2")

    nurse.click("#contact summary")
    nurse.fill("#contact input[name=email]", "elise@")
    nurse.fill("#contact input[name=phone]", "12")
    nurse.select_option("#contact select[name=preferred_channel]", "sms")
    nurse.check("#contact input[name=consent_to_contact][value=yes]")
    nurse.click("#contact button:has-text('Save contact details')")
    nurse.wait_for_selector("#contact .alert-critical")
    summary = nurse.inner_text("#contact .alert-critical")
    assert "E-mail:" in summary and "Phone:" in summary and "Date of that answer:" in summary
    assert nurse.input_value("#contact input[name=email]") == "elise@"
    assert nurse.input_value("#contact select[name=preferred_channel]") == "sms"
    screenshot(nurse, "registry-contact-errors")
    nurse.fill("#contact input[name=email]", "elise.moreau@example.org")
    nurse.fill("#contact input[name=phone]", "+33 6 12 34 56 78")
    nurse.fill("#contact input[name=consent_on]", "2026-12-01")
    nurse.click("#contact button:has-text('Save contact details')")
    nurse.wait_for_selector("#contact dd:has-text('+33612345678')")

    nurse.click("#referrer summary")
    nurse.fill("#referrer input[name=name]", "Dr Ana Silva")
    nurse.fill("#referrer input[name=identifier]", "RPPS 10001234567")
    nurse.fill("#referrer textarea[name=address]", "12 rue de la Paix\n75002 Paris")
    nurse.click("#referrer button:has-text('Save referring physician')")
    nurse.wait_for_selector("#referrer dd:has-text('Dr Ana Silva')")
    record = registry.view_patient(web_db, web_staff["nurse"], pid)
    assert record.contact.preferred_channel == "sms" and record.referrer is not None
    screenshot(nurse, "registry-record")

    nurse.fill("#allergies input[name=reason]", "belongs to another patient")
    nurse.click("#allergies button:has-text('Strike out')")
    nurse.wait_for_selector("#allergies tr.struck-out")
    nurse.click("#allergies button:has-text('Asked: no known allergies')")
    nurse.wait_for_selector("#allergies h2:has-text('No known allergies')")
    screenshot(nurse, "registry-allergy-struck-out")
