"""The appointments API: book a series, list it, move, cancel, the .ics; problems name the field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from fastapi.testclient import TestClient

from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests import factories


def test_book_list_move_cancel_and_the_ics(
    api_client: Callable[[str | None], TestClient], web_db: Database, web_staff: dict[str, Actor]
) -> None:
    plan_id = factories.approved_plan(web_db, web_staff, mrn="API-1", protocol_id="cleveland2025")
    nurse = api_client("nurse")
    proposal = nurse.get("/api/v1/appointments/proposal", params={"plan_id": plan_id})
    assert proposal.status_code == 200, proposal.text
    slots = [{k: s[k] for k in ("session_number", "chair", "starts_at")} for s in proposal.json()["slots"]]
    booked = nurse.post("/api/v1/appointments/series", json={"plan_id": plan_id, "slots": slots})
    assert booked.status_code == 201, booked.text
    rows = booked.json()
    assert [r["starts_at"] for r in rows] == [s["starts_at"] for s in slots]
    again = nurse.post("/api/v1/appointments/series", json={"plan_id": plan_id})
    assert again.status_code == 409 and "booked already" in again.json()["detail"]
    listed = nurse.get(
        "/api/v1/appointments", params={"plan_id": plan_id, "to": str(date.today() + timedelta(60))}
    )
    assert [r["id"] for r in listed.json()] == [r["id"] for r in rows]
    stale = nurse.post(
        f"/api/v1/appointments/{rows[0]['id']}/cancel", json={"version": 2, "reason": "unwell"}
    )
    assert stale.status_code == 422 and stale.json()["field"] == "version"
    missing = nurse.post(f"/api/v1/appointments/{rows[0]['id']}/cancel", json={"version": 1})
    assert missing.status_code == 422
    cancelled = nurse.post(
        f"/api/v1/appointments/{rows[0]['id']}/cancel", json={"version": 1, "reason": "unwell"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    ics = nurse.get("/api/v1/appointments/ics", params={"patient_id": rows[0]["patient_id"]})
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    assert ics.text.count("BEGIN:VEVENT") == 5 and "STATUS:CANCELLED" in ics.text
    assert (
        api_client("researcher").post("/api/v1/appointments/series", json={"plan_id": plan_id}).status_code
        == 403
    )
    bad = nurse.get("/api/v1/appointments", params={"from": "2026-12-10", "to": "2026-12-01"})
    assert bad.status_code == 422 and bad.json()["field"] == "to"
