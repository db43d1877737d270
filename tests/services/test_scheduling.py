"""Booking a series on chairs and nurses, all or nothing, with the database's guard against double booking."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ketaclinic.errors import ConflictError, InputError, PermissionDeniedError, StaleVersionError
from ketaclinic.services.outcomes import course_view
from ketaclinic.services.permissions import Actor
from ketaclinic.services.scheduling import booking, calendar, changes, counts, listing
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.services.sessions.lifecycle import CheckInIn, check_in
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.tables.scheduling import Appointment, ChairSlot
from tests import factories
from tests.services.sessions_support import CHECK_IN


def clinic(tmp_path: Path, *, chairs: int = 2, nurses: int = 2) -> Path:
    """A config dir whose calendar is open every day, almost around the clock (tests run at any hour)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    chair_rows = ", ".join(
        f'{{ id = "c{i}", name = "Chair {i}", kinds = ["outpatient_chair", "inpatient_bed"] }}'
        for i in range(1, chairs + 1)
    )
    (tmp_path / "clinic_calendar.toml").write_text(
        '[open_weekdays]\nvalue = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]\n'
        '[opens_at]\nvalue = "00:00"\n[closes_at]\nvalue = "23:59"\n'
        f"[chairs]\nvalue = [{chair_rows}]\n[nurses_on_duty]\nvalue = {nurses}\n"
        "[infusions_per_nurse]\nvalue = 1\n",
        encoding="utf-8",
    )
    return tmp_path


def _plan(db: Database, staff: Mapping[str, Actor], mrn: str, protocol: str = "schwartzman2009") -> int:
    return factories.approved_plan(db, staff, mrn=mrn, protocol_id=protocol)


def test_a_series_is_booked_whole_on_open_days_keeping_the_interval(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    plan_id = _plan(db, staff, "B-1")
    booked = booking.book_series(db, staff["nurse"], booking.BookSeriesIn(plan_id=plan_id), config=None)
    assert [a.session_number for a in booked] == list(range(1, 11))
    assert {a.status for a in booked} == {"booked"}
    days = [a.starts_at.astimezone().date() for a in booked]
    assert all(d.weekday() < 5 for d in days)  # the shipped calendar: Monday to Friday
    assert all((b - a).days >= 1 for a, b in itertools.pairwise(days))
    # check-in 30 + the plan's 240-min infusion + 30 min recovery
    assert booked[0].ends_at - booked[0].starts_at == timedelta(minutes=300)
    with db.read() as session:
        events = session.execute(select(AuditEvent).where(AuditEvent.entity == "appointment")).scalars().all()
    assert [e.action for e in events] == ["book"] * 10
    with pytest.raises(ConflictError, match="given or booked already"):
        booking.book_series(db, staff["nurse"], booking.BookSeriesIn(plan_id=plan_id), config=None)
    with pytest.raises(PermissionDeniedError):
        booking.book_series(db, staff["researcher"], booking.BookSeriesIn(plan_id=plan_id), config=None)


def test_a_proposal_booked_as_sent_and_a_stale_one_books_nothing(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    config = clinic(tmp_path, chairs=1)
    first, second = _plan(db, staff, "B-1", "cleveland2025"), _plan(db, staff, "B-2", "cleveland2025")
    proposal = booking.propose(db, staff["nurse"], first, None, config)
    assert len(proposal.slots) == 5
    sent = [
        booking.SlotIn(session_number=s.session_number, chair=s.chair, starts_at=s.starts_at)
        for s in proposal.slots
    ]
    # The other patient takes the last session's slot first: the whole proposal is refused, nothing written.
    other = booking.propose(db, staff["nurse"], second, None, config)
    assert other.slots[0].starts_at == proposal.slots[0].starts_at
    taken = [booking.SlotIn(session_number=1, chair=sent[4].chair, starts_at=sent[4].starts_at)]
    taken += [
        booking.SlotIn(
            session_number=s.session_number, chair=s.chair, starts_at=s.starts_at + timedelta(days=5)
        )
        for s in other.slots[1:]
    ]
    booking.book_series(db, staff["nurse"], booking.BookSeriesIn(plan_id=second, slots=taken), config)
    with pytest.raises(ConflictError, match="session 5") as caught:
        booking.book_series(db, staff["nurse"], booking.BookSeriesIn(plan_id=first, slots=sent), config)
    assert caught.value.field == "slots"
    assert listing.list_appointments(db, staff["nurse"], config, plan_id=first) == []


def test_the_database_refuses_a_chair_step_held_twice(db: Database, staff: dict[str, Actor]) -> None:
    plan_id = _plan(db, staff, "B-1", "cohen2018-test")
    (booked,) = booking.book_series(db, staff["nurse"], booking.BookSeriesIn(plan_id=plan_id), config=None)
    with pytest.raises(IntegrityError), db.transaction() as session:
        step = (
            session.execute(select(ChairSlot).where(ChairSlot.appointment_id == booked.id)).scalars().first()
        )
        assert step is not None
        session.add(ChairSlot(appointment_id=booked.id, chair=step.chair, slot_at=step.slot_at))
        session.flush()


def test_two_people_booking_the_last_free_chair_at_once_one_wins_the_other_is_told_the_slot(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    config = clinic(tmp_path, chairs=1)
    plans = [_plan(db, staff, f"R-{i}", "cohen2018-test") for i in (1, 2)]
    (slot,) = booking.propose(db, staff["nurse"], plans[0], None, config).slots
    wanted = [booking.SlotIn(session_number=1, chair=slot.chair, starts_at=slot.starts_at)]
    barrier = threading.Barrier(2)
    results: dict[int, object] = {}

    def book(plan_id: int) -> None:
        barrier.wait()
        try:
            results[plan_id] = booking.book_series(
                db, staff["nurse"], booking.BookSeriesIn(plan_id=plan_id, slots=wanted), config
            )
        except ConflictError as exc:
            results[plan_id] = exc

    threads = [threading.Thread(target=book, args=(p,)) for p in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    refused = [r for r in results.values() if isinstance(r, ConflictError)]
    assert len(results) == 2 and len(refused) == 1
    assert "Chair 1 on" in refused[0].message and "(session 1)" in refused[0].message
    with db.read() as session:
        assert len(session.execute(select(Appointment)).scalars().all()) == 1


def test_nurse_capacity_sends_a_second_patient_to_a_later_time(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    config = clinic(tmp_path, chairs=2, nurses=1)
    first = booking.book_series(
        db, staff["nurse"], booking.BookSeriesIn(plan_id=_plan(db, staff, "N-1", "cohen2018-test")), config
    )[0]
    second = booking.propose(
        db, staff["nurse"], _plan(db, staff, "N-2", "cohen2018-test"), None, config
    ).slots[0]
    assert second.infusion_starts_at >= first.infusion_ends_at  # a free chair, but no free nurse


def test_moving_one_shifts_the_later_ones_only_on_request(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    config = clinic(tmp_path)
    plan_id = _plan(db, staff, "M-1", "cleveland2025")
    booked = booking.book_series(db, staff["nurse"], booking.BookSeriesIn(plan_id=plan_id), config)
    second = booked[1]
    later = second.starts_at + timedelta(days=1)
    move = changes.MoveIn(version=second.version, starts_at=later)
    with pytest.raises(ConflictError, match="shift_later"):
        changes.move(db, staff["nurse"], second.id, move, config)
    moved = changes.move(
        db,
        staff["nurse"],
        second.id,
        move.model_copy(update={"shift_later": True, "reason": "patient asked"}),
        config,
    )
    assert [a.session_number for a in moved] == [2, 3, 4, 5]
    assert moved[0].starts_at == later and moved[0].version == second.version + 1
    starts = [a.starts_at.astimezone().date() for a in (booked[0], *moved)]
    assert all((b - a).days >= 1 for a, b in itertools.pairwise(starts))
    with pytest.raises(StaleVersionError):
        changes.move(db, staff["nurse"], second.id, move, config)
    with pytest.raises(ConflictError, match="interval"):
        changes.move(
            db,
            staff["nurse"],
            second.id,
            changes.MoveIn(
                version=moved[0].version, starts_at=booked[0].starts_at
            ),  # within hours at any time of day
            config,
        )


def test_cancel_frees_the_chair_and_a_no_show_counts_for_the_plan(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    config = clinic(tmp_path, chairs=1)
    plan_id = _plan(db, staff, "C-1", "cohen2018-test")
    (appointment,) = booking.book_series(db, staff["nurse"], booking.BookSeriesIn(plan_id=plan_id), config)
    with pytest.raises(ConflictError, match="cancel it instead"):
        changes.no_show(
            db, staff["nurse"], appointment.id, changes.EndIn(version=1, reason="did not come"), config
        )
    cancelled = changes.cancel(
        db, staff["nurse"], appointment.id, changes.EndIn(version=1, reason="patient unwell"), config
    )
    assert cancelled.status == "cancelled" and cancelled.reason == "patient unwell"
    (again,) = booking.book_series(db, staff["nurse"], booking.BookSeriesIn(plan_id=plan_id), config)
    assert again.starts_at == appointment.starts_at  # the freed chair is booked again
    with db.transaction() as session:
        past = utcnow() - timedelta(hours=6)
        session.execute(update(Appointment).where(Appointment.id == again.id).values(starts_at=past))
    missed = changes.no_show(
        db, staff["nurse"], again.id, changes.EndIn(version=1, reason="no answer by phone"), config
    )
    assert missed.status == "no_show"
    with db.read() as session:
        assert counts.no_shows_by_plan(session)[plan_id] == 1
    (course,) = course_view.patient_course_views(db, staff["nurse"], missed.patient_id)
    assert course.no_shows == 1 and [c.state for c in course.sessions] == ["no_show"]


def test_a_session_of_a_booked_appointment_links_to_it_and_the_appointment_follows(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    config = clinic(tmp_path)
    plan_id = _plan(db, staff, "L-1")
    booked = booking.book_series(db, staff["nurse"], booking.BookSeriesIn(plan_id=plan_id), config)
    created = create_session(db, staff["nurse"], SessionCreate(plan_id=plan_id, session_number=1))
    check_in(db, staff["nurse"], created.id, CheckInIn.model_validate(CHECK_IN), config=None)
    mine = listing.list_appointments(db, staff["nurse"], config, plan_id=plan_id)
    assert (mine[0].id, mine[0].session_id, mine[0].status) == (booked[0].id, created.id, "checked_in")
    assert {a.status for a in mine[1:]} == {"booked"}


def test_the_calendar_screen_overrides_are_audited_and_versioned(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    shown = calendar.view_calendar(db, staff["admin"], None)
    assert shown.version == 1 and shown.entries["nurses_on_duty"].status == "local-policy"
    values = {k: e.value for k, e in shown.entries.items()}
    saved = calendar.update_calendar(
        db,
        staff["admin"],
        calendar.CalendarIn.model_validate(values | {"version": 1, "nurses_on_duty": 3}),
        None,
    )
    assert saved.version == 2 and saved.entries["nurses_on_duty"].value == 3
    assert "set on the calendar screen by admin" in saved.entries["nurses_on_duty"].source
    with pytest.raises(StaleVersionError):
        calendar.update_calendar(
            db,
            staff["admin"],
            calendar.CalendarIn.model_validate(values | {"version": 1, "nurses_on_duty": 4}),
            None,
        )
    with pytest.raises(PermissionDeniedError):
        calendar.view_calendar(db, staff["nurse"], None)
    with db.read() as session:
        event = session.execute(select(AuditEvent).where(AuditEvent.entity == "clinic_calendar")).scalar_one()
    assert json.loads(event.changes_json)["nurses_on_duty"] == {"old": 2, "new": 3}


def test_the_patient_series_as_an_icalendar_file(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    config = clinic(tmp_path)
    plan_id = _plan(db, staff, "I-1", "cleveland2025")
    booked = booking.book_series(db, staff["nurse"], booking.BookSeriesIn(plan_id=plan_id), config)
    ics = listing.patient_ics(db, staff["nurse"], booked[0].patient_id, config, clinic="Test clinic").decode()
    assert ics.count("BEGIN:VEVENT") == 5 and "Test clinic: infusion 1" in ics


def test_the_demo_clinic_has_future_appointments(sqlite_db: Database) -> None:
    from ketaclinic.services import demo

    demo.seed_demo(sqlite_db, patient_count=14, config=None)
    with sqlite_db.read() as session:
        rows = session.execute(select(Appointment)).scalars().all()
    assert rows and {r.status for r in rows} == {"booked"}
    assert all(r.starts_at > utcnow() for r in rows)


def test_saving_the_calendar_unchanged_but_reordered_records_nothing(
    db: Database, staff: dict[str, Actor]
) -> None:
    shown = calendar.view_calendar(db, staff["admin"], None)
    values = {k: e.value for k, e in shown.entries.items()}
    reordered = values | {
        "version": 1,
        "open_weekdays": list(reversed(values["open_weekdays"])),
        "chairs": [c | {"kinds": list(reversed(c["kinds"]))} for c in values["chairs"]],
    }
    saved = calendar.update_calendar(db, staff["admin"], calendar.CalendarIn.model_validate(reordered), None)
    assert saved.version == 1
    assert all(e.source.startswith("ketaclinic default") for e in saved.entries.values())


def test_a_slot_the_check_missed_is_refused_by_the_database_naming_it(
    db: Database, staff: dict[str, Actor], tmp_path: Path
) -> None:
    """What a concurrent booking meets after both checks passed: the unique key, answered as a 409."""
    from ketaclinic.services.scheduling.calendar import clinic_calendar
    from ketaclinic.services.scheduling.records import hold

    config = clinic(tmp_path, chairs=1)
    plan_id = _plan(db, staff, "D-1", "cohen2018-test")
    (first,) = booking.book_series(db, staff["nurse"], booking.BookSeriesIn(plan_id=plan_id), config)
    other = _plan(db, staff, "D-2", "cohen2018-test")
    refused = pytest.raises(ConflictError, match=r"Chair 1 on .* \(session 1\) was just booked")
    with refused as caught, db.transaction() as session:
        row = Appointment(
            patient_id=first.patient_id,
            plan_id=other,
            session_number=1,
            chair=first.chair,
            starts_at=first.starts_at,
            infusion_starts_at=first.infusion_starts_at,
            infusion_ends_at=first.infusion_ends_at,
            ends_at=first.ends_at,
            status="booked",
            created_by="test",
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        hold(session, row, clinic_calendar(session, config))
    assert caught.value.field == "slots"
    with db.read() as session:
        assert len(session.execute(select(Appointment)).scalars().all()) == 1


def test_a_day_by_chair_for_the_day_board(db: Database, staff: dict[str, Actor], tmp_path: Path) -> None:
    config = clinic(tmp_path, chairs=2)
    (booked,) = booking.book_series(
        db, staff["nurse"], booking.BookSeriesIn(plan_id=_plan(db, staff, "T-1", "cohen2018-test")), config
    )
    day = listing.day_by_chair(db, staff["nurse"], booked.starts_at.astimezone().date(), config)
    assert [c.chair.id for c in day] == ["c1", "c2"]
    assert [a.id for a in day[0].appointments] == [booked.id] and day[1].appointments == ()
    with pytest.raises(InputError, match="past"):
        changes.move(
            db,
            staff["nurse"],
            booked.id,
            changes.MoveIn(version=1, starts_at=utcnow() - timedelta(days=1)),
            config,
        )
