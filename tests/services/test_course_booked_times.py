"""The treatment course lists each session on the day and time its appointment holds, else its planned day."""

from __future__ import annotations

from ketaclinic.services.outcomes import course_view
from ketaclinic.services.permissions import Actor
from ketaclinic.services.scheduling import booking, changes
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.store.db import Database
from tests import factories


def test_a_booked_series_shows_its_booked_days_and_times_not_the_plan_days(
    db: Database, staff: dict[str, Actor]
) -> None:
    plan_id = factories.approved_plan(db, staff, mrn="CB-1", protocol_id="schwartzman2009")
    patient_id = booking.propose(db, staff["nurse"], plan_id, None, None).patient_id
    (before,) = course_view.patient_course_views(db, staff["nurse"], patient_id)
    assert {s.state for s in before.sessions} == {"planned"} and all(s.at is None for s in before.sessions)

    booked = booking.book_series(db, staff["nurse"], booking.BookSeriesIn(plan_id=plan_id), config=None)
    (after,) = course_view.patient_course_views(db, staff["nurse"], patient_id)
    by_number = {s.number: s for s in after.sessions}
    for appointment in booked:
        shown = by_number[appointment.session_number]
        assert shown.state == "booked" and shown.at == appointment.starts_at
        assert shown.on == appointment.starts_at.astimezone().date()
        assert shown.on.weekday() < 5  # booked on the shipped calendar's open days, not the plan's weekends
    assert [s.number for s in after.sessions] == sorted(by_number)  # still in order of their days

    first = booked[0]
    made = create_session(db, staff["nurse"], SessionCreate(plan_id=plan_id, session_number=1))
    changes.cancel(
        db, staff["nurse"], booked[1].id, changes.EndIn(version=booked[1].version, reason="unwell"), None
    )
    (later,) = course_view.patient_course_views(db, staff["nurse"], patient_id)
    by_number = {s.number: s for s in later.sessions}
    assert by_number[1].session_id == made.id and by_number[1].at == first.starts_at
    assert by_number[2].at is None and by_number[2].state == "planned"  # cancelled: the plan's day again
