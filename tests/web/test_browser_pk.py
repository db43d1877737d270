"""In a real browser: the PK explorer plots Cp and Ce over the sourced bands and warns out of population."""

from __future__ import annotations

import pytest

from tests.conftest import screenshot

pytestmark = pytest.mark.browser


def test_pk_explorer(browser_login) -> None:  # type: ignore[no-untyped-def]
    page = browser_login("physician")
    page.click("text=PK explorer")
    page.wait_for_selector("svg.chart")
    assert "Bowdle 1998" in page.content()
    page.fill("input[name=bolus_t_min] >> nth=0", "0")
    page.fill("input[name=bolus_dose_mg] >> nth=0", "20")
    page.fill("input[name=age_y]", "12")
    page.click("button:has-text('Simulate')")
    page.wait_for_selector("text=Out of the model's population")
    assert page.locator("table.pk-values tbody tr").count() > 10
    screenshot(page, "pk-explorer")
    page.select_option("select[name=model]", "herd2007")
    page.fill("input[name=age_y]", "8")
    page.fill("input[name=weight_kg]", "25")
    page.click("button:has-text('Simulate')")
    page.wait_for_selector("#pk-part-status")
    assert "Not in the Herd 2007 abstract" in page.locator("#pk-part-status").inner_text()
    herd = screenshot(page, "pk-explorer-herd")
    page.locator("section.pk-model").screenshot(path=str(herd.with_name("pk-model-herd.png")))
