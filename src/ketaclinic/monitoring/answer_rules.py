"""Alert rules on a patient's questionnaire answers (PHQ-9 item 9): the same rule file, outside any session.

A finding is keyed by the rule and the stored answers it read, so the same answers never raise twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ketaclinic.monitoring.alert_rules import AlertRule, RuleKind, load_alert_rules, questionnaire_item_of
from ketaclinic.monitoring.observations import compare
from ketaclinic.monitoring.rules import AlertFinding, render_message


def answer_findings(
    items: Mapping[str, Sequence[int]], answers_key: str, rules: Sequence[AlertRule] | None = None
) -> list[AlertFinding]:
    """Every questionnaire_item rule that fires on `items` (instrument -> item answers, item 1 first).

    `answers_key` names the stored answers (e.g. ``pro:12``) and makes each finding's trigger key.

    Examples
    --------
    >>> [f.rule_key for f in answer_findings({"phq9": [0, 0, 0, 0, 0, 0, 0, 0, 2]}, "pro:1")]
    ['phq9_item9_self_harm']
    >>> answer_findings({"phq9": [3, 3, 3, 3, 3, 3, 3, 3, 0]}, "pro:2")
    []
    """
    active = load_alert_rules() if rules is None else rules
    findings = []
    for rule in active:
        if not rule.enabled or rule.kind is not RuleKind.QUESTIONNAIRE_ITEM:
            continue
        read = questionnaire_item_of(rule.field)
        assert read is not None and rule.op is not None and rule.threshold is not None  # checked at load
        instrument, item = read
        answered = items.get(instrument)
        if answered is None or len(answered) < item:
            continue
        value = answered[item - 1]
        if not compare(rule.op, float(value), rule.threshold):
            continue
        findings.append(
            AlertFinding.of(
                rule,
                message=render_message(rule.message, value=value, threshold=rule.threshold),
                field=rule.field,
                value=value,
                threshold=rule.threshold,
                t_min=None,
                trigger_key=f"{rule.key}@{answers_key}",
            )
        )
    return findings
