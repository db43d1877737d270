"""Alert groups, acknowledging actions, list order and the re-notification policy (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.data import Status
from ketaclinic.errors import DataFileError
from ketaclinic.monitoring import (
    Advice,
    AlertAction,
    AlertGroup,
    Observation,
    Severity,
    actions_for,
    alert_groups_of_fields,
    escalation_policy,
    evaluate_observation,
    fields_of_group,
    is_clinic_wide,
    most_severe_first,
)
from ketaclinic.monitoring.alert_groups import FOLLOWUP_ACTIONS, SESSION_ACTIONS, STOCK_ACTIONS
from ketaclinic.monitoring.alert_rules import merge_rule_overrides, shipped_alert_rules

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def test_the_flooding_reading_of_the_clinic_day_falls_into_two_groups() -> None:
    findings = evaluate_observation(
        Observation(t_min=30, sbp=186, dbp=114, hr=104, hallucinations=True),
        baseline=Observation(t_min=-5, sbp=128, dbp=78, hr=72),
    )
    assert len(findings) == 7
    assert {f.group for f in findings} == {AlertGroup.BLOOD_PRESSURE, AlertGroup.PSYCHOMIMETIC}
    wide = {f.rule_key for f in findings if is_clinic_wide(f.severity.value, f.notify_physician)}
    assert wide == {"sbp_critical", "dbp_critical"}


def test_every_shipped_rule_has_a_group_and_the_physician_rules_are_clinic_wide() -> None:
    rules = {rule.key: rule for rule in shipped_alert_rules()}
    assert rules["spo2_low"].group is AlertGroup.OXYGENATION
    assert rules["rr_critical"].group is AlertGroup.RESPIRATION
    assert rules["moaas_oversedation"].group is AlertGroup.SEDATION
    assert rules["observation_overdue"].group is AlertGroup.CHARTING
    assert rules["session_total_hard"].group is AlertGroup.DOSE
    assert rules["session_total_soft"].notify_physician  # "review the rate with the physician"
    assert not rules["tachycardia"].notify_physician
    for rule in rules.values():
        wide = is_clinic_wide(rule.severity.value, rule.notify_physician)
        assert wide == (rule.severity is Severity.CRITICAL or rule.notify_physician)


def test_a_clinic_override_may_regroup_a_rule_but_not_name_an_unknown_group() -> None:
    rules = merge_rule_overrides(
        shipped_alert_rules(), [{"key": "dissociation_severe", "group": "mental_health"}], "x"
    )
    assert {r.key: r for r in rules}["dissociation_severe"].group is AlertGroup.MENTAL_HEALTH
    with pytest.raises(DataFileError):
        merge_rule_overrides(shipped_alert_rules(), [{"key": "nausea", "group": "stomach"}], "x")


def test_fields_of_a_group_and_groups_of_fields() -> None:
    assert fields_of_group(AlertGroup.BLOOD_PRESSURE) == {"sbp", "dbp"}
    assert alert_groups_of_fields(["hr", "nrs", "note"]) == {AlertGroup.HEART_RATE, AlertGroup.PAIN}


@pytest.mark.parametrize(
    ("advice", "first"),
    [
        (Advice.CONTINUE_AND_RECHECK, AlertAction.CONTINUE_AND_RECHECK),
        (Advice.REDUCE_RATE, AlertAction.REDUCE_RATE),
        (Advice.PAUSE, AlertAction.PAUSE),
        (Advice.STOP_AND_CALL, AlertAction.STOP),
        (Advice.ASSESS_PATIENT, AlertAction.PATIENT_ASSESSED),
        (Advice.REVIEW_COUNT, AlertAction.COUNT_REVIEWED),
    ],
)
def test_the_advised_action_is_offered_first_then_the_others_of_its_setting(
    advice: Advice, first: AlertAction
) -> None:
    offered = actions_for(advice)
    settings = {Advice.ASSESS_PATIENT: FOLLOWUP_ACTIONS, Advice.REVIEW_COUNT: STOCK_ACTIONS}
    assert offered[0] is first and sorted(offered) == sorted(settings.get(advice, SESSION_ACTIONS))
    every = SESSION_ACTIONS + FOLLOWUP_ACTIONS + STOCK_ACTIONS
    assert sorted(every) == sorted(AlertAction)  # every action has a setting


@given(
    st.lists(
        st.tuples(st.sampled_from(list(Severity)), st.integers(0, 10_000)),
        min_size=1,
        max_size=20,
    )
)
def test_property_lists_are_most_severe_first_then_newest(items: list[tuple[Severity, int]]) -> None:
    ordered = sorted(items, key=lambda i: most_severe_first(i[0], T0 + timedelta(seconds=i[1])))
    rank = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
    for (sev_a, t_a), (sev_b, t_b) in pairwise(ordered):
        assert rank[sev_a] > rank[sev_b] or (sev_a == sev_b and t_a >= t_b)


def test_the_shipped_renotification_policy_is_a_labelled_local_policy() -> None:
    policy = escalation_policy()
    assert policy.renotify_after_min == 5 and policy.status is Status.LOCAL_POLICY
    assert not policy.renotify_due(T0, T0 + timedelta(minutes=4, seconds=59))
    assert policy.renotify_due(T0, T0 + timedelta(minutes=5))


@given(st.floats(0.5, 120), st.floats(0, 240))
def test_property_renotification_is_due_exactly_from_the_policy_time(
    after_min: float, waited_min: float
) -> None:
    from ketaclinic.monitoring import EscalationPolicy

    policy = EscalationPolicy(after_min, "test", Status.LOCAL_POLICY)
    assert policy.renotify_due(T0, T0 + timedelta(minutes=waited_min)) == (
        timedelta(minutes=waited_min) >= timedelta(minutes=after_min)
    )


def test_a_clinic_changes_the_renotification_time_in_its_config_dir(tmp_path: Path) -> None:
    path = tmp_path / "alert_escalation.toml"
    assert escalation_policy(path).renotify_after_min == 5  # no file: the shipped default
    path.write_text('renotify_after_min = 3\nsource = "Clinic X escalation policy 2026"\n', encoding="utf-8")
    policy = escalation_policy(path)
    assert (policy.renotify_after_min, policy.source, policy.status) == (
        3,
        "Clinic X escalation policy 2026",
        Status.LOCAL_POLICY,
    )
    for bad in ("renotify_after_min = 0", "renotify_after_min = true", "renotify_after = 3"):
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(DataFileError):
            escalation_policy(path)
