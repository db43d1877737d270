"""Session lifecycle: legal and illegal steps, the signed lock, and what blocks a signature."""

from __future__ import annotations

from typing import Any

import pytest

from ketaclinic.errors import ConflictError, InputError
from ketaclinic.monitoring import (
    REQUIRED_FOR_SIGNATURE,
    SessionAction,
    SessionState,
    allowed_transitions,
    missing_for_signature,
    transition,
)

S, A = SessionState, SessionAction


def test_the_whole_happy_path() -> None:
    state = S.SCHEDULED
    for action in ("check_in", "start", "pause", "resume", "complete", "begin_recovery", "discharge", "sign"):
        state = transition(state, action)
    assert state is S.SIGNED


def test_a_stopped_infusion_needs_a_reason_and_goes_to_recovery() -> None:
    with pytest.raises(InputError) as caught:
        transition(S.RUNNING, A.STOP)
    assert caught.value.field == "reason"
    with pytest.raises(InputError):
        transition(S.PAUSED, A.STOP, reason="  ")
    assert transition(S.PAUSED, A.STOP, reason="hypertension") is S.STOPPED
    assert transition(S.STOPPED, A.BEGIN_RECOVERY) is S.RECOVERY


ALL_PAIRS = [(s, a) for s in SessionState for a in SessionAction]


@pytest.mark.parametrize(("state", "action"), ALL_PAIRS, ids=[f"{s}-{a}" for s, a in ALL_PAIRS])
def test_every_step_outside_the_table_is_a_conflict(state: SessionState, action: SessionAction) -> None:
    if action in allowed_transitions[state]:
        assert transition(state, action, reason="r") is allowed_transitions[state][action]
    else:
        with pytest.raises(ConflictError):
            transition(state, action, reason="r")


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (S.SCHEDULED, A.START),
        (S.CHECKED_IN, A.COMPLETE),
        (S.RUNNING, A.SIGN),
        (S.RECOVERY, A.SIGN),
        (S.COMPLETED, A.RESUME),
        (S.DISCHARGED, A.START),
    ],
)
def test_named_illegal_steps(state: SessionState, action: SessionAction) -> None:
    with pytest.raises(ConflictError, match="cannot"):
        transition(state, action)


def test_a_signed_session_takes_only_addenda() -> None:
    assert transition(S.SIGNED, A.ADD_ADDENDUM) is S.SIGNED
    with pytest.raises(ConflictError, match="only addenda"):
        transition(S.SIGNED, A.SIGN)
    assert set(allowed_transitions[S.SIGNED]) == {A.ADD_ADDENDUM}


def test_unknown_state_or_action_is_bad_input() -> None:
    with pytest.raises(InputError) as caught:
        transition("flying", "start")
    assert caught.value.field == "state"
    with pytest.raises(InputError) as caught:
        transition("running", "speed_up")
    assert caught.value.field == "action"


def _complete_facts() -> dict[str, Any]:
    return {
        "weight_kg": 80,
        "baseline_sbp": 124,
        "baseline_dbp": 78,
        "baseline_hr": 72,
        "baseline_spo2": 98,
        "baseline_nrs": 7,
        "premedication": "none",
        "segments": [{"start_min": 0, "end_min": 40, "rate_mg_h": 40}],
        "observations": [{"t_min": 15}],
        "end_state": "completed",
        "discharge_criteria_met": True,
        "discharged_at": "2025-01-01T12:00:00Z",
        "pregnancy_check_applies": False,
    }


def test_a_complete_session_can_be_signed() -> None:
    assert missing_for_signature(_complete_facts()) == []


@pytest.mark.parametrize(("key", "label"), REQUIRED_FOR_SIGNATURE)
def test_each_empty_required_field_is_named(key: str, label: str) -> None:
    empty: object
    for empty in (None, "", [], False):
        facts = _complete_facts() | {key: empty}
        assert missing_for_signature(facts) == [label]
    facts = _complete_facts()
    del facts[key]
    assert missing_for_signature(facts) == [label]


def test_zero_is_a_value_not_an_empty_field() -> None:
    assert missing_for_signature(_complete_facts() | {"baseline_nrs": 0}) == []


def test_conditional_fields() -> None:
    facts = _complete_facts() | {"pregnancy_check_applies": True}
    assert missing_for_signature(facts) == ["pregnancy check"]
    assert missing_for_signature(facts | {"pregnancy_check": "negative"}) == []
    stopped = _complete_facts() | {"end_state": "stopped"}
    assert missing_for_signature(stopped) == ["reason the infusion was stopped"]
    assert missing_for_signature(stopped | {"stop_reason": "hypertension"}) == []
