"""In a real browser: the patient page's Messages card (sent, failed, not sendable) and the opt-out page."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ketaclinic.services.messages.worker import channels_for, run_pass
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.conftest import PHONE, screenshot
from tests.factories import make_patient
from tests.services.messages_support import outbox_settings, queue_plain, reachable
from tests.smtp_sink import smtp_sink, text_of

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots-outbox")


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot(page, name), SHOTS / f"{name}.png")


def test_the_messages_card_and_the_opt_out_page(  # type: ignore[no-untyped-def]
    browser, browser_login, live_server: str, web_db: Database, web_staff: dict[str, Actor], tmp_path: Path
) -> None:
    nurse_actor = web_staff["nurse"]
    pid = make_patient(web_db, nurse_actor, mrn="BR-MSG-1", family_name="Achterberg", given_name="Ilse")
    reachable(web_db, nurse_actor, pid, email="ilse@example.org")
    with smtp_sink() as sink:
        settings = outbox_settings(web_db, tmp_path, sink.url)
        queue_plain(web_db, settings, pid, 1)
        run_pass(web_db, settings, channels_for(settings), worker="w")
        sent = text_of(sink.received[0])
        # The patient's address then refuses mail for good: marked, and the next message is not sendable.
        sink.refuse_rcpt.add("ilse@example.org")
        queue_plain(web_db, settings, pid, 2, first=1)
        run_pass(web_db, settings, channels_for(settings), worker="w")
    nurse = browser_login("nurse")
    nurse.goto(f"/patients/{pid}")
    nurse.wait_for_selector("#messages table#message-rows")
    card = nurse.locator("section#messages")
    assert "refused for good" in card.inner_text()
    states = card.locator("tbody .tag").all_inner_texts()
    assert sorted(states) == ["failed", "failed", "sent"], states
    card.scroll_into_view_if_needed()
    _shot(nurse, "patient-messages-card")
    card.screenshot(path=str(SHOTS / "patient-messages-card-only.png"))

    token = re.search(r"/o/([A-Za-z0-9_-]+)", sent)
    assert token
    patient = browser.new_context(viewport=PHONE, base_url=live_server).new_page()
    patient.goto(f"/o/{token.group(1)}")
    patient.wait_for_selector("button:has-text('Send me no more messages')")
    assert patient.locator(".topbar, nav").count() == 0
    _shot(patient, "opt-out-ask")
    patient.click("button:has-text('Send me no more messages')")
    patient.wait_for_selector("h1:has-text('You will receive no more messages')")
    _shot(patient, "opt-out-done")
