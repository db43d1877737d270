"""Ending policy (pure): early ends, recovery lines, start timing, clinic overrides, PK decrement time."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.data import Status
from ketaclinic.errors import DataFileError
from ketaclinic.monitoring import Observation, predicted_cp_at
from ketaclinic.monitoring.concentration import minute_cp_falls_below
from ketaclinic.monitoring.ending import (
    ends_early,
    has_full_vitals,
    load_ending_policy,
    recovery_items,
    start_timing_concerns,
)
from ketaclinic.pharmacology import Infusion, get_band

DAY = date(2026, 5, 4)
minutes = st.floats(min_value=0, max_value=600, allow_nan=False)


def test_shipped_policy_is_local_policy_and_cites_its_sources() -> None:
    policy = load_ending_policy()
    assert (policy.early_end_margin_min, policy.recovery_min, policy.decrement_band) == (
        5,
        30,
        "dissociative_onset",
    )
    assert policy.sources["recovery_min"].status is Status.LOCAL_POLICY
    assert "30-60 min" in policy.sources["recovery_min"].source
    band = get_band(policy.decrement_band)
    assert band.low_ng_ml == 50 and "Bowdle 1998" in band.source


def test_a_clinic_file_replaces_only_the_keys_it_gives(tmp_path: Path) -> None:
    path = tmp_path / "session_ending.toml"
    path.write_text('[recovery_min]\nvalue = 45\nsource = "Clinic X 2026"\n', encoding="utf-8")
    policy = load_ending_policy(path)
    assert policy.recovery_min == 45 and policy.early_end_margin_min == 5
    assert policy.sources["recovery_min"].source == "Clinic X 2026"
    assert policy.sources["recovery_min"].status is Status.LOCAL_POLICY
    assert load_ending_policy(tmp_path / "absent.toml") == load_ending_policy()
    path.write_text("[recovery_minutes]\nvalue = 45\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="unknown keys"):
        load_ending_policy(path)
    path.write_text("[recovery_min]\nvalue = -5\n", encoding="utf-8")
    with pytest.raises(DataFileError):
        load_ending_policy(path)


def test_completing_at_minute_0_of_180_is_early_and_at_the_end_it_is_not() -> None:
    assert ends_early(0, 180, 5)
    assert ends_early(174.9, 180, 5)
    assert not ends_early(175, 180, 5)
    assert not ends_early(200, 180, 5)
    assert not ends_early(0, None, 5)


@given(elapsed=minutes, planned=minutes, margin=st.floats(min_value=0, max_value=60))
def test_early_exactly_when_before_the_planned_end_less_the_margin(
    elapsed: float, planned: float, margin: float
) -> None:
    assert ends_early(elapsed, planned, margin) == (elapsed < planned - margin)
    if ends_early(elapsed, planned, margin):
        assert ends_early(elapsed / 2, planned, margin)  # earlier still is early


def _full(t: float) -> Observation:
    return Observation(t_min=t, sbp=120, dbp=75, hr=70, spo2=98)


def test_recovery_lines_name_the_wait_and_the_missing_vitals() -> None:
    waited, vitals = recovery_items(1, 30, [Observation(t_min=1, rass=0)])
    assert not waited.ok and "29 min to go" in waited.detail
    assert not vitals.ok and vitals.detail == "none charted since the end"
    waited, vitals = recovery_items(30, 30, [_full(31)])
    assert waited.ok and vitals.ok
    assert not has_full_vitals(Observation(t_min=0, sbp=120, dbp=75, hr=70))


@given(since=st.floats(min_value=-5, max_value=300, allow_nan=False), need=minutes)
def test_recovery_time_is_met_exactly_from_the_minimum(since: float, need: float) -> None:
    waited, _ = recovery_items(since, need, [])
    assert waited.ok == (since >= need)


def test_start_timing_examples() -> None:
    assert start_timing_concerns(DAY, DAY, None, 2) == []
    assert start_timing_concerns(DAY, DAY - timedelta(days=1), None, 2) == [
        "before its planned date 2026-05-04"
    ]
    # Session 2 on the same day as session 1 of a plan spaced two days apart.
    same_day = start_timing_concerns(DAY, DAY, (1, DAY), 2)
    assert same_day == ["0 day(s) after session 1, sooner than the protocol's 2-day interval"]
    assert start_timing_concerns(DAY, DAY + timedelta(days=2), (1, DAY), 2) == []
    # A single-session or continuous-course protocol (interval 0) sets no spacing.
    assert start_timing_concerns(DAY, DAY, (1, DAY), 0) == []


@given(
    planned=st.integers(min_value=-10, max_value=10),
    started=st.integers(min_value=-10, max_value=10),
    previous=st.none() | st.integers(min_value=-20, max_value=10),
    interval=st.integers(min_value=0, max_value=7),
)
def test_a_concern_exactly_when_early_or_too_soon(
    planned: int, started: int, previous: int | None, interval: int
) -> None:
    on = DAY + timedelta(days=started)
    prev = None if previous is None else (1, DAY + timedelta(days=previous))
    concerns = start_timing_concerns(DAY + timedelta(days=planned), on, prev, interval)
    too_soon = previous is not None and interval > 0 and started - previous < interval
    assert len(concerns) == int(started < planned) + int(too_soon)


def test_cp_falls_below_the_band_edge_after_a_40_min_infusion() -> None:
    # 0.5 mg/kg over 40 min for 70 kg (the Cleveland protocol's dose), Domino 1984 model.
    given = [Infusion(0, 40, 0.5 * 70 * 60 / 40)]
    t = minute_cp_falls_below("domino1984", 70, given, 40, 50.0)
    assert t is not None and 40 < t < 40 + 120
    assert predicted_cp_at("domino1984", 70, given, t) == pytest.approx(50.0, rel=0.01)
    assert predicted_cp_at("domino1984", 70, given, t + 10) < 50.0
    assert minute_cp_falls_below("domino1984", 70, given, 40, 1e6) == 40  # never reached it
    assert minute_cp_falls_below("domino1984", 70, given, 40, 1e-9, horizon_min=30) is None


@settings(max_examples=25, deadline=None)
@given(
    rate_mg_h=st.floats(min_value=5, max_value=60),
    duration=st.floats(min_value=10, max_value=240),
    low=st.floats(min_value=20, max_value=80),
)
def test_a_higher_threshold_is_reached_no_later(rate_mg_h: float, duration: float, low: float) -> None:
    given = [Infusion(0, duration, rate_mg_h)]
    lower = minute_cp_falls_below("domino1984", 70, given, duration, low)
    higher = minute_cp_falls_below("domino1984", 70, given, duration, low * 1.5)
    assert lower is not None and higher is not None
    assert duration <= higher <= lower + 1e-6
    assert predicted_cp_at("domino1984", 70, given, lower + 1) < low
