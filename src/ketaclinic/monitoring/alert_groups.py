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
    """What the nurse did about an alert, picked once to acknowledge it."""

    CONTINUE_AND_RECHECK = "continue_and_recheck"
    REDUCE_RATE = "reduce_rate"
    PAUSE = "pause"
    STOP = "stop"
    PHYSICIAN_CALLED = "physician_called"


ACTION_LABELS: dict[AlertAction, str] = {
    AlertAction.CONTINUE_AND_RECHECK: "Continued and rechecked",
    AlertAction.REDUCE_RATE: "Rate reduced",
    AlertAction.PAUSE: "Infusion paused",
    AlertAction.STOP: "Infusion stopped",
    AlertAction.PHYSICIAN_CALLED: "Physician called",
}
