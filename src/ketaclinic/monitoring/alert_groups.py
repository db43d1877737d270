"""Alert groups and acknowledgement actions: one open alert per group, one pick to acknowledge it."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class AlertGroup(StrEnum):
    """What an alert is about; a session holds at most one open alert per group."""

    BLOOD_PRESSURE = "blood_pressure"
    HEART_RATE = "heart_rate"
    OXYGENATION = "oxygenation"
    RESPIRATION = "respiration"
    SEDATION = "sedation"
    PSYCHOMIMETIC = "psychomimetic"
    PAIN = "pain"
    MENTAL_HEALTH = "mental_health"
    NAUSEA = "nausea"
    TEMPERATURE = "temperature"
    CHARTING = "charting"  # observations overdue by the cadence
    DOSE = "dose"  # the session total given
    WEIGHT = "weight"  # a check-in weight that differs from the plan's
    STOCK = "stock"  # a controlled-substance count that differs from the ledger (a clinic alert, no patient)


FIELD_GROUPS: dict[str, AlertGroup] = {
    "sbp": AlertGroup.BLOOD_PRESSURE,
    "dbp": AlertGroup.BLOOD_PRESSURE,
    "hr": AlertGroup.HEART_RATE,
    "spo2": AlertGroup.OXYGENATION,
    "rr": AlertGroup.RESPIRATION,
    "rass": AlertGroup.SEDATION,
    "moaas": AlertGroup.SEDATION,
    "dissociation": AlertGroup.PSYCHOMIMETIC,
    "cadss6": AlertGroup.PSYCHOMIMETIC,
    "hallucinations": AlertGroup.PSYCHOMIMETIC,
    "nrs": AlertGroup.PAIN,
    "nausea": AlertGroup.NAUSEA,
    "temp_c": AlertGroup.TEMPERATURE,
    "session_total_mg": AlertGroup.DOSE,
    "weight_kg": AlertGroup.WEIGHT,
}


def group_of_field(field: str | None) -> AlertGroup:
    """The group of an observation field (no field: an overdue reading, so charting)."""
    if field is None:
        return AlertGroup.CHARTING
    return FIELD_GROUPS[field]


def fields_of_group(group: AlertGroup) -> frozenset[str]:
    """The flowsheet fields whose readings speak for `group`."""
    return frozenset(field for field, owner in FIELD_GROUPS.items() if owner is group)


def alert_groups_of_fields(fields: Iterable[str]) -> frozenset[AlertGroup]:
    """The groups a reading charting `fields` speaks for."""
    return frozenset(FIELD_GROUPS[field] for field in fields if field in FIELD_GROUPS)


class AlertAction(StrEnum):
    """What the clinician did about an alert, picked once to acknowledge it."""

    CONTINUE_AND_RECHECK = "continue_and_recheck"
    REDUCE_RATE = "reduce_rate"
    PAUSE = "pause"
    STOP = "stop"
    PHYSICIAN_CALLED = "physician_called"
    # A patient's alert outside any session (their questionnaire answers).
    PATIENT_ASSESSED = "patient_assessed"
    REFERRED_URGENTLY = "referred_urgently"
    EMERGENCY_SERVICES_CALLED = "emergency_services_called"
    # A clinic alert about controlled-drug stock (no patient).
    COUNT_REVIEWED = "count_reviewed"


ACTION_LABELS: dict[AlertAction, str] = {
    AlertAction.CONTINUE_AND_RECHECK: "Continued and rechecked",
    AlertAction.REDUCE_RATE: "Rate reduced",
    AlertAction.PAUSE: "Infusion paused",
    AlertAction.STOP: "Infusion stopped",
    AlertAction.PHYSICIAN_CALLED: "Physician called",
    AlertAction.PATIENT_ASSESSED: "Patient contacted and assessed",
    AlertAction.REFERRED_URGENTLY: "Referred for urgent mental health assessment",
    AlertAction.EMERGENCY_SERVICES_CALLED: "Emergency services called",
    AlertAction.COUNT_REVIEWED: "Count reviewed",
}

# An alert is acknowledged with an action of its own setting: an infusion, a patient at home, the stock.
SESSION_ACTIONS: tuple[AlertAction, ...] = (
    AlertAction.CONTINUE_AND_RECHECK,
    AlertAction.REDUCE_RATE,
    AlertAction.PAUSE,
    AlertAction.STOP,
    AlertAction.PHYSICIAN_CALLED,
)
FOLLOWUP_ACTIONS: tuple[AlertAction, ...] = (
    AlertAction.PATIENT_ASSESSED,
    AlertAction.REFERRED_URGENTLY,
    AlertAction.EMERGENCY_SERVICES_CALLED,
)
STOCK_ACTIONS: tuple[AlertAction, ...] = (AlertAction.COUNT_REVIEWED,)
