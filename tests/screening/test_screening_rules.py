"""Every rule: condition codes, pregnancy, breast-feeding, blood pressure, mood, tests, overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ketaclinic.errors import DataFileError
from ketaclinic.screening import Severity, Verdict, evaluate, load_rules, parse_intake

NOT = Verdict.NOT_ELIGIBLE
PRECAUTIONS = Verdict.ELIGIBLE_WITH_PRECAUTIONS
OK = Verdict.ELIGIBLE

# condition code -> (verdict, grade) as the issue and the reference state them.
EXPECTED = {
    "active_psychosis": (NOT, "B"),
    "unstable_cardiac_disease": (NOT, "B"),  # poorly controlled cardiovascular disease: grade B
    "uncontrolled_hypertension": (NOT, "B"),
    "ischaemic_heart_disease": (NOT, "local list"),
    "severe_hepatic_disease": (NOT, "C"),
    "raised_icp": (NOT, "C"),
    "active_substance_use": (NOT, "C"),
    "prior_ketamine_adverse_reaction": (NOT, "local list"),
    "moderate_hepatic_disease": (PRECAUTIONS, "C"),
    "raised_iop": (PRECAUTIONS, "C"),
    "glaucoma": (PRECAUTIONS, "local list"),
    "history_of_mania": (PRECAUTIONS, "local list"),
    "recent_epilepsy": (PRECAUTIONS, "local list"),
    "cardiovascular_risk": (OK, "C"),
    "liver_risk": (OK, "C"),
}


def _screen(data: dict[str, Any], **kwargs: Any) -> Any:
    return evaluate(parse_intake(data), **kwargs)


def test_baseline_intake_is_eligible_with_no_reasons(intake_data: dict[str, Any]) -> None:
    result = _screen(intake_data)
    assert result.verdict is OK
    assert result.reasons == []
    assert result.required_tests == []
    assert result.missing_prerequisites == []


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_each_condition_code_gives_its_verdict_and_reason(intake_data: dict[str, Any], code: str) -> None:
    verdict, grade = EXPECTED[code]
    result = _screen(intake_data | {"conditions": [code]})
    assert result.verdict is verdict
    (reason,) = [r for r in result.reasons if r.code == code]
    assert reason.grade == grade
    assert reason.source and reason.text


def test_guideline_graded_reasons_cite_cohen(intake_data: dict[str, Any]) -> None:
    result = _screen(intake_data | {"conditions": ["active_psychosis", "raised_icp"]})
    assert all("Cohen" in r.source for r in result.reasons)


def test_local_list_reasons_cite_the_local_lists(intake_data: dict[str, Any]) -> None:
    result = _screen(intake_data | {"conditions": ["ischaemic_heart_disease"]})
    assert "local lists" in result.reasons[0].source


def test_pregnancy_makes_not_eligible(intake_data: dict[str, Any]) -> None:
    result = _screen(intake_data | {"pregnant": True})
    assert result.verdict is NOT
    assert [r.code for r in result.reasons] == ["pregnancy"]
    assert result.reasons[0].severity is Severity.CONTRAINDICATION
    assert result.reasons[0].grade == "B"


def test_breastfeeding_makes_eligible_with_precautions(intake_data: dict[str, Any]) -> None:
    result = _screen(intake_data | {"breastfeeding": True})
    assert result.verdict is PRECAUTIONS
    assert [r.code for r in result.reasons] == ["breastfeeding"]


@pytest.mark.parametrize(
    ("systolic", "diastolic", "verdict"),
    [(180, 100, OK), (181, 100, NOT), (170, 110, OK), (170, 111, NOT)],
)
def test_blood_pressure_threshold_at_the_boundary(
    intake_data: dict[str, Any], systolic: int, diastolic: int, verdict: Verdict
) -> None:
    result = _screen(intake_data | {"blood_pressure": {"systolic": systolic, "diastolic": diastolic}})
    assert result.verdict is verdict
    if verdict is NOT:
        (reason,) = result.reasons
        assert reason.code == "intake_bp_over_threshold"
        assert reason.grade == "local-policy"
        assert reason.status == "local-policy"
        assert [t.code for t in result.required_tests] == ["ecg"]


@pytest.mark.parametrize(("field", "threshold"), [("phq9", 20), ("gad7", 15)])
def test_mood_threshold_flags_review_at_the_boundary(
    intake_data: dict[str, Any], field: str, threshold: int
) -> None:
    below = _screen(intake_data | {field: threshold - 1})
    assert below.verdict is OK
    assert below.mood[field].flagged is False
    assert below.mood[field].score == threshold - 1
    at = _screen(intake_data | {field: threshold})
    assert at.verdict is PRECAUTIONS
    (reason,) = at.reasons
    assert reason.severity is Severity.REVIEW
    assert reason.grade == "local-policy"
    assert at.mood[field].flagged is True


def test_mood_not_recorded_is_reported_not_a_reason(intake_data: dict[str, Any]) -> None:
    del intake_data["phq9"]
    result = _screen(intake_data)
    assert result.verdict is OK
    assert result.mood["phq9"].score is None


def test_every_reason_is_reported_and_worst_wins(intake_data: dict[str, Any]) -> None:
    data = intake_data | {"conditions": ["glaucoma", "raised_icp"], "breastfeeding": True, "gad7": 21}
    result = _screen(data)
    assert result.verdict is NOT
    assert {r.code for r in result.reasons} == {
        "glaucoma",
        "raised_icp",
        "breastfeeding",
        "gad7_psychiatric_review",
    }
    assert result.reasons[0].code == "raised_icp"  # most severe first


def test_ecg_required_for_cardiovascular_risk(intake_data: dict[str, Any]) -> None:
    result = _screen(intake_data | {"conditions": ["cardiovascular_risk"]})
    assert [t.code for t in result.required_tests] == ["ecg"]
    assert "Cohen" in result.required_tests[0].source


def test_liver_tests_for_liver_risk_or_planned_high_frequent_dosing(intake_data: dict[str, Any]) -> None:
    assert [t.code for t in _screen(intake_data | {"conditions": ["liver_risk"]}).required_tests] == [
        "liver_function_tests"
    ]
    planned = _screen(intake_data, planned_high_frequent_dosing=True)
    assert [t.code for t in planned.required_tests] == ["liver_function_tests"]
    assert planned.verdict is OK
    assert _screen(intake_data).required_tests == []


def test_clinic_override_changes_local_policy_thresholds(intake_data: dict[str, Any], tmp_path: Path) -> None:
    override = tmp_path / "clinic.toml"
    override.write_text(
        '[blood_pressure_threshold]\nsystolic_mmhg = 160\nsource = "Clinic X policy 2025"\n\n'
        '[[score_review]]\ninstrument = "dast10"\nthreshold = 3\nsource = "Clinic X policy 2025"\n',
        encoding="utf-8",
    )
    rules = load_rules(override)
    assert rules.blood_pressure.systolic_mmhg == 160
    assert rules.blood_pressure.diastolic_mmhg == 110  # not overridden: shipped value kept
    bp = _screen(intake_data | {"blood_pressure": {"systolic": 161, "diastolic": 80}}, rules=rules)
    assert bp.verdict is NOT
    assert bp.reasons[0].source == "Clinic X policy 2025"
    assert bp.rules_overridden_by == str(override)
    dast = _screen(intake_data | {"dast10": 3}, rules=rules)
    assert dast.verdict is PRECAUTIONS
    assert dast.substance_screening["dast10"].flagged
    assert _screen(intake_data | {"dast10": 3}).verdict is OK  # shipped rules unchanged


def test_override_cannot_touch_guideline_rules(tmp_path: Path) -> None:
    override = tmp_path / "clinic.toml"
    override.write_text('[[condition]]\ncode = "active_psychosis"\nseverity = "info"\n', encoding="utf-8")
    with pytest.raises(DataFileError, match="condition"):
        load_rules(override)


def test_override_must_name_its_source(tmp_path: Path) -> None:
    override = tmp_path / "clinic.toml"
    override.write_text("[blood_pressure_threshold]\nsystolic_mmhg = 160\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="source"):
        load_rules(override)


def test_override_threshold_outside_instrument_range(tmp_path: Path) -> None:
    override = tmp_path / "clinic.toml"
    override.write_text(
        '[[score_review]]\ninstrument = "phq9"\nthreshold = 30\nsource = "x"\n', encoding="utf-8"
    )
    with pytest.raises(DataFileError, match="range"):
        load_rules(override)


def test_missing_override_file_is_a_data_file_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError):
        load_rules(tmp_path / "absent.toml")


def test_result_json_has_the_cli_keys(intake_data: dict[str, Any]) -> None:
    body = _screen(intake_data | {"conditions": ["raised_icp"]}).to_json_dict()
    assert {"verdict", "reasons", "required_tests", "missing_prerequisites", "evidence"} <= set(body)
    assert body["verdict"] == "not_eligible"
    assert {"code", "text", "source", "grade", "severity"} <= set(body["reasons"][0])
