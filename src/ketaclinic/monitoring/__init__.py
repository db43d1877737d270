"""Infusion monitoring, pure: flowsheet kinds and ranges, alert and stop rules, cadence, lifecycle, discharge.

No database: the service layer stores sessions, readings and alerts; everything here is a plain
function of plain values. See docs/monitoring.md.
"""

from __future__ import annotations

from ketaclinic.monitoring.alert_groups import (
    ACTION_LABELS,
    AlertAction,
    AlertGroup,
    alert_groups_of_fields,
    fields_of_group,
    group_of_field,
)
from ketaclinic.monitoring.alert_rules import Advice, AlertRule, RuleKind, Severity, load_alert_rules
from ketaclinic.monitoring.cadence import (
    Cadence,
    OverdueSlot,
    default_grace_min,
    field_groups,
    get_cadence,
    groups_charted,
    next_due_min,
    overdue,
    times_by_group,
)
from ketaclinic.monitoring.concentration import ChartedPrediction, charted_prediction, predicted_cp_at
from ketaclinic.monitoring.discharge import DischargeItem, DischargeResult, discharge_check
from ketaclinic.monitoring.escalation import (
    EscalationPolicy,
    actions_for,
    escalation_policy,
    is_clinic_wide,
    is_worse,
    most_severe_first,
)
from ketaclinic.monitoring.lifecycle import (
    REQUIRED_FOR_SIGNATURE,
    SessionAction,
    SessionState,
    allowed_transitions,
    missing_for_signature,
    transition,
)
from ketaclinic.monitoring.observations import (
    Interpretation,
    Observation,
    ObservationKind,
    get_kind,
    interpret,
    interpret_value,
    observation_kinds,
    parse_observation,
)
from ketaclinic.monitoring.replay import parse_segments, replay_session
from ketaclinic.monitoring.rules import (
    AlertFinding,
    evaluate_observation,
    overdue_findings,
    session_total_findings,
    trigger_key,
)
from ketaclinic.monitoring.vocabulary import (
    PREMEDICATION_ROUTES,
    RESCUE_MEDICATIONS,
    RESCUE_ROUTES,
    AdverseEventKind,
    AdverseEventSeverity,
    PregnancyCheck,
    RescueMedication,
    rescue_medication,
)

__all__ = [
    "ACTION_LABELS",
    "PREMEDICATION_ROUTES",
    "REQUIRED_FOR_SIGNATURE",
    "RESCUE_MEDICATIONS",
    "RESCUE_ROUTES",
    "AdverseEventKind",
    "AdverseEventSeverity",
    "Advice",
    "AlertAction",
    "AlertFinding",
    "AlertGroup",
    "AlertRule",
    "Cadence",
    "ChartedPrediction",
    "DischargeItem",
    "DischargeResult",
    "EscalationPolicy",
    "Interpretation",
    "Observation",
    "ObservationKind",
    "OverdueSlot",
    "PregnancyCheck",
    "RescueMedication",
    "RuleKind",
    "SessionAction",
    "SessionState",
    "Severity",
    "actions_for",
    "alert_groups_of_fields",
    "allowed_transitions",
    "charted_prediction",
    "default_grace_min",
    "discharge_check",
    "escalation_policy",
    "evaluate_observation",
    "field_groups",
    "fields_of_group",
    "get_cadence",
    "get_kind",
    "group_of_field",
    "groups_charted",
    "interpret",
    "interpret_value",
    "is_clinic_wide",
    "is_worse",
    "load_alert_rules",
    "missing_for_signature",
    "most_severe_first",
    "next_due_min",
    "observation_kinds",
    "overdue",
    "overdue_findings",
    "parse_observation",
    "parse_segments",
    "predicted_cp_at",
    "replay_session",
    "rescue_medication",
    "session_total_findings",
    "times_by_group",
    "transition",
    "trigger_key",
]
