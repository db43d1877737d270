"""The session lifecycle as a pure state machine, and what a session needs before it can be signed.

scheduled -> checked_in -> running <-> paused -> completed | stopped (reason) -> recovery
-> discharged (criteria met) -> signed (locked; only addenda after that).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from ketaclinic.errors import ConflictError, InputError


class SessionState(StrEnum):
    """Where a session is in its lifecycle."""

    SCHEDULED = "scheduled"
    CHECKED_IN = "checked_in"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"
    RECOVERY = "recovery"
    DISCHARGED = "discharged"
    SIGNED = "signed"


class SessionAction(StrEnum):
    """What a user does to move a session on."""

    CHECK_IN = "check_in"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    COMPLETE = "complete"
    STOP = "stop"
    BEGIN_RECOVERY = "begin_recovery"
    DISCHARGE = "discharge"
    SIGN = "sign"
    ADD_ADDENDUM = "add_addendum"


S, A = SessionState, SessionAction

# state -> {action: next state}. A signed session is locked: only addenda, which leave it signed.
allowed_transitions: Mapping[SessionState, Mapping[SessionAction, SessionState]] = {
    S.SCHEDULED: {A.CHECK_IN: S.CHECKED_IN},
    S.CHECKED_IN: {A.START: S.RUNNING},
    S.RUNNING: {A.PAUSE: S.PAUSED, A.COMPLETE: S.COMPLETED, A.STOP: S.STOPPED},
    S.PAUSED: {A.RESUME: S.RUNNING, A.COMPLETE: S.COMPLETED, A.STOP: S.STOPPED},
    S.COMPLETED: {A.BEGIN_RECOVERY: S.RECOVERY},
    S.STOPPED: {A.BEGIN_RECOVERY: S.RECOVERY},
    S.RECOVERY: {A.DISCHARGE: S.DISCHARGED},
    S.DISCHARGED: {A.SIGN: S.SIGNED},
    S.SIGNED: {A.ADD_ADDENDUM: S.SIGNED},
}


def _parse(enum: type[StrEnum], value: str, name: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        known = ", ".join(m.value for m in enum)
        raise InputError(f"{value!r} is not one of {known}", field=name) from None


def transition(
    state: SessionState | str, action: SessionAction | str, *, reason: str | None = None
) -> SessionState:
    """The state after `action`; ConflictError for a step the lifecycle does not allow.

    Stopping needs a reason (InputError naming `reason` when empty).
    """
    current: SessionState = _parse(SessionState, state, "state")
    step: SessionAction = _parse(SessionAction, action, "action")
    allowed = allowed_transitions[current]
    if step not in allowed:
        if current is SessionState.SIGNED:
            raise ConflictError("the session is signed and locked: only addenda can be added", field="action")
        options = ", ".join(a.value for a in allowed) or "none"
        raise ConflictError(
            f"cannot {step.value} a session that is {current.value} (allowed: {options})", field="action"
        )
    if step is SessionAction.STOP and not (reason and reason.strip()):
        raise InputError("a stopped infusion needs a reason", field="reason")
    return allowed[step]


# (fact key, what a person is told is missing). Conditional facts are handled below.
REQUIRED_FOR_SIGNATURE: tuple[tuple[str, str], ...] = (
    ("weight_kg", "weight (kg)"),
    ("baseline_sbp", "pre-infusion systolic blood pressure"),
    ("baseline_dbp", "pre-infusion diastolic blood pressure"),
    ("baseline_hr", "pre-infusion heart rate"),
    ("baseline_spo2", "pre-infusion SpO2"),
    ("baseline_nrs", "pre-infusion pain score (NRS)"),
    ("premedication", "premedication (record 'none' when none was given)"),
    ("segments", "at least one charted infusion rate segment"),
    ("observations", "at least one observation during the infusion"),
    ("end_state", "how the infusion ended (completed or stopped)"),
    ("discharge_criteria_met", "discharge checklist met"),
    ("discharged_at", "discharge time"),
)


def _empty(value: object) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict | set):
        return len(value) == 0
    return False


def missing_for_signature(session_facts: Mapping[str, Any]) -> list[str]:
    """What still has to be filled in before the session can be signed (empty list: ready).

    Facts are flat keys (see REQUIRED_FOR_SIGNATURE), plus `pregnancy_check_applies` (bool) with
    `pregnancy_check`, and `stop_reason` when `end_state` is "stopped".
    """
    missing = [label for key, label in REQUIRED_FOR_SIGNATURE if _empty(session_facts.get(key))]
    if session_facts.get("pregnancy_check_applies") and _empty(session_facts.get("pregnancy_check")):
        missing.append("pregnancy check")
    if str(session_facts.get("end_state", "")) == SessionState.STOPPED.value and _empty(
        session_facts.get("stop_reason")
    ):
        missing.append("reason the infusion was stopped")
    return missing
