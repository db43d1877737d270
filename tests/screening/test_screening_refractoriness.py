"""Refractoriness per diagnosis group: met, not met, synonyms, what counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ketaclinic.errors import DataFileError
from ketaclinic.screening import PriorTreatmentOutcome, Severity, Verdict, evaluate, load_rules, parse_intake
from ketaclinic.screening.refractoriness import load_refractoriness


def _screen(data: dict[str, Any], **kwargs: Any) -> Any:
    return evaluate(parse_intake(data), **kwargs)


def test_tn_refractoriness_met(intake_data: dict[str, Any]) -> None:
    result = _screen(intake_data)
    assert result.missing_prerequisites == []
    assert result.verdict is Verdict.ELIGIBLE


def test_tn_without_first_line_is_not_eligible_and_says_what_is_missing(intake_data: dict[str, Any]) -> None:
    data = intake_data | {"prior_treatments": [{"name": "baclofen", "outcome": "failed"}]}
    result = _screen(data)
    assert result.verdict is Verdict.NOT_ELIGIBLE
    (missing,) = result.missing_prerequisites
    assert missing.group == "trigeminal_neuralgia"
    assert missing.line == "first"
    assert set(missing.any_of) == {"carbamazepine", "oxcarbazepine"}
    assert missing.status == "local-policy"
    (reason,) = result.reasons
    assert reason.code == "refractoriness_not_demonstrated"
    assert reason.severity is Severity.PREREQUISITE
    assert reason.grade == "local-policy"
    assert "carbamazepine or oxcarbazepine" in reason.text


def test_no_prior_treatments_lists_every_missing_line(intake_data: dict[str, Any]) -> None:
    result = _screen(intake_data | {"prior_treatments": []})
    assert [m.line for m in result.missing_prerequisites] == ["first", "second"]


@pytest.mark.parametrize(
    "name", ["Tegretol", "TEGRETOL XR 200 mg", "carbamazepine (slow release)", "Trileptal"]
)
def test_brand_names_and_case_are_matched(intake_data: dict[str, Any], name: str) -> None:
    data = intake_data | {
        "prior_treatments": [
            {"name": name, "outcome": "failed"},
            {"name": "Lioresal", "outcome": "intolerant"},
        ]
    }
    assert _screen(data).missing_prerequisites == []


def test_partial_response_does_not_count(intake_data: dict[str, Any]) -> None:
    data = intake_data | {
        "prior_treatments": [
            {"name": "carbamazepine", "outcome": "partial"},
            {"name": "baclofen", "outcome": "failed"},
        ]
    }
    assert [m.line for m in _screen(data).missing_prerequisites] == ["first"]


def test_contraindicated_counts_as_not_usable(intake_data: dict[str, Any]) -> None:
    data = intake_data | {
        "prior_treatments": [
            {"name": "carbamazepine", "outcome": "contraindicated"},
            {"name": "gabapentin", "outcome": "failed"},
        ]
    }
    assert _screen(data).missing_prerequisites == []


def test_unrelated_name_prefix_does_not_match() -> None:
    rules = load_refractoriness()
    assert rules.canonical_treatment("carbamazepinex") is None
    assert rules.canonical_treatment("gabapentin enacarbil 600 mg") == "gabapentin"
    tried = rules.tried([("Lyrica", PriorTreatmentOutcome.FAILED), ("aspirin", PriorTreatmentOutcome.FAILED)])
    assert tried == frozenset({"pregabalin"})


def test_each_group_of_several_diagnoses_is_checked(intake_data: dict[str, Any]) -> None:
    result = _screen(intake_data | {"diagnoses": ["G50.0", "M79.7"]})
    assert {m.group for m in result.missing_prerequisites} == {"fibromyalgia"}
    assert result.verdict is Verdict.NOT_ELIGIBLE


def test_every_shipped_entry_is_local_policy_with_a_rationale() -> None:
    for entry in load_refractoriness().groups.values():
        assert entry.status == "local-policy"
        assert "clinic to confirm" in entry.rationale


def test_clinic_can_replace_a_group_and_add_synonyms(intake_data: dict[str, Any], tmp_path: Path) -> None:
    override = tmp_path / "clinic.toml"
    override.write_text(
        '[[treatment]]\nname = "carbamazepine"\nsynonyms = ["karbamazepin"]\n\n'
        '[[refractoriness]]\ngroup = "trigeminal_neuralgia"\nrationale = "Clinic X: first line only"\n'
        '[[refractoriness.requirement]]\nline = "first"\nany_of = ["carbamazepine"]\n',
        encoding="utf-8",
    )
    data = intake_data | {"prior_treatments": [{"name": "Karbamazepin", "outcome": "failed"}]}
    assert _screen(data, rules=load_rules(override)).verdict is Verdict.ELIGIBLE
    assert _screen(data).verdict is Verdict.NOT_ELIGIBLE


def test_override_naming_an_unknown_treatment_is_refused(tmp_path: Path) -> None:
    override = tmp_path / "clinic.toml"
    override.write_text(
        '[[refractoriness]]\ngroup = "crps"\nrationale = "x"\n'
        '[[refractoriness.requirement]]\nline = "first"\nany_of = ["unobtainium"]\n',
        encoding="utf-8",
    )
    with pytest.raises(DataFileError, match="unobtainium"):
        load_rules(override)
