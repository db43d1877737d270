"""The scheduling screens: book a series from the plan page, move one appointment, the calendar form."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests import factories

SLOT = re.compile(r'name="slot" value="([^"]+)"')


def test_book_from_the_plan_page_then_move_one_and_see_the_patient_page(
    page_client: Callable[[str], TestClient], web_db: Database, web_staff: dict[str, Actor]
) -> None:
    plan_id = factories.approved_plan(web_db, web_staff, mrn="W-1", protocol_id="cleveland2025")
    nurse = page_client("nurse")
    assert 'id="book-series"' in nurse.get(f"/plans/{plan_id}").text
    page = nurse.get(f"/plans/{plan_id}/book")
    assert page.status_code == 200 and "Book these 5 appointments" in page.text
    slots = SLOT.findall(page.text)
    answer = nurse.post(f"/plans/{plan_id}/book", data={"csrf_token": nurse.csrf, "slot": slots})
    assert answer.status_code == 303, answer.text
    patient_page = answer.headers["location"].split("#")[0]
    card = nurse.get(f"{patient_page}/appointments")
    assert card.text.count("move or cancel") == 5
    again = nurse.post(f"/plans/{plan_id}/book", data={"csrf_token": nurse.csrf, "slot": slots})
    assert again.status_code == 409 and "booked already" in again.text
    first = re.search(r'href="/appointments/(\d+)"', card.text)
    assert first
    form = nurse.get(f"/appointments/{first.group(1)}")
    assert form.status_code == 200 and 'name="version" value="1"' in form.text
    when = datetime.fromisoformat(slots[0].split("|")[2]).astimezone()
    moved = nurse.post(
        f"/appointments/{first.group(1)}",
        data={
            "csrf_token": nurse.csrf,
            "version": "1",
            "action": "move",
            "starts_at": (when + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M"),
            "reason": "patient asked",
        },
    )
    # 15 min later runs past closing only for a slot booked late in the afternoon of today
    assert moved.status_code == 303 or (moved.status_code == 409 and "after closing" in moved.text), (
        moved.text
    )
    stale = nurse.post(
        f"/appointments/{first.group(1)}",
        data={"csrf_token": nurse.csrf, "version": "1", "action": "cancel", "reason": "unwell"},
    )
    if moved.status_code == 303:
        assert stale.status_code == 409 and "changed after you opened" in stale.text
    assert nurse.get(f"/plans/{plan_id}/book").status_code == 409  # every session booked: said, not a 500


def test_the_calendar_screen_saves_and_refuses_a_bad_value(page_client: Callable[[str], TestClient]) -> None:
    admin = page_client("admin")
    page = admin.get("/admin/calendar")
    assert page.status_code == 200 and "local-policy" in page.text
    form = {
        "csrf_token": admin.csrf,
        "version": "1",
        "open_weekdays": ["mon", "tue", "wed", "thu", "fri", "sat"],
        "opens_at": "07:30",
        "closes_at": "19:00",
        "closed_dates": "2026-12-25\n2026-12-26",
        "chair_id": ["chair-1", "bed-1", ""],
        "chair_name": ["Chair 1", "Bed 1", ""],
        "chair_kinds_0": ["outpatient_chair"],
        "chair_kinds_1": ["inpatient_bed"],
        "nurses_on_duty": "3",
        "infusions_per_nurse": "2",
        "checkin_min": "20",
        "slot_min": "15",
    }
    saved = admin.post("/admin/calendar", data=form)
    assert saved.status_code == 303, saved.text
    shown = admin.get("/admin/calendar").text
    assert 'value="07:30"' in shown and "set on the calendar screen by admin" in shown
    bad = admin.post("/admin/calendar", data=form | {"version": "2", "closes_at": "07:00"})
    assert bad.status_code == 422 and "closes_at" in bad.text
    assert page_client("nurse").get("/admin/calendar").status_code == 403


def test_a_no_show_is_counted_on_the_course_and_the_dashboard(
    page_client: Callable[[str], TestClient], web_db: Database, web_staff: dict[str, Actor]
) -> None:
    from sqlalchemy import update

    from ketaclinic.services.scheduling import booking, changes
    from ketaclinic.store.base import utcnow
    from ketaclinic.store.tables.scheduling import Appointment

    plan_id = factories.approved_plan(web_db, web_staff, mrn="NS-1", protocol_id="cohen2018-test")
    (booked,) = booking.book_series(web_db, web_staff["nurse"], booking.BookSeriesIn(plan_id=plan_id), None)
    with web_db.transaction() as session:  # the appointment began an hour ago
        session.execute(
            update(Appointment)
            .where(Appointment.id == booked.id)
            .values(starts_at=utcnow() - timedelta(hours=1))
        )
    changes.no_show(
        web_db, web_staff["nurse"], booked.id, changes.EndIn(version=1, reason="did not come"), None
    )
    patient = page_client("nurse").get(f"/patients/{booked.patient_id}")
    assert 'id="course-no-shows"' in patient.text and "1 no-show(s)" in patient.text
    dashboard = page_client("physician").get("/analytics")
    assert dashboard.status_code == 200 and 'id="no-shows"' in dashboard.text
