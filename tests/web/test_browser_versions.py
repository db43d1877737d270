"""In a real browser, two tabs of one user edit one patient: the second save is refused, keeps what was
typed, and shows the first tab's change beside the field it changed."""

from __future__ import annotations

import pytest

from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.conftest import screenshot
from tests.factories import make_patient

pytestmark = pytest.mark.browser


def test_two_tabs_edit_one_patient_the_second_sees_the_first_ones_change(  # type: ignore[no-untyped-def]
    browser_login, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    patient_id = make_patient(
        web_db, web_staff["nurse"], mrn="TAB-1", family_name="Tabbot", given_name="Iris"
    )
    tab_a = browser_login("nurse")
    tab_b = tab_a.context.new_page()  # same user, same login, another tab
    for tab in (tab_a, tab_b):
        tab.goto(f"/patients/{patient_id}/edit")
        tab.wait_for_selector("h1:has-text('Edit Tabbot, Iris')")

    tab_a.fill("textarea[name=notes]", "Allergy: penicillin (rash, 2019)")
    tab_a.fill("input[name=reason]", "allergy reported by the patient")
    tab_a.click("button:has-text('Save changes')")
    tab_a.wait_for_selector("h1:has-text('Tabbot, Iris')")

    tab_b.fill("textarea[name=notes]", "Allergy: latex")
    tab_b.fill("input[name=given_name]", "Iris May")
    tab_b.fill("input[name=reason]", "second tab's edit")
    tab_b.click("button:has-text('Save changes')")
    tab_b.wait_for_selector(".stale-banner")
    screenshot(tab_b, "patient-edit-stale")

    assert tab_b.input_value("textarea[name=notes]") == "Allergy: latex"
    assert tab_b.input_value("input[name=given_name]") == "Iris May"
    assert tab_b.input_value("input[name=reason]") == "second tab's edit"
    beside_notes = tab_b.locator("textarea[name=notes] ~ .stale-change")
    assert beside_notes.count() == 1
    assert "penicillin (rash, 2019)" in beside_notes.inner_text()
    assert "changed by nurse" in beside_notes.inner_text()
    assert tab_b.locator(".stale-change").count() == 1  # the given name was not changed by tab A

    tab_b.click("button:has-text('Save changes')")  # saving again, having seen A's change, is deliberate
    tab_b.wait_for_selector("h1:has-text('Tabbot, Iris May')")
    assert "Allergy: latex" in tab_b.content()
