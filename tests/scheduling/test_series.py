"""Series feasibility: examples on the shipped calendar, invariants under random calendars and bookings."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.errors import ConflictError, DataFileError
from ketaclinic.scheduling import (
    AppointmentLength,
    Chair,
    ClinicCalendar,
    SeriesItem,
    SessionKind,
    Slot,
    grid,
    load_calendar,
    propose_series,
    session_kind,
)

MONDAY = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
OUTPATIENT = SessionKind.OUTPATIENT_CHAIR
CHAIR = frozenset({OUTPATIENT})


def _calendar(**changes: object) -> ClinicCalendar:
    return replace(load_calendar(), **changes)  # type: ignore[arg-type]


def _items(length: AppointmentLength, count: int) -> list[SeriesItem]:
    return [SeriesItem(n, length) for n in range(1, count + 1)]


def test_the_shipped_calendar_is_local_policy_monday_to_friday() -> None:
    calendar = load_calendar()
    assert calendar.open_weekdays == frozenset(range(5))
    assert all(entry.status.value == "local-policy" for entry in calendar.entries.values())
    assert calendar.nurse_capacity == calendar.nurses_on_duty * calendar.infusions_per_nurse


def test_a_two_day_interval_skips_the_weekend_and_keeps_at_least_two_days() -> None:
    length = AppointmentLength(30, 120, 30)
    series = propose_series(load_calendar(), OUTPATIENT, _items(length, 5), 2, MONDAY, (), UTC)
    days = [s.starts_at.date() for s in series]
    assert [d.strftime("%a") for d in days] == ["Mon", "Wed", "Fri", "Mon", "Wed"]
    assert [s.session_number for s in series] == [1, 2, 3, 4, 5]
    assert series[0].ends_at - series[0].starts_at == timedelta(minutes=180)


def test_a_closed_date_moves_the_session_to_the_next_open_day() -> None:
    calendar = _calendar(closed_dates=frozenset({date(2026, 12, 8)}))
    series = propose_series(
        calendar, OUTPATIENT, _items(AppointmentLength(30, 40, 30), 2), 1, MONDAY, (), UTC
    )
    assert [s.starts_at.date() for s in series] == [date(2026, 12, 7), date(2026, 12, 9)]


def test_a_full_chair_sends_the_next_patient_to_another_chair_then_later() -> None:
    calendar = _calendar(chairs=(Chair("c1", "C1", CHAIR),))
    length = AppointmentLength(30, 60, 30)
    held = Slot.at("c1", MONDAY, length)
    (slot,) = propose_series(calendar, OUTPATIENT, _items(length, 1), 0, MONDAY, (held,), UTC)
    assert slot.starts_at == held.ends_at


def test_nurse_capacity_holds_back_a_free_chair() -> None:
    calendar = _calendar(nurses_on_duty=1, infusions_per_nurse=1)
    length = AppointmentLength(30, 60, 30)
    held = Slot.at("chair-1", MONDAY, length)
    (slot,) = propose_series(calendar, OUTPATIENT, _items(length, 1), 0, MONDAY, (held,), UTC)
    assert slot.chair_id != "chair-1" or slot.starts_at >= held.ends_at
    assert slot.infusion_starts_at >= held.infusion_ends_at


def test_an_infusion_longer_than_the_day_finds_no_chair_and_names_the_session() -> None:
    with pytest.raises(ConflictError, match="session 1") as caught:
        propose_series(
            load_calendar(), OUTPATIENT, _items(AppointmentLength(30, 700, 30), 1), 0, MONDAY, (), UTC
        )
    assert caught.value.field == "from"


def test_an_inpatient_bed_runs_on_past_closing() -> None:
    bed = SessionKind.INPATIENT_BED
    (slot,) = propose_series(
        load_calendar(), bed, _items(AppointmentLength(30, 7200, 30), 1), 0, MONDAY, (), UTC
    )
    assert slot.chair_id == "bed-1" and slot.ends_at - slot.starts_at == timedelta(minutes=7260)
    assert session_kind("inpatient") is SessionKind.INPATIENT_BED
    assert session_kind("outpatient") is OUTPATIENT


def test_a_clinic_file_overrides_keys_and_a_bad_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "clinic_calendar.toml"
    path.write_text('[open_weekdays]\nvalue = ["mon", "sat"]\n', encoding="utf-8")
    calendar = load_calendar(path)
    assert calendar.open_weekdays == frozenset({0, 5})
    assert calendar.entries["open_weekdays"].source == "clinic_calendar.toml"
    path.write_text('[opens_at]\nvalue = "25:00"\n', encoding="utf-8")
    with pytest.raises(DataFileError, match="opens_at"):
        load_calendar(path)
    path.write_text('[chairs]\nvalue = [{ id = "a", name = "A", kinds = ["sofa"] }]\n', encoding="utf-8")
    with pytest.raises(DataFileError, match="kinds"):
        load_calendar(path)


def test_the_grid_covers_a_span_with_whole_steps() -> None:
    start = MONDAY + timedelta(minutes=7)
    steps = grid(start, start + timedelta(minutes=30), 15)
    assert steps == (MONDAY, MONDAY + timedelta(minutes=15), MONDAY + timedelta(minutes=30))
    assert grid(start, start, 15) == ()


# --- invariants ----------------------------------------------------------------------------------

calendars = st.builds(
    lambda weekdays, closed, chairs, nurses, per_nurse: _calendar(
        open_weekdays=frozenset(weekdays),
        closed_dates=frozenset(MONDAY.date() + timedelta(days=d) for d in closed),
        chairs=tuple(Chair(f"c{i}", f"C{i}", CHAIR) for i in range(chairs)),
        nurses_on_duty=nurses,
        infusions_per_nurse=per_nurse,
    ),
    st.sets(st.integers(0, 6), min_size=1),
    st.sets(st.integers(0, 40), max_size=8),
    st.integers(1, 3),
    st.integers(1, 2),
    st.integers(1, 2),
)
lengths = st.builds(
    AppointmentLength, st.sampled_from([0, 15, 30]), st.integers(30, 240), st.sampled_from([0, 30, 60])
)


@settings(max_examples=60, deadline=None)
@given(
    calendar=calendars,
    length=lengths,
    patients=st.lists(
        st.tuples(st.integers(1, 6), st.integers(0, 3), st.integers(0, 5)), min_size=1, max_size=5
    ),
)
def test_series_booked_one_after_another_never_break_the_calendar(
    calendar: ClinicCalendar, length: AppointmentLength, patients: list[tuple[int, int, int]]
) -> None:
    booked: list[Slot] = []
    for count, interval, start_offset in patients:
        earliest = MONDAY + timedelta(days=start_offset)
        try:
            series = propose_series(
                calendar, OUTPATIENT, _items(length, count), interval, earliest, booked, UTC
            )
        except ConflictError:
            continue  # nothing fits: nothing is proposed
        assert series[0].starts_at >= earliest
        for before, after in itertools.pairwise(series):
            assert (after.starts_at.date() - before.starts_at.date()).days >= interval  # interval kept
            assert after.starts_at >= before.ends_at
        booked.extend(series)
    held: Counter[tuple[str, datetime]] = Counter()
    running: Counter[datetime] = Counter()
    for slot in booked:
        day = slot.starts_at.date()
        assert calendar.is_open(day)  # never on a closed day or a closed weekday
        opens, closes = calendar.opening(day, UTC)
        assert opens <= slot.starts_at and slot.ends_at <= closes
        held.update((slot.chair_id, step) for step in grid(slot.starts_at, slot.ends_at, calendar.slot_min))
        running.update(grid(slot.infusion_starts_at, slot.infusion_ends_at, calendar.slot_min))
    assert all(n == 1 for n in held.values())  # no chair double-booked
    assert all(n <= calendar.nurse_capacity for n in running.values())  # nurse capacity never exceeded
