"""Rules on a patient's questionnaire answers: PHQ-9 item 9 above 0, whatever the total."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.data import Status
from ketaclinic.errors import DataFileError
from ketaclinic.monitoring import AlertGroup, Severity, is_clinic_wide
from ketaclinic.monitoring.alert_rules import Advice, merge_rule_overrides, shipped_alert_rules
from ketaclinic.monitoring.answer_rules import answer_findings


def test_the_self_harm_rule_is_shipped_with_its_publication() -> None:
    rule = {r.key: r for r in shipped_alert_rules()}["phq9_item9_self_harm"]
    assert (rule.field, rule.op, rule.threshold) == ("phq9.item9", "gt", 0)
    assert rule.group is AlertGroup.MENTAL_HEALTH and rule.severity is Severity.CRITICAL
    assert rule.advice is Advice.ASSESS_PATIENT
    # Critical: every physician's and nurse's list and badge (the one rule, is_clinic_wide).
    assert is_clinic_wide(rule.severity.value, rule.notify_physician)
    assert rule.status is Status.SECONDARY and "Kroenke" in rule.source


@pytest.mark.parametrize(("item9", "fires"), [(0, False), (1, True), (2, True), (3, True)])
def test_item_9_above_0_fires(item9: int, fires: bool) -> None:
    findings = answer_findings({"phq9": [0] * 8 + [item9]}, "pro:7")
    assert bool(findings) is fires
    if fires:
        (finding,) = findings
        assert finding.trigger_key == "phq9_item9_self_harm@pro:7" and finding.value == item9
        assert finding.t_min is None and f"answered {item9} of 3" in finding.message


@given(st.lists(st.integers(0, 3), min_size=8, max_size=8))
def test_property_the_other_items_never_fire_it(others: list[int]) -> None:
    assert answer_findings({"phq9": [*others, 0], "gad7": [3] * 7}, "pro:1") == []
    assert len(answer_findings({"phq9": [*others, 1]}, "pro:1")) == 1


def test_no_phq9_answers_no_finding() -> None:
    assert answer_findings({"gad7": [3] * 7}, "pro:1") == []


def test_a_clinic_cannot_change_or_switch_off_the_published_rule() -> None:
    for change in ({"enabled": False}, {"threshold": 1}, {"severity": "info"}):
        with pytest.raises(DataFileError, match="secondary"):
            merge_rule_overrides(shipped_alert_rules(), [{"key": "phq9_item9_self_harm", **change}], "x")


def test_a_questionnaire_rule_needs_an_item_field_and_a_group() -> None:
    base = {
        "kind": "questionnaire_item",
        "op": "ge",
        "threshold": 2,
        "severity": "warning",
        "advice": "assess_patient",
        "message": "m",
        "source": "s",
        "status": "local-policy",
    }
    with pytest.raises(DataFileError, match="group"):
        merge_rule_overrides((), [{"key": "a", "field": "gad7.item1", **base}], "x")
    with pytest.raises(DataFileError, match="item"):
        merge_rule_overrides((), [{"key": "b", "field": "gad7", "group": "mental_health", **base}], "x")
    (added,) = merge_rule_overrides(
        (), [{"key": "c", "field": "gad7.item1", "group": "mental_health", **base}], "x"
    )
    assert [f.rule_key for f in answer_findings({"gad7": [2] + [0] * 6}, "pro:3", [added])] == ["c"]
