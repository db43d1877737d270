"""Alert and stop rules as data: alert_rules.toml and a clinic's override file, read and checked.

A rule names what it reads (a reading's field, an overdue slot, the session total, the check-in
weight), how urgent it is, what it advises and its source; `rules.py` evaluates them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from ketaclinic.data import Status, load_toml, load_toml_path, parse_status
from ketaclinic.dosing.library import LimitKind
from ketaclinic.errors import DataFileError
from ketaclinic.monitoring.alert_groups import AlertGroup, group_of_field
from ketaclinic.monitoring.observations import COMPARATORS, observation_kinds


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
    REVIEW_COUNT = "review_count"  # a stock count differs from the ledger: a physician or admin reviews it


class RuleKind(StrEnum):
    """How a rule reads an observation."""

    THRESHOLD = "threshold"
    BASELINE_RISE = "baseline_rise"
    FLAG = "flag"
    OVERDUE = "overdue"
    SESSION_TOTAL = "session_total"
    WEIGHT_DISCREPANCY = "weight_discrepancy"
    QUESTIONNAIRE_ITEM = "questionnaire_item"  # one item of a patient's questionnaire answers
    LEDGER_COUNT_DIFFERENCE = "ledger_count_difference"  # a stock count that differs from the ledger


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


_RULE_KEYS = {"key", "kind", "field", "op", "threshold", "rise_pct", "rise_abs", "severity", "advice"}
_RULE_KEYS |= {"message", "source", "status", "enabled", "limit", "group", "notify_physician"}
SESSION_TOTAL_LIMITS: tuple[LimitKind, ...] = ("soft_max", "hard_max")  # what a session_total rule watches
_NUMERIC_TYPES = {"number", "integer", "cadss6"}
# The field a rule watches when it reads no observation field: its default group.
_WATCHED_FIELD = {
    RuleKind.SESSION_TOTAL.value: "session_total_mg",
    RuleKind.WEIGHT_DISCREPANCY.value: "weight_kg",
}
_KIND_GROUP = {RuleKind.LEDGER_COUNT_DIFFERENCE.value: AlertGroup.STOCK}  # kinds that read no flowsheet field


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
        group_field = _WATCHED_FIELD.get(row["kind"], row.get("field"))
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
            group=AlertGroup(row["group"])
            if "group" in row
            else _KIND_GROUP.get(row["kind"]) or group_of_field(group_field),
            # Critical alerts reach the physician by is_clinic_wide; the row says only what its advice adds.
            notify_physician=bool(row.get("notify_physician", advice is Advice.STOP_AND_CALL)),
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
    if rule.kind in (RuleKind.OVERDUE, RuleKind.WEIGHT_DISCREPANCY, RuleKind.LEDGER_COUNT_DIFFERENCE):
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
        # Every field of the shipped rule (an override names only what it changes), then the override.
        merged = {
            **{f.name: getattr(base, f.name) for f in fields(base)},
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
