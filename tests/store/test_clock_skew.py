"""One clock-skew tolerance for every 'is in the future' check (charting, consent, PROs)."""

from __future__ import annotations

from datetime import timedelta

from ketaclinic.store.base import CLOCK_SKEW, is_future, utcnow


def test_a_time_within_the_skew_is_not_future_and_beyond_it_is() -> None:
    assert not is_future(utcnow() + CLOCK_SKEW - timedelta(seconds=5))
    assert is_future(utcnow() + CLOCK_SKEW + timedelta(seconds=5))
    assert not is_future(utcnow() - timedelta(days=1))
