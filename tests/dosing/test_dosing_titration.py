"""Titration rules: the envelope and the next step."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.dosing import check_rate, get_protocol, load_library, next_titration_step, titration_envelope
from ketaclinic.errors import InputError

LIB = load_library()
TITRATED = get_protocol("inpatient-5day-titrated")
WEIGHT_BASED = get_protocol("inpatient-5day-weight")


def test_envelope_10_to_40() -> None:
    env = titration_envelope(TITRATED, 110, library=LIB)
    assert [s.rate_mg_h for s in env.max_path] == [10, 20, 30, 40]
    assert [s.rate_mg_h for s in env.min_path] == [10]
    assert env.max_path[-1].end_min == 7200 and env.top_rate_mg_h == 40
    assert titration_envelope(TITRATED, 70, library=LIB).top_rate_mg_h == pytest.approx(35)  # 0.5 mg/kg/h


@pytest.mark.parametrize(
    ("rate", "nrs", "side_effect", "action", "new_rate"),
    [
        (10, 6, False, "increase", 20),
        (30, 7, False, "increase", 40),
        (40, 8, False, "hold", 40),
        (20, 3, False, "hold", 20),  # NRS 3 is not above the threshold 3
        (30, 8, True, "decrease", 20),
        (10, 8, True, "hold", 10),  # never below the start rate
        (50, 2, False, "decrease", 40),  # above the top
    ],
)
def test_next_step(rate: float, nrs: int, side_effect: bool, action: str, new_rate: float) -> None:
    step = next_titration_step(TITRATED, rate, nrs, side_effect, library=LIB)
    assert step.action == action and step.rate_mg_h == pytest.approx(new_rate)
    assert step.next_review_min == 90 and step.reason


def test_next_step_with_library_and_weight() -> None:
    step = next_titration_step(TITRATED, 30, 8, False, weight_kg=70, library=LIB)
    assert step.rate_mg_h == pytest.approx(35)
    per_kg = next_titration_step(WEIGHT_BASED, 7, 8, False, weight_kg=70, library=LIB)
    assert per_kg.rate_mg_h == pytest.approx(10.5)


def test_bad_input() -> None:
    with pytest.raises(InputError, match="weight"):
        next_titration_step(WEIGHT_BASED, 7, 8, False, library=LIB)
    with pytest.raises(InputError, match="NRS"):
        next_titration_step(TITRATED, 10, 11, False, library=LIB)
    with pytest.raises(InputError, match="no titration"):
        next_titration_step(get_protocol("cohen2018-test"), 10, 8, False, library=LIB)


@given(
    weight=st.floats(min_value=1, max_value=400),
    rate=st.floats(min_value=0, max_value=100),
    nrs=st.integers(0, 10),
    side_effect=st.booleans(),
)
def test_suggestions_never_breach_a_hard_limit(
    weight: float, rate: float, nrs: int, side_effect: bool
) -> None:
    for protocol in (TITRATED, WEIGHT_BASED, get_protocol("sigtermans2009")):
        env = titration_envelope(protocol, weight, library=LIB)
        step = next_titration_step(protocol, rate, nrs, side_effect, weight_kg=weight, library=LIB)
        if step.action == "increase":
            assert step.rate_mg_h > rate
            assert step.rate_mg_h <= env.top_rate_mg_h
            start = env.min_path[0].rate_mg_h
            # only a start rate that is itself refused can be hard; increases never create a breach
            if check_rate(LIB, protocol.context, rate_mg_h=start, weight_kg=weight).verdict != "hard":
                assert (
                    check_rate(LIB, protocol.context, rate_mg_h=step.rate_mg_h, weight_kg=weight).verdict
                    != "hard"
                )
