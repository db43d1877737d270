"""Alert escalation: which alerts are clinic-wide, the acknowledging actions, list order, re-notification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from ketaclinic.data import Status, load_toml, load_toml_path, parse_status
from ketaclinic.errors import DataFileError
from ketaclinic.monitoring.alert_groups import FOLLOWUP_ACTIONS, SESSION_ACTIONS, STOCK_ACTIONS, AlertAction
from ketaclinic.monitoring.alert_rules import Advice, Severity

ESCALATION_FILE = "alert_escalation.toml"
SEVERITY_RANK: dict[str, int] = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
_ADVISED_ACTION: dict[Advice, AlertAction] = {
    Advice.CONTINUE_AND_RECHECK: AlertAction.CONTINUE_AND_RECHECK,
    Advice.REDUCE_RATE: AlertAction.REDUCE_RATE,
    Advice.PAUSE: AlertAction.PAUSE,
    Advice.STOP_AND_CALL: AlertAction.STOP,
    Advice.ASSESS_PATIENT: AlertAction.PATIENT_ASSESSED,
    Advice.REVIEW_COUNT: AlertAction.COUNT_REVIEWED,
}


def actions_for(advice: Advice | str) -> tuple[AlertAction, ...]:
    """The actions offered to acknowledge an alert: the advised one first, then the others of its setting."""
    advised = _ADVISED_ACTION[Advice(advice)]
    setting = next(
        (actions for actions in (FOLLOWUP_ACTIONS, STOCK_ACTIONS) if advised in actions), SESSION_ACTIONS
    )
    return (advised, *(action for action in setting if action is not advised))


def is_worse(severity: str, than: str) -> bool:
    """True when `severity` is more urgent than `than`."""
    return SEVERITY_RANK[severity] > SEVERITY_RANK[than]


def is_clinic_wide(severity: str, notify_physician: bool) -> bool:
    """Critical alerts and those whose advice involves the physician reach every physician and nurse."""
    return notify_physician or severity == Severity.CRITICAL


def most_severe_first(severity: str, newest: datetime) -> tuple[int, float]:
    """Sort key of every alert list: most severe first, then newest."""
    return (-SEVERITY_RANK[severity], -newest.timestamp())


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """How long a critical alert may stay unacknowledged before it is announced again."""

    renotify_after_min: float
    source: str
    status: Status

    def renotify_due(self, critical_since: datetime, now: datetime) -> bool:
        """True once a critical alert opened at `critical_since` has waited past the policy time."""
        return now - critical_since >= timedelta(minutes=self.renotify_after_min)


def _policy(table: dict[str, object], where: str, default: EscalationPolicy | None) -> EscalationPolicy:
    unknown = sorted(set(table) - {"renotify_after_min", "source", "status"})
    if unknown:
        raise DataFileError(f"{where}: unknown key {unknown[0]!r}")
    raw = table.get("renotify_after_min", None if default is None else default.renotify_after_min)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        raise DataFileError(f"{where}: renotify_after_min must be a positive number of minutes")
    if default is None:
        return EscalationPolicy(float(raw), str(table["source"]), parse_status(table["status"], where))
    return EscalationPolicy(
        float(raw), str(table.get("source", f"clinic override ({where})")), Status.LOCAL_POLICY
    )


@cache
def _shipped_policy() -> EscalationPolicy:
    return _policy(load_toml(ESCALATION_FILE), ESCALATION_FILE, None)


def escalation_policy(override_path: Path | None = None) -> EscalationPolicy:
    """The shipped re-notification policy, with a clinic's override file applied when it exists."""
    shipped = _shipped_policy()
    if override_path is None or not override_path.is_file():
        return shipped
    return _policy(load_toml_path(override_path), str(override_path), shipped)
