"""Alert and stop rules evaluated: the findings of a reading, an overdue slot, the session total given.

Every finding carries a stable `trigger_key` (rule key + reading identity) so the service can store
one durable alert row per triggering reading under a unique constraint: the same reading evaluated
again yields the same key, never a second alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from ketaclinic.data import Status
from ketaclinic.monitoring.alert_groups import AlertGroup
from ketaclinic.monitoring.alert_rules import Advice, AlertRule, RuleKind, Severity, load_alert_rules
from ketaclinic.monitoring.cadence import OverdueSlot
from ketaclinic.monitoring.observations import Observation, compare, observation_kinds

_NOT_READINGS = frozenset({RuleKind.OVERDUE, RuleKind.QUESTIONNAIRE_ITEM})  # rules no reading answers


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

    @classmethod
    def of(
        cls,
        rule: AlertRule,
        *,
        message: str,
        value: bool | int | float | None,
        threshold: float | None,
        t_min: float | None,
        trigger_key: str,
        field: str | None = None,
        baseline: float | None = None,
        limit_source: str | None = None,
    ) -> AlertFinding:
        """A finding of `rule`: what fired is given, the rest (severity, advice, source ...) is the rule's."""
        return cls(
            rule_key=rule.key,
            severity=rule.severity,
            advice=rule.advice,
            message=message,
            field=field,
            value=value,
            threshold=threshold,
            baseline=baseline,
            t_min=t_min,
            trigger_key=trigger_key,
            source=rule.source if limit_source is None else f"{rule.source}; limit: {limit_source}",
            status=rule.status,
            group=rule.group,
            notify_physician=rule.notify_physician,
        )


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render_message(template: str, **values: object) -> str:
    """Fill {value}, {threshold}, {baseline}, {unit}, {group}, {t_due_min}, {message}, {reason}; unknown
    names stay as written."""
    return template.format_map(_Blank({k: _fmt(v) for k, v in values.items() if v is not None}))


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
    return AlertFinding.of(
        rule,
        message=render_message(rule.message, value=value, threshold=threshold, baseline=baseline, unit=unit),
        field=rule.field,
        value=value,
        threshold=threshold,
        baseline=baseline,
        t_min=obs.t_min,
        trigger_key=trigger_key(rule.key, obs),
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
                AlertFinding.of(
                    rule,
                    message=render_message(rule.message, group=slot.group, t_due_min=slot.t_due_min),
                    value=None,
                    threshold=None,
                    t_min=slot.t_due_min,
                    trigger_key=f"{rule.key}@{slot.group}:t_due={slot.t_due_min:g}",
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
                AlertFinding.of(
                    rule,
                    message=render_message(
                        rule.message, value=round(given_mg, 1), threshold=limit_mg, unit="mg"
                    ),
                    field="session_total_mg",
                    value=round(given_mg, 3),
                    threshold=limit_mg,
                    t_min=t_min,
                    trigger_key=f"{rule.key}@{rule.limit}",
                    limit_source=limit_source,
                )
            )
    return findings


def weight_discrepancy_findings(
    weight_kg: float,
    plan_weight_kg: float,
    *,
    described: str,
    reason: str,
    limit_source: str,
    rules: Sequence[AlertRule] | None = None,
) -> list[AlertFinding]:
    """One finding per weight-discrepancy rule for a check-in weight the nurse kept with a reason
    (`described`: how it differs from the plan's, `limit_source`: where the fraction comes from).

    Keyed once per session: a session is checked in once.
    """
    active = load_alert_rules() if rules is None else rules
    return [
        AlertFinding.of(
            rule,
            message=render_message(rule.message, message=described, reason=reason),
            field="weight_kg",
            value=weight_kg,
            threshold=plan_weight_kg,
            t_min=0.0,
            trigger_key=rule.key,
            limit_source=limit_source,
        )
        for rule in active
        if rule.enabled and rule.kind is RuleKind.WEIGHT_DISCREPANCY
    ]


def ledger_count_findings(
    count_id: int,
    *,
    described: str,
    differences: int,
    rules: Sequence[AlertRule] | None = None,
) -> list[AlertFinding]:
    """One finding per ledger-count rule for a stock count whose lines differ from the ledger
    (`described`: where and how they differ). Keyed once per count: a count is recorded once."""
    active = load_alert_rules() if rules is None else rules
    return [
        AlertFinding.of(
            rule,
            message=render_message(rule.message, count=count_id, value=differences, message=described),
            value=differences,
            threshold=None,
            t_min=None,
            trigger_key=f"{rule.key}@count:{count_id}",
        )
        for rule in active
        if rule.enabled and rule.kind is RuleKind.LEDGER_COUNT_DIFFERENCE and differences > 0
    ]
