"""In a real browser: deactivation logs a nurse out at her next click; a reset forces a password change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.conftest import STAFF_PASSWORD, screenshot
from tests.factories import make_patient

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots-acct")
TEMPORARY = "temporary-pass-1"


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot(page, name), SHOTS / f"{name}.png")


def test_a_deactivated_nurse_lands_on_login_at_her_next_click(browser_login) -> None:  # type: ignore[no-untyped-def]
    nurse = browser_login("nurse")
    admin = browser_login("admin")
    admin.click("nav >> text=Users")
    admin.wait_for_selector("h1:has-text('Staff accounts')")
    admin.click("button[aria-label='Deactivate nurse']")
    admin.wait_for_selector("text=Account deactivated")
    assert "deactivated" in admin.locator("#user-nurse").inner_text()
    _shot(admin, "admin-users-deactivated")
    nurse.click("nav >> text=Patients")
    nurse.wait_for_url("**/login**")
    assert nurse.locator("h1").inner_text() == "Log in"
    _shot(nurse, "nurse-after-deactivation")
    nurse.fill("input[name=username]", "nurse")
    nurse.fill("input[name=password]", STAFF_PASSWORD)
    nurse.click("button[type=submit]")
    nurse.wait_for_selector("text=Invalid username or password")


def test_a_reset_password_must_be_changed_at_the_next_login(browser_login, live_server: str) -> None:  # type: ignore[no-untyped-def]
    physician = browser_login("physician")
    admin = browser_login("admin")
    admin.click("nav >> text=Users")
    admin.fill("input[aria-label='Temporary password for physician']", TEMPORARY)
    admin.click("button[aria-label='Reset password of physician']")
    admin.wait_for_selector("text=Temporary password set")
    assert "must change password" in admin.locator("#user-physician").inner_text()
    _shot(admin, "admin-users-reset")

    physician.click("nav >> text=Patients")  # the reset ended this login
    physician.wait_for_url("**/login**")
    physician.fill("input[name=username]", "physician")
    physician.fill("input[name=password]", TEMPORARY)
    physician.click("button[type=submit]")
    physician.wait_for_url(f"{live_server}/account/password")
    physician.wait_for_selector("text=An administrator reset your password")
    assert physician.locator("nav[aria-label=Main]").count() == 0
    _shot(physician, "forced-password-change")
    physician.goto("/patients")  # nothing else opens
    physician.wait_for_url(f"{live_server}/account/password")

    physician.fill("input[name=current_password]", TEMPORARY)
    physician.fill("input[name=new_password]", TEMPORARY)
    physician.fill("input[name=confirm_password]", TEMPORARY)
    physician.click("button:has-text('Set new password')")
    physician.wait_for_selector(".field-error:has-text('must differ')")
    _shot(physician, "forced-password-change-refused")
    physician.fill("input[name=current_password]", TEMPORARY)
    physician.fill("input[name=new_password]", "the-physicians-own")
    physician.fill("input[name=confirm_password]", "the-physicians-own")
    physician.click("button:has-text('Set new password')")
    physician.wait_for_url(f"{live_server}/")
    physician.click("nav >> text=Patients")
    physician.wait_for_url(f"{live_server}/patients**")


def test_the_token_and_audit_screens(browser_login, web_db: Database, web_staff: dict[str, Actor]) -> None:  # type: ignore[no-untyped-def]
    make_patient(web_db, web_staff["nurse"], family_name="Brightwater", mrn="BW-1")
    nurse = browser_login("nurse")
    nurse.click("nav >> text=API tokens")
    nurse.fill("input[name=name]", "ward script")
    nurse.fill("input[name=expires_in_days]", "30")
    nurse.click("button:has-text('Create token')")
    nurse.wait_for_selector("#new-token")
    assert "never" in nurse.locator("table.grid").inner_text()
    _shot(nurse, "tokens-with-expiry")
    nurse.click("nav >> text=Password")
    nurse.wait_for_selector("h1:has-text('Change password')")
    _shot(nurse, "self-service-password")
    admin = browser_login("admin")
    admin.click("nav >> text=Audit trail")
    admin.wait_for_selector("h1:has-text('Audit trail')")
    text = admin.locator("table.grid").inner_text()
    assert "Brightwater" not in text and "BW-1" not in text and "•••" in text
    _shot(admin, "audit-trail-admin")
