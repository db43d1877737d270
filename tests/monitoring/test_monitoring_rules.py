"""Alert rules: every shipped rule fires at and not short of its threshold; overrides; stable trigger keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.monitoring.monitoring_strategies import valid_observations

from ketaclinic.data import Status
from ketaclinic.errors import DataFileError
from ketaclinic.monitoring import (
    Advice,
    AlertRule,
    Observation,
    OverdueSlot,
    RuleKind,
    Severity,
    evaluate_observation,
    load_alert_rules,
    observation_kinds,
    overdue_findings,
    trigger_key,
)
from ketaclinic.monitoring.alert_rules import merge_rule_overrides, shipped_alert_rules
from ketaclinic.monitoring.rules import rise_threshold, weight_discrepancy_findings

RULES = shipped_alert_rules()
THRESHOLD_RULES = [r for r in RULES if r.kind is RuleKind.THRESHOLD]
# The step between two chartable values just either side of a threshold.
STEP = {"integer": 1.0, "cadss6": 1.0, "number": 0.1}
# The direction in which each op fires: +1 fires above, -1 fires below.
DIRECTION = {"ge": 1, "gt": 1, "le": -1, "lt": -1}


def _keys(obs: Observation, baseline: Observation | None = None) -> set[str]:
    return {f.rule_key for f in evaluate_observation(obs, baseline, RULES)}


def test_the_required_rules_are_shipped_with_severity_advice_and_label() -> None:
    keys = {r.key for r in RULES}
    required = {
        "spo2_low",
        "sbp_high",
        "dbp_high",
        "sbp_rise_from_baseline",
        "tachycardia",
        "bradycardia",
        "rr_low",
        "rass_oversedation",
        "moaas_oversedation",
        "dissociation_severe",
        "hallucinations",
        "observation_overdue",
    }
    assert required <= keys
    for rule in RULES:
        assert isinstance(rule.severity, Severity) and isinstance(rule.advice, Advice)
        # Only the PHQ-9 item 9 rule follows a publication; every infusion rule is local policy.
        published = {"phq9_item9_self_harm": Status.SECONDARY}
        assert rule.source and rule.status is published.get(rule.key, Status.LOCAL_POLICY)
        assert rule.message


def test_the_reference_example_pause_rules() -> None:
    by_key = {r.key: r for r in RULES}
    assert (by_key["rass_oversedation"].op, by_key["rass_oversedation"].threshold) == ("le", -2)
    assert (by_key["moaas_oversedation"].op, by_key["moaas_oversedation"].threshold) == ("le", 3)
    assert by_key["rass_oversedation"].advice is Advice.PAUSE


@pytest.mark.parametrize("rule", THRESHOLD_RULES, ids=lambda r: r.key)
def test_each_threshold_rule_fires_at_and_not_short_of_its_threshold(rule: AlertRule) -> None:
    assert rule.field is not None and rule.op is not None and rule.threshold is not None
    step = STEP[observation_kinds()[rule.field].value_type]
    direction = DIRECTION[rule.op]
    inclusive = rule.op in ("ge", "le")
    first_firing = rule.threshold if inclusive else rule.threshold + direction * step
    last_quiet = first_firing - direction * step

    def obs(value: float) -> Observation:
        if rule.field == "cadss6":
            return Observation(t_min=10, cadss6=(int(value), 0, 0, 0, 0, 0))
        return Observation(t_min=10, **{rule.field: value})  # type: ignore[arg-type]

    assert rule.key in _keys(obs(first_firing))
    assert rule.key not in _keys(obs(last_quiet))
    beyond = first_firing + direction * step
    kind = observation_kinds()[rule.field]
    assert kind.valid_min is not None and kind.valid_max is not None
    if kind.valid_min <= beyond <= kind.valid_max:
        assert rule.key in _keys(obs(beyond))


def test_hallucinations_flag_fires_only_when_true() -> None:
    assert "hallucinations" in _keys(Observation(t_min=5, hallucinations=True))
    assert "hallucinations" not in _keys(Observation(t_min=5, hallucinations=False))


def test_baseline_rise_fires_at_the_lower_of_percent_and_absolute_rise() -> None:
    rule = next(r for r in RULES if r.key == "sbp_rise_from_baseline")
    assert rule.rise_pct == 20 and rule.rise_abs == 30
    baseline = Observation(t_min=0, sbp=120, dbp=70)
    # 20 % of 120 is 24 < 30, so the percent limit (144) comes first.
    assert rise_threshold(rule, 120) == pytest.approx(144)
    assert "sbp_rise_from_baseline" in _keys(Observation(t_min=20, sbp=144), baseline)
    assert "sbp_rise_from_baseline" not in _keys(Observation(t_min=20, sbp=143.9), baseline)
    # With a high baseline the absolute rise (30 mmHg) comes first: 170 + 30 = 200 < 170 * 1.2 = 204.
    high = Observation(t_min=0, sbp=170, dbp=90)
    assert rise_threshold(rule, 170) == pytest.approx(200)
    assert "sbp_rise_from_baseline" in _keys(Observation(t_min=20, sbp=200), high)
    assert "sbp_rise_from_baseline" not in _keys(Observation(t_min=20, sbp=199), high)


def test_baseline_rise_needs_a_baseline_value() -> None:
    reading = Observation(t_min=20, sbp=150)
    assert "sbp_rise_from_baseline" not in _keys(reading, None)
    assert "sbp_rise_from_baseline" not in _keys(reading, Observation(t_min=0, hr=70))
    assert "sbp_rise_from_baseline" in _keys(reading, Observation(t_min=0, sbp=110))


def test_a_finding_carries_field_value_threshold_and_message() -> None:
    [finding] = [f for f in evaluate_observation(Observation(t_min=30, spo2=92), None, RULES)]
    assert finding.rule_key == "spo2_low"
    assert (finding.field, finding.value, finding.threshold) == ("spo2", 92, 94)
    assert finding.severity is Severity.WARNING
    assert finding.advice is Advice.CONTINUE_AND_RECHECK
    assert "92 %" in finding.message and "94 %" in finding.message
    assert finding.trigger_key == "spo2_low@t=30"


def test_a_calm_reading_fires_nothing() -> None:
    calm = Observation(
        t_min=15, sbp=125, dbp=78, hr=75, spo2=98, rr=14, rass=0, moaas=5, dissociation=2, nrs=5
    )
    assert evaluate_observation(calm, Observation(t_min=0, sbp=122, dbp=76), RULES) == []


def test_trigger_keys_differ_between_readings_and_rules() -> None:
    a = Observation(t_min=30, spo2=92, hr=130, obs_id="r1")
    b = Observation(t_min=30, spo2=92, hr=130, obs_id="r2")
    keys_a = [f.trigger_key for f in evaluate_observation(a, None, RULES)]
    keys_b = [f.trigger_key for f in evaluate_observation(b, None, RULES)]
    assert len(set(keys_a)) == len(keys_a) == 2
    assert not set(keys_a) & set(keys_b)
    assert trigger_key("spo2_low", a) == "spo2_low@r1"


def test_overdue_findings_have_one_key_per_slot() -> None:
    slots = [OverdueSlot(t_due_min=15, group="vitals"), OverdueSlot(t_due_min=15, group="sedation")]
    findings = overdue_findings(slots, RULES)
    assert [f.rule_key for f in findings] == ["observation_overdue"] * 2
    assert len({f.trigger_key for f in findings}) == 2
    assert "15" in findings[0].message and "vitals" in findings[0].message


def test_override_file_changes_a_local_policy_threshold(tmp_path: Path) -> None:
    override = tmp_path / "clinic.toml"
    override.write_text(
        '[[rule]]\nkey = "spo2_low"\nthreshold = 92\nsource = "Clinic X nursing policy 2025"\n'
        '[[rule]]\nkey = "nausea"\nenabled = false\n',
        encoding="utf-8",
    )
    rules = load_alert_rules(override)
    by_key = {r.key: r for r in rules}
    assert by_key["spo2_low"].threshold == 92
    assert by_key["spo2_low"].source == "Clinic X nursing policy 2025"
    assert by_key["spo2_low"].status is Status.LOCAL_POLICY
    assert "nausea" not in by_key
    keys = {f.rule_key for f in evaluate_observation(Observation(t_min=1, spo2=93, nausea=3), None, rules)}
    assert keys == set()


def test_override_file_may_add_a_complete_rule(tmp_path: Path) -> None:
    override = tmp_path / "clinic.toml"
    override.write_text(
        '[[rule]]\nkey = "cadss6_high"\nkind = "threshold"\nfield = "cadss6"\nop = "ge"\nthreshold = 12\n'
        'severity = "warning"\nadvice = "pause"\nmessage = "CADSS-6 {value}"\n'
        'source = "Clinic X"\nstatus = "local-policy"\n',
        encoding="utf-8",
    )
    rules = load_alert_rules(override)
    obs = Observation(t_min=3, cadss6=(2, 2, 2, 2, 2, 2))
    assert "cadss6_high" in {f.rule_key for f in evaluate_observation(obs, None, rules)}


@pytest.mark.parametrize(
    "text",
    [
        '[[rule]]\nkey = "spo2_low"\nthreshhold = 92\n',
        '[[rule]]\nkey = "spo2_low"\nkind = "flag"\n',
        '[[rule]]\nkey = "spo2_low"\nseverity = "urgent"\n',
        '[[rule]]\nkey = "new_rule"\nthreshold = 3\n',
        '[[rule]]\nkey = "x"\nkind = "threshold"\nfield = "note"\nop = "ge"\nthreshold = 1\n'
        'severity = "info"\nadvice = "pause"\nmessage = "m"\nsource = "s"\nstatus = "local-policy"\n',
        "rule = 3\n",
        "not toml [",
    ],
)
def test_a_bad_override_file_is_refused(tmp_path: Path, text: str) -> None:
    override = tmp_path / "clinic.toml"
    override.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError):
        load_alert_rules(override)


def test_a_verified_rule_cannot_be_overridden() -> None:
    verified = AlertRule(
        key="v",
        kind=RuleKind.THRESHOLD,
        field="spo2",
        op="lt",
        threshold=90,
        rise_pct=None,
        rise_abs=None,
        severity=Severity.CRITICAL,
        advice=Advice.STOP_AND_CALL,
        message="m",
        source="s",
        status=Status.VERIFIED,
    )
    with pytest.raises(DataFileError, match="cannot be overridden"):
        merge_rule_overrides([verified], [{"key": "v", "threshold": 80}], "clinic.toml")


def test_missing_override_file_is_a_data_file_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError):
        load_alert_rules(tmp_path / "absent.toml")


@given(valid_observations(), st.none() | valid_observations())
def test_evaluation_never_raises_on_a_valid_observation(
    obs: Observation, baseline: Observation | None
) -> None:
    for finding in evaluate_observation(obs, baseline, RULES):
        assert finding.rule_key in {r.key for r in RULES}
        assert finding.t_min == obs.t_min


@given(valid_observations(obs_id="reading-1"))
def test_the_same_reading_evaluated_twice_gives_the_same_trigger_keys(obs: Observation) -> None:
    first = [f.trigger_key for f in evaluate_observation(obs, None, RULES)]
    second = [f.trigger_key for f in evaluate_observation(obs, None, RULES)]
    assert first == second
    assert len(set(first)) == len(first)


def test_the_check_in_weight_alert_is_a_rule_a_clinic_can_change() -> None:
    (shipped,) = [r for r in RULES if r.kind is RuleKind.WEIGHT_DISCREPANCY]
    assert (shipped.group.value, shipped.status, shipped.severity) == (
        "weight",
        Status.LOCAL_POLICY,
        "warning",
    )
    found = weight_discrepancy_findings(
        64.0,
        72.5,
        described="64 kg is 12% below the plan's 72.5 kg",
        reason="lost weight",
        limit_source="10 %",
    )
    assert [(f.rule_key, f.trigger_key, f.value, f.threshold) for f in found] == [
        ("weight_discrepancy", "weight_discrepancy", 64.0, 72.5)
    ]
    assert (
        found[0].message.startswith("Check-in weight: 64 kg is 12% below")
        and "lost weight" in found[0].message
    )
    assert found[0].source == f"{shipped.source}; limit: 10 %"
    stricter = merge_rule_overrides(RULES, [{"key": "weight_discrepancy", "severity": "critical"}], "clinic")
    (critical,) = weight_discrepancy_findings(
        64.0, 72.5, described="x", reason="y", limit_source="z", rules=stricter
    )
    assert critical.severity is Severity.CRITICAL and critical.status is Status.LOCAL_POLICY
    off = merge_rule_overrides(RULES, [{"key": "weight_discrepancy", "enabled": False}], "clinic")
    assert (
        weight_discrepancy_findings(64.0, 72.5, described="x", reason="y", limit_source="z", rules=off) == []
    )


def test_notify_physician_defaults_to_the_advice_and_critical_is_clinic_wide_only_by_severity() -> None:
    for rule in RULES:
        if rule.key not in (
            "session_total_soft",
            "weight_discrepancy",
            "ledger_count_difference",
        ):  # in the file
            assert rule.notify_physician == (rule.advice is Advice.STOP_AND_CALL), rule.key
    (pause_critical,) = [r for r in RULES if r.key == "sbp_critical"]
    assert pause_critical.severity is Severity.CRITICAL and not pause_critical.notify_physician


def test_a_clinic_may_override_a_session_total_rule_keeping_its_limit() -> None:
    from ketaclinic.monitoring.alert_rules import merge_rule_overrides, shipped_alert_rules

    (rule,) = [
        r
        for r in merge_rule_overrides(
            shipped_alert_rules(), [{"key": "session_total_soft", "severity": "critical"}], "clinic.toml"
        )
        if r.key == "session_total_soft"
    ]
    assert rule.severity.value == "critical" and rule.limit == "soft_max"
    assert rule.status.value == "local-policy" and "clinic.toml" in rule.source
