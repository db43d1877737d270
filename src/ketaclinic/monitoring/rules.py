"""Alert and stop rules as data (alert_rules.toml, clinic overrides) and their pure evaluation.

Every finding carries a stable `trigger_key` (rule key + reading identity) so the service can store
one durable alert row per triggering reading under a unique constraint: the same reading evaluated
again yields the same key, never a second alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ketaclinic.data import Status, load_toml, load_toml_path, parse_status
from ketaclinic.dosing.library import LimitKind
from ketaclinic.errors import DataFileError
from ketaclinic.monitoring.alert_groups import AlertGroup, group_of_field
from ketaclinic.monitoring.cadence import OverdueSlot
from ketaclinic.monitoring.observations import COMPARATORS, Observation, compare, observation_kinds


class Severity(StrEnum):
    """How urgent a finding is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Advice(StrEnum):
    """What the rule advises the nurse to do, mildest first."""

    CONTINUE_AND_RECHECK = "continue_and_recheck"
    REDUCE_RATE = "reduce_rate"
    PAUSE = "pause"
    STOP_AND_CALL = "stop_and_call"
    ASSESS_PATIENT = "assess_patient"  # a patient's answers at home: a clinician assesses them


class RuleKind(StrEnum):
    """How a rule reads an observation."""

    THRESHOLD = "threshold"
    BASELINE_RISE = "baseline_rise"
    FLAG = "flag"
    OVERDUE = "overdue"
    SESSION_TOTAL = "session_total"
    QUESTIONNAIRE_ITEM = "questionnaire_item"  # one item of a patient's questionnaire answers


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One alert rule with its source; thresholds are in the field's own unit."""

    key: str
    kind: RuleKind
    field: str | None
    op: str | None
    threshold: float | None
    rise_pct: float | None
    rise_abs: float | None
    severity: Severity
    advice: Advice
    message: str
    source: str
    status: Status
    enabled: bool = True
    limit: str | None = None  # session_total rules: the drug library maximum they watch
    group: AlertGroup = AlertGroup.CHARTING
    notify_physician: bool = False  # clinic-wide: shown to every physician and nurse


class AlertFinding(BaseModel):
    """A rule that fired on one reading (or one overdue slot)."""

    model_config = ConfigDict(frozen=True)

    rule_key: str
    severity: Severity
    advice: Advice
    message: str
    field: str | None
    value: bool | int | float | None
    threshold: float | None
    baseline: float | None = None
    t_min: float | None  # minutes from the session's start; None for a patient's answers outside a session
    trigger_key: str
    source: str
    status: Status
    group: AlertGroup
    notify_physician: bool


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render_message(template: str, **values: object) -> str:
    """Fill {value}, {threshold}, {baseline}, {unit}, {group}, {t_due_min}; unknown names stay as written."""
    return template.format_map(_Blank({k: _fmt(v) for k, v in values.items() if v is not None}))


_RULE_KEYS = {"key", "kind", "field", "op", "threshold", "rise_pct", "rise_abs", "severity", "advice"}
_RULE_KEYS |= {"message", "source", "status", "enabled", "limit", "group", "notify_physician"}
SESSION_TOTAL_LIMITS: tuple[LimitKind, ...] = ("soft_max", "hard_max")  # what a session_total rule watches
_NUMERIC_TYPES = {"number", "integer", "cadss6"}
_NOT_READINGS = frozenset({RuleKind.OVERDUE, RuleKind.QUESTIONNAIRE_ITEM})  # rules no reading answers


def _rule_from_row(row: Mapping[str, Any], where: str) -> AlertRule:
    unknown = sorted(set(row) - _RULE_KEYS)
    if unknown:
        raise DataFileError(f"{where}: unknown key {unknown[0]!r}")
    if row.get("kind") == RuleKind.QUESTIONNAIRE_ITEM and "group" not in row:
        raise DataFileError(
            f"{where}: a questionnaire_item rule needs a group (no flowsheet field names one)"
        )
    try:
        severity, advice = Severity(row["severity"]), Advice(row["advice"])
        group_field = "session_total_mg" if row["kind"] == RuleKind.SESSION_TOTAL else row.get("field")
        rule = AlertRule(
            key=str(row["key"]),
            kind=RuleKind(row["kind"]),
            field=row.get("field"),
            op=row.get("op"),
            threshold=None if row.get("threshold") is None else float(row["threshold"]),
            rise_pct=None if row.get("rise_pct") is None else float(row["rise_pct"]),
            rise_abs=None if row.get("rise_abs") is None else float(row["rise_abs"]),
            severity=severity,
            advice=advice,
            message=str(row["message"]),
            source=str(row["source"]),
            status=parse_status(row["status"], where),
            enabled=bool(row.get("enabled", True)),
            limit=row.get("limit"),
            group=AlertGroup(row["group"]) if "group" in row else group_of_field(group_field),
            notify_physician=bool(
                row.get(
                    "notify_physician",
                    severity is Severity.CRITICAL or advice is Advice.STOP_AND_CALL,
                )
            ),
        )
    except KeyError as exc:
        raise DataFileError(f"{where}: missing {exc.args[0]!r}") from None
    except (ValueError, TypeError) as exc:
        raise DataFileError(f"{where}: {exc}") from None
    _check_rule(rule, where)
    return rule


def _check_rule(rule: AlertRule, where: str) -> None:
    """A rule must be complete for its kind and name a field of the right type."""
    kinds = observation_kinds()
    if rule.kind is RuleKind.OVERDUE:
        return
    if rule.kind is RuleKind.QUESTIONNAIRE_ITEM:
        if questionnaire_item_of(rule.field) is None:
            raise DataFileError(f"{where}: a questionnaire_item rule needs field = '<instrument>.item<n>'")
        if rule.op not in COMPARATORS or rule.threshold is None:
            raise DataFileError(f"{where}: a questionnaire_item rule needs op (lt, le, gt, ge) and threshold")
        return
    if rule.kind is RuleKind.SESSION_TOTAL:
        if rule.limit not in SESSION_TOTAL_LIMITS:
            raise DataFileError(f"{where}: a session_total rule needs limit = soft_max or hard_max")
        return
    if rule.field not in kinds:
        raise DataFileError(f"{where}: field {rule.field!r} is not an observation field")
    value_type = kinds[rule.field].value_type
    if rule.kind is RuleKind.FLAG:
        if value_type != "boolean":
            raise DataFileError(f"{where}: a flag rule needs a yes/no field, {rule.field!r} is {value_type}")
        return
    if value_type not in _NUMERIC_TYPES:
        raise DataFileError(f"{where}: field {rule.field!r} is not numeric")
    if rule.kind is RuleKind.THRESHOLD:
        if rule.op not in COMPARATORS or rule.threshold is None:
            raise DataFileError(f"{where}: a threshold rule needs op (lt, le, gt, ge) and threshold")
    elif rule.rise_pct is None and rule.rise_abs is None:
        raise DataFileError(f"{where}: a baseline_rise rule needs rise_pct or rise_abs")
    elif any(x is not None and x <= 0 for x in (rule.rise_pct, rule.rise_abs)):
        raise DataFileError(f"{where}: rise_pct and rise_abs must be positive")


def questionnaire_item_of(field: str | None) -> tuple[str, int] | None:
    """The instrument and 1-based item a questionnaire_item rule reads (`phq9.item9` -> ("phq9", 9))."""
    instrument, _, item = (field or "").partition(".item")
    if not instrument or not item.isdecimal() or int(item) < 1:
        return None
    return instrument, int(item)


def merge_rule_overrides(
    rules: Sequence[AlertRule], rows: Iterable[Mapping[str, Any]], where: str
) -> tuple[AlertRule, ...]:
    """Apply a clinic's override rows: change local-policy rules by key, or add complete new rules.

    A rule that is not local-policy cannot be changed (DataFileError). Changed rules are relabelled
    with the override's source (default: the override file) and stay local-policy.
    """
    by_key = {rule.key: rule for rule in rules}
    order = [rule.key for rule in rules]
    for index, row in enumerate(rows):
        here = f"{where} rule[{index}]"
        key = row.get("key")
        if not isinstance(key, str):
            raise DataFileError(f"{here}: missing 'key'")
        if key not in by_key:
            by_key[key] = _rule_from_row(row, f"{here} {key}")
            order.append(key)
            continue
        base = by_key[key]
        if base.status is not Status.LOCAL_POLICY:
            raise DataFileError(f"{here} {key}: a {base.status.value} rule cannot be overridden")
        unknown = sorted(set(row) - _RULE_KEYS)
        if unknown:
            raise DataFileError(f"{here} {key}: unknown key {unknown[0]!r}")
        if "kind" in row and row["kind"] != base.kind.value:
            raise DataFileError(f"{here} {key}: the kind of a shipped rule cannot be changed")
        merged = {
            "key": key,
            "kind": base.kind.value,
            "field": base.field,
            "op": base.op,
            "threshold": base.threshold,
            "rise_pct": base.rise_pct,
            "rise_abs": base.rise_abs,
            "severity": base.severity.value,
            "advice": base.advice.value,
            "message": base.message,
            "enabled": base.enabled,
            "group": base.group.value,
            "notify_physician": base.notify_physician,
            **{k: v for k, v in row.items() if k not in ("source", "status")},
            "source": row.get("source", f"clinic override ({where})"),
            "status": Status.LOCAL_POLICY.value,
        }
        by_key[key] = _rule_from_row(merged, f"{here} {key}")
    return tuple(by_key[key] for key in order)


@cache
def shipped_alert_rules() -> tuple[AlertRule, ...]:
    """The rules of the shipped alert_rules.toml."""
    rows = load_toml("alert_rules.toml").get("rule", [])
    rules = tuple(_rule_from_row(row, f"alert_rules.toml {row.get('key', '?')}") for row in rows)
    keys = [rule.key for rule in rules]
    if len(set(keys)) != len(keys):
        raise DataFileError("alert_rules.toml: duplicate rule key")
    return rules


def load_alert_rules(override_path: Path | str | None = None) -> tuple[AlertRule, ...]:
    """The shipped rules, with a clinic's override file applied when given (disabled rules dropped)."""
    rules = shipped_alert_rules()
    if override_path is not None:
        path = Path(override_path)
        rows = load_toml_path(path).get("rule", [])
        if not isinstance(rows, list):
            raise DataFileError(f"{path}: 'rule' must be an array of tables ([[rule]])")
        rules = merge_rule_overrides(rules, rows, str(path))
    return tuple(rule for rule in rules if rule.enabled)


def trigger_key(rule_key: str, obs: Observation) -> str:
    """Stable key of a finding: the same rule on the same reading always gives the same key."""
    return f"{rule_key}@{obs.identity}"


def rise_threshold(rule: AlertRule, baseline_value: float) -> float:
    """The reading at which a baseline-rise rule fires: the lower of baseline + pct and baseline + abs."""
    candidates = []
    if rule.rise_pct is not None:
        candidates.append(baseline_value * (1.0 + rule.rise_pct / 100.0))
    if rule.rise_abs is not None:
        candidates.append(baseline_value + rule.rise_abs)
    return min(candidates)


def _finding(
    rule: AlertRule,
    obs: Observation,
    value: bool | int | float,
    threshold: float | None,
    baseline: float | None = None,
) -> AlertFinding:
    unit = observation_kinds()[rule.field].unit_label if rule.field else ""
    return AlertFinding(
        rule_key=rule.key,
        severity=rule.severity,
        advice=rule.advice,
        message=render_message(rule.message, value=value, threshold=threshold, baseline=baseline, unit=unit),
        field=rule.field,
        value=value,
        threshold=threshold,
        baseline=baseline,
        t_min=obs.t_min,
        trigger_key=trigger_key(rule.key, obs),
        source=rule.source,
        status=rule.status,
        group=rule.group,
        notify_physician=rule.notify_physician,
    )


def evaluate_observation(
    obs: Observation, baseline: Observation | None = None, rules: Sequence[AlertRule] | None = None
) -> list[AlertFinding]:
    """Every rule that fires on `obs` (against the patient's `baseline` for rise rules), in rule order.

    Examples
    --------
    >>> from ketaclinic.monitoring import Observation
    >>> findings = evaluate_observation(
    ...     Observation(t_min=30, sbp=152, spo2=89), baseline=Observation(t_min=-5, sbp=124)
    ... )
    >>> for f in findings:
    ...     print(f.rule_key, f.severity.value, f.advice.value, f.threshold)
    spo2_low warning continue_and_recheck 94.0
    spo2_critical critical stop_and_call 90.0
    sbp_rise_from_baseline warning reduce_rate 148.8
    """
    active = load_alert_rules() if rules is None else rules
    findings: list[AlertFinding] = []
    for rule in active:
        if not rule.enabled or rule.kind in _NOT_READINGS or rule.field is None:
            continue
        value = obs.value_of(rule.field)
        if value is None or isinstance(value, str):
            continue
        if rule.kind is RuleKind.FLAG:
            if value is True:
                findings.append(_finding(rule, obs, True, None))
        elif rule.kind is RuleKind.THRESHOLD:
            assert rule.op is not None and rule.threshold is not None  # checked at load
            if compare(rule.op, float(value), rule.threshold):
                findings.append(_finding(rule, obs, value, rule.threshold))
        else:
            base = None if baseline is None else baseline.value_of(rule.field)
            if base is None or isinstance(base, bool | str):
                continue
            limit = rise_threshold(rule, float(base))
            if float(value) >= limit:
                findings.append(_finding(rule, obs, value, round(limit, 6), float(base)))
    return findings


def overdue_findings(
    slots: Iterable[OverdueSlot], rules: Sequence[AlertRule] | None = None
) -> list[AlertFinding]:
    """One finding per overdue slot from the overdue rule(s); key = rule + group + due time."""
    active = load_alert_rules() if rules is None else rules
    findings = []
    missed = list(slots)
    for rule in active:
        if not rule.enabled or rule.kind is not RuleKind.OVERDUE:
            continue
        for slot in missed:
            findings.append(
                AlertFinding(
                    rule_key=rule.key,
                    severity=rule.severity,
                    advice=rule.advice,
                    message=render_message(rule.message, group=slot.group, t_due_min=slot.t_due_min),
                    field=None,
                    value=None,
                    threshold=None,
                    t_min=slot.t_due_min,
                    trigger_key=f"{rule.key}@{slot.group}:t_due={slot.t_due_min:g}",
                    source=rule.source,
                    status=rule.status,
                    group=rule.group,
                    notify_physician=rule.notify_physician,
                )
            )
    return findings


def session_total_findings(
    given_mg: float,
    t_min: float,
    limits: Mapping[str, tuple[float, str]],
    rules: Sequence[AlertRule] | None = None,
) -> list[AlertFinding]:
    """One finding per session-total rule whose library maximum (`limits`: kind -> mg, source) was passed.

    Keyed once per session and limit: the amount given only grows, so the alert is raised once.
    """
    active = load_alert_rules() if rules is None else rules
    findings = []
    for rule in active:
        watched = limits.get(rule.limit or "")
        if not rule.enabled or rule.kind is not RuleKind.SESSION_TOTAL or watched is None:
            continue
        limit_mg, limit_source = watched
        if given_mg > limit_mg * (1 + 1e-9):
            findings.append(
                AlertFinding(
                    rule_key=rule.key,
                    severity=rule.severity,
                    advice=rule.advice,
                    message=render_message(
                        rule.message, value=round(given_mg, 1), threshold=limit_mg, unit="mg"
                    ),
                    field="session_total_mg",
                    value=round(given_mg, 3),
                    threshold=limit_mg,
                    t_min=t_min,
                    trigger_key=f"{rule.key}@{rule.limit}",
                    source=f"{rule.source}; limit: {limit_source}",
                    status=rule.status,
                    group=rule.group,
                    notify_physician=rule.notify_physician,
                )
            )
    return findings
