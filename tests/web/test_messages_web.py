"""A patient's messages over the API and on the patient page; the public opt-out page and its POST."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from ketaclinic.services.messages.outbox import enqueue
from ketaclinic.services.messages.worker import channels_for, run_pass
from ketaclinic.services.patients.records import load_patient
from ketaclinic.services.permissions import Actor
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests import factories
from tests.services.messages_support import outbox_settings, queue_plain, reachable, states
from tests.smtp_sink import smtp_sink, text_of

Client = Callable[[str | None], TestClient]


def _patient_with_messages(web_db: Database, web_staff: dict[str, Actor], tmp_path: Path) -> tuple[int, str]:
    """A patient with one sent message and one queued; the sent one's opt-out token."""
    pid = factories.make_patient(web_db, web_staff["nurse"], mrn="W-1")
    reachable(web_db, web_staff["nurse"], pid)
    with smtp_sink() as sink:
        settings = outbox_settings(web_db, tmp_path, sink.url)
        queue_plain(web_db, settings, pid, 1)
        run_pass(web_db, settings, channels_for(settings), worker="w")
        [mail] = sink.received
    queued = outbox_settings(web_db, tmp_path)
    with web_db.transaction() as session:
        now = utcnow()
        enqueue(
            session,
            queued,
            load_patient(session, pid),
            kind="appointment_reminder",
            unique_key=f"later:{pid}",
            subject="Later",
            body="Later.",
            due_at=now,
            now=now,
        )
    found = re.search(r"/o/([A-Za-z0-9_-]+)", text_of(mail))
    assert found
    return pid, found.group(1)


def test_the_api_lists_a_patients_messages_for_clinical_staff_only(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid, _token = _patient_with_messages(web_db, web_staff, tmp_path)
    answer = api_client("nurse").get(f"/api/v1/patients/{pid}/messages")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [(m["kind"], m["state"]) for m in body["messages"]] == [
        ("appointment_reminder", "queued"),
        ("notice", "sent"),
    ]
    assert "body" not in body["messages"][0] and body["messages"][1]["sent_at"]
    assert api_client("researcher").get(f"/api/v1/patients/{pid}/messages").status_code == 403
    assert api_client(None).get(f"/api/v1/patients/{pid}/messages").status_code == 401
    missing = api_client("nurse").get("/api/v1/patients/99999/messages")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(
        "application/problem+json"
    )


def test_the_patient_page_loads_the_messages_card(
    page_client: Callable[[str], TestClient], web_db: Database, web_staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid, _token = _patient_with_messages(web_db, web_staff, tmp_path)
    client = page_client("nurse")
    page = client.get(f"/patients/{pid}")
    assert f'hx-get="/patients/{pid}/messages"' in page.text
    card = client.get(f"/patients/{pid}/messages")
    assert card.status_code == 200 and 'id="messages"' in card.text
    assert (
        "Appointment reminder" in card.text and "message-sent" in card.text and "message-queued" in card.text
    )


def test_opting_out_asks_first_then_withdraws_consent_without_a_login(  # type: ignore[no-untyped-def]
    app, web_db: Database, web_staff: dict[str, Actor], tmp_path: Path
) -> None:
    pid, token = _patient_with_messages(web_db, web_staff, tmp_path)
    visitor = TestClient(app, raise_server_exceptions=False)
    asked = visitor.get(f"/o/{token}")
    assert asked.status_code == 200 and "Send me no more messages" in asked.text
    with web_db.read() as session:
        assert load_patient(session, pid).contact_consent is True  # opening the link changes nothing
    done = visitor.post(f"/o/{token}")
    assert done.status_code == 200 and "You will receive no more messages" in done.text
    assert sorted(states(web_db).values()) == ["cancelled", "sent"]
    with web_db.read() as session:
        assert load_patient(session, pid).contact_consent is False
    assert "already recorded" in visitor.get(f"/o/{token}").text
    unknown = visitor.get("/o/" + "x" * 32)
    assert unknown.status_code == 404 and "cannot be used" in unknown.text
