"""Responder definitions, sustained relief and the follow-up schedule."""

from datetime import date, timedelta

import numpy as np
import pytest

from ketaclinic.errors import InputError, NotFoundError
from ketaclinic.outcomes import evaluate_responders, followup_schedule, get_definition, sustained_relief_weeks
from ketaclinic.outcomes.definitions import (
    followup_policy,
    list_definitions,
    reaches_reduction,
    reduction_pct,
    relief_margin_pct,
)
from ketaclinic.outcomes.schedule import DEFAULT_OFFSETS_WEEKS

BASE = np.array([8.0, 8.0, 10.0, 10.0, 6.0, 0.0])
FOLLOW = np.array([4.0, 4.0, 7.0, np.nan, 5.0, 0.0])
DISC = np.array(["none", "lack_of_effect", "none", "none", "adverse_event", "none"])


def test_shipped_definitions_have_sources() -> None:
    ids = [d.id for d in list_definitions()]
    assert ids == ["valle2024", "immpact30", "immpact50"]
    assert "Vallé" in get_definition("valle2024").source
    assert "Dworkin" in get_definition("immpact30").source
    with pytest.raises(NotFoundError):
        get_definition("nope")


def test_valle2024_needs_half_reduction_and_no_stop_for_lack_of_effect() -> None:
    res = evaluate_responders(get_definition("valle2024"), BASE, FOLLOW, DISC)
    assert res.responder.tolist() == [True, False, False, False, False, False]
    assert res.missing_followup.tolist() == [False, False, False, True, False, False]
    assert res.reduction_pct[0] == pytest.approx(50.0)
    assert np.isnan(res.reduction_pct[5])  # baseline 0: no reduction can be computed


def test_immpact_definitions_ignore_discontinuation() -> None:
    r50 = evaluate_responders(get_definition("immpact50"), BASE, FOLLOW, DISC)
    r30 = evaluate_responders(get_definition("immpact30"), BASE, FOLLOW, DISC)
    assert r50.responder.tolist() == [True, True, False, False, False, False]
    assert r30.responder.tolist() == [True, True, True, False, False, False]


def test_sustained_relief_ends_when_pain_returns_within_margin() -> None:
    # reductions 62.5, 50, 37.5, 12.5 %: below the 20 % margin first at week 8
    assert sustained_relief_weeks(8, [1, 2, 4, 8], [3, 4, 5, 7], margin_pct=20) == (8.0, False)
    assert sustained_relief_weeks(8, [1, 2, 4, 8], [3, 4, 5, 7], margin_pct=40) == (4.0, False)
    assert sustained_relief_weeks(8, [1, 2], [3, 4], margin_pct=20) == (2.0, True)
    assert relief_margin_pct().status.value == "local-policy"
    with pytest.raises(InputError):
        sustained_relief_weeks(8, [2, 1], [3, 4])
    with pytest.raises(InputError):
        sustained_relief_weeks(0, [1], [0])


def test_an_exact_margin_is_still_relief() -> None:
    # 4.0 -> 3.2 is exactly 20 % although (4.0 - 3.2) / 4.0 * 100 is 19.999999999999996 in floats
    assert (4.0 - 3.2) / 4.0 * 100.0 < 20.0
    assert sustained_relief_weeks(4.0, [1, 2, 4], [3.2, 3.2, 3.3], margin_pct=20) == (4.0, False)
    assert sustained_relief_weeks(4.0, [1, 2], [3.2, 3.2], margin_pct=20) == (2.0, True)


def test_responders_and_relief_use_one_threshold_rule() -> None:
    # 10.0 -> 7.0 is 30 %, 7.0 -> 4.9 is 30 %, 4.0 -> 3.2 is 20 %: each reaches its own threshold
    base, follow = np.array([10.0, 7.0, 4.0]), np.array([7.0, 4.9, 3.2])
    pct = reduction_pct(base, follow)
    assert reaches_reduction(pct, 30.0).tolist() == [True, True, False]
    assert reaches_reduction(pct, 20.0).all()
    assert not reaches_reduction(np.array([np.nan]), 0.0).any()
    r30 = evaluate_responders(get_definition("immpact30"), base, follow, ["none"] * 3)
    assert r30.responder.tolist() == [True, True, False]


def test_followup_schedule_after_sessions_and_series() -> None:
    sessions = [date(2025, 3, 3), date(2025, 3, 5), date(2025, 3, 7)]
    due = followup_schedule(date(2025, 3, 7), sessions)
    after_session = [d for d in due if d.kind == "after_session"]
    after_series = [d for d in due if d.kind == "after_series"]
    assert [d.due for d in after_session] == [date(2025, 3, 4), date(2025, 3, 6), date(2025, 3, 8)]
    assert [d.session_number for d in after_session] == [1, 2, 3]
    assert [d.weeks_after_series for d in after_series] == [1, 2, 4, 8, 12]
    assert after_series[-1].due == date(2025, 3, 7) + timedelta(weeks=12)
    assert "phq9" in after_series[0].instruments
    assert [d.due for d in due] == sorted(d.due for d in due)


def test_followup_schedule_offsets_are_policy_data_and_validated() -> None:
    assert DEFAULT_OFFSETS_WEEKS == (1, 2, 4, 8, 12)
    assert followup_policy()["status"].value == "local-policy"
    custom = followup_schedule(date(2025, 1, 10), [], offsets_weeks=(6, 3))
    assert [d.weeks_after_series for d in custom] == [3, 6]
    with pytest.raises(InputError):
        followup_schedule(date(2025, 1, 10), [], offsets_weeks=(0,))
    with pytest.raises(InputError):
        followup_schedule(date(2025, 1, 10), [], offsets_weeks=(2, 2))
    with pytest.raises(InputError):
        followup_schedule(date(2025, 1, 10), [date(2025, 1, 11)])
