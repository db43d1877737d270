"""Charting cadence: due and overdue readings for the outpatient and inpatient schedules."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.data import Status
from ketaclinic.errors import InputError, NotFoundError
from ketaclinic.monitoring import (
    Observation,
    OverdueSlot,
    default_grace_min,
    field_groups,
    get_cadence,
    next_due_min,
    overdue,
    times_by_group,
)


def test_cadences_carry_their_sources() -> None:
    assert "Royal Cornwall" in get_cadence("inpatient").source
    assert get_cadence("inpatient").status is Status.VERIFIED
    assert get_cadence("outpatient").status is Status.LOCAL_POLICY
    assert default_grace_min() == 5
    assert set(field_groups()) == {"vitals", "sedation"}
    assert set(field_groups()["vitals"]) == {"sbp", "dbp", "hr", "spo2"}


@pytest.mark.parametrize(
    ("group", "elapsed_min", "every_min"),
    [
        ("vitals", 0, 15),
        ("vitals", 59, 15),
        ("vitals", 60, 30),
        ("vitals", 179, 30),
        ("vitals", 180, 60),
        ("vitals", 899, 60),  # hourly for 12 h after the first 3 h
        ("vitals", 900, 120),
        ("sedation", 899, 60),
        ("sedation", 1619, 60),  # hourly for 24 h after the first 3 h
        ("sedation", 1620, 120),
        ("sedation", 5000, 120),
    ],
)
def test_inpatient_intervals_follow_the_royal_cornwall_guideline(
    group: str, elapsed_min: float, every_min: float
) -> None:
    assert get_cadence("inpatient").interval_min(group, elapsed_min) == every_min


def test_outpatient_is_every_15_minutes_throughout() -> None:
    cadence = get_cadence("outpatient")
    assert {cadence.interval_min(g, t) for g in ("vitals", "sedation") for t in (0, 50, 200, 2000)} == {15}


def test_outpatient_next_due() -> None:
    assert next_due_min("outpatient", 0, None, 0) == 15
    assert next_due_min("outpatient", 0, 20, 25) == 35
    # Due at 35, still within the 5-min grace at 39: the owed reading is still the one due at 35.
    assert next_due_min("outpatient", 0, 20, 39) == 35
    # Past the grace: 35 is overdue (see `overdue`), the next one to aim for is 50.
    assert next_due_min("outpatient", 0, 20, 41) == 50
    assert next_due_min("outpatient", 10, None, 10, "sedation") == 25


def test_inpatient_next_due_changes_with_the_phase() -> None:
    assert next_due_min("inpatient", 0, 45, 46) == 60
    assert next_due_min("inpatient", 0, 60, 61) == 90
    assert next_due_min("inpatient", 0, 200, 201, "vitals") == 260
    assert next_due_min("inpatient", 0, 1000, 1001, "vitals") == 1120
    assert next_due_min("inpatient", 0, 1000, 1001, "sedation") == 1060


def test_outpatient_overdue_slots() -> None:
    # Readings at 15 and 30 on time, then nothing until 70: 45 and 60 were missed.
    slots = overdue("outpatient", [15, 30, 70], 70, groups=["vitals"])
    assert slots == [OverdueSlot(t_due_min=45, group="vitals"), OverdueSlot(t_due_min=60, group="vitals")]


def test_a_late_reading_within_grace_is_not_overdue() -> None:
    assert overdue("outpatient", [20, 40, 60], 60, grace_min=5) == []
    assert overdue("outpatient", [21], 21, grace_min=5, groups=["vitals"]) == [
        OverdueSlot(t_due_min=15, group="vitals")
    ]
    assert overdue("outpatient", [20], 20, grace_min=5, groups=["vitals"]) == []


def test_the_grace_boundary() -> None:
    assert overdue("outpatient", [], 20, grace_min=5, groups=["vitals"]) == []
    assert overdue("outpatient", [], 20.5, grace_min=5, groups=["vitals"]) == [
        OverdueSlot(t_due_min=15, group="vitals")
    ]


def test_inpatient_overdue_per_group() -> None:
    on_time = [15, 30, 45, 60, 90, 120, 150, 180]
    times = {"vitals": [*on_time, 240], "sedation": on_time}
    slots = overdue("inpatient", times, 300, grace_min=5)
    # Vitals: 240 met, next due 300 (not yet overdue). Sedation: 240 missed, then 300 not yet.
    assert slots == [OverdueSlot(t_due_min=240, group="sedation")]


def test_readings_before_the_infusion_start_do_not_count() -> None:
    slots = overdue("outpatient", [-10, 5], 31, infusion_start_min=10, groups=["vitals"])
    assert slots == [OverdueSlot(t_due_min=25, group="vitals")]


def test_times_by_group_uses_any_field_of_the_group() -> None:
    readings = [Observation(t_min=15, hr=80), Observation(t_min=30, rass=0), Observation(t_min=45, note="ok")]
    assert times_by_group(readings) == {"vitals": [15], "sedation": [30]}


def test_unknown_cadence_group_or_grace_is_refused() -> None:
    with pytest.raises(NotFoundError):
        overdue("icu", [], 10)
    with pytest.raises(InputError):
        next_due_min("outpatient", 0, None, 0, "labs")
    with pytest.raises(InputError):
        overdue("outpatient", [], 10, grace_min=-1)


@given(st.lists(st.floats(0, 600, allow_nan=False), max_size=30), st.floats(0, 600, allow_nan=False))
def test_no_overdue_slot_when_every_gap_is_within_interval_plus_grace(times: list[float], now: float) -> None:
    slots = overdue("outpatient", times, now, grace_min=5, groups=["vitals"])
    points = sorted([0.0, *[t for t in times if t <= now], now])
    if all(b - a <= 20 for a, b in itertools.pairwise(points)):
        assert slots == []
    for slot in slots:
        assert slot.t_due_min + 5 < now
