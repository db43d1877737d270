"""Intake validation: ranges at their bounds, contradictions, unknown codes, the JSON schema."""

from __future__ import annotations

from typing import Any

import pytest

from ketaclinic.errors import InputError, ManyInputsError
from ketaclinic.screening import CONDITION_CODES, Intake, Sex, intake_json_schema, parse_intake


def _with(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return data | changes


def _field_of(data: dict[str, Any]) -> str | None:
    with pytest.raises(InputError) as info:
        parse_intake(data)
    return info.value.field


def test_valid_intake_parses(intake_data: dict[str, Any]) -> None:
    intake = parse_intake(intake_data)
    assert isinstance(intake, Intake)
    assert intake.sex is Sex.FEMALE
    assert intake.diagnoses == ["G50.0"]


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        ("baseline_nrs", 0, 10),
        ("phq9", 0, 27),
        ("gad7", 0, 21),
        ("audit_c", 0, 12),
        ("dast10", 0, 10),
        ("weight_kg", 1, 400),
    ],
)
def test_ranges_accept_bounds_and_reject_beyond(
    intake_data: dict[str, Any], field: str, low: int, high: int
) -> None:
    assert getattr(parse_intake(_with(intake_data, **{field: low})), field) == low
    assert getattr(parse_intake(_with(intake_data, **{field: high})), field) == high
    assert _field_of(_with(intake_data, **{field: low - 1})) == field
    assert _field_of(_with(intake_data, **{field: high + 1})) == field


def test_nrs_14_is_rejected_naming_the_field(intake_data: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="baseline_nrs"):
        parse_intake(_with(intake_data, baseline_nrs=14))


def test_nrs_must_be_an_integer(intake_data: dict[str, Any]) -> None:
    assert _field_of(_with(intake_data, baseline_nrs=7.5)) == "baseline_nrs"
    assert _field_of(_with(intake_data, baseline_nrs="7")) == "baseline_nrs"


def test_questionnaires_may_be_missing(intake_data: dict[str, Any]) -> None:
    for key in ("phq9", "gad7", "audit_c", "dast10"):
        del intake_data[key]
    assert parse_intake(intake_data).phq9 is None


def test_male_marked_pregnant_is_rejected(intake_data: dict[str, Any]) -> None:
    assert _field_of(_with(intake_data, sex="male", pregnant=True)) == "pregnant"


def test_male_marked_breastfeeding_is_rejected(intake_data: dict[str, Any]) -> None:
    assert _field_of(_with(intake_data, sex="male", breastfeeding=True)) == "breastfeeding"


def test_pregnancy_status_must_be_a_boolean(intake_data: dict[str, Any]) -> None:
    assert _field_of(_with(intake_data, pregnant="no")) == "pregnant"


def test_systolic_must_exceed_diastolic(intake_data: dict[str, Any]) -> None:
    data = _with(intake_data, blood_pressure={"systolic": 90, "diastolic": 90})
    assert _field_of(data) == "blood_pressure.diastolic"
    assert parse_intake(_with(intake_data, blood_pressure={"systolic": 91, "diastolic": 90}))


def test_implausible_blood_pressure_is_rejected(intake_data: dict[str, Any]) -> None:
    assert (
        _field_of(_with(intake_data, blood_pressure={"systolic": 400, "diastolic": 80}))
        == "blood_pressure.systolic"
    )
    assert (
        _field_of(_with(intake_data, blood_pressure={"systolic": 120, "diastolic": 5}))
        == "blood_pressure.diastolic"
    )


def test_pain_longer_than_life_is_rejected(intake_data: dict[str, Any]) -> None:
    assert _field_of(_with(intake_data, age_y=20, pain_duration_months=400)) == "pain_duration_months"


def test_unknown_condition_code_names_the_field(intake_data: dict[str, Any]) -> None:
    data = _with(intake_data, conditions=["raised_icp", "gout"])
    with pytest.raises(InputError, match="gout") as info:
        parse_intake(data)
    assert info.value.field == "conditions[1]"


def test_unknown_diagnosis_code_names_the_field(intake_data: dict[str, Any]) -> None:
    assert _field_of(_with(intake_data, diagnoses=["G50.0", "Z99.9"])) == "diagnoses[1]"


def test_diagnoses_are_normalised_and_required(intake_data: dict[str, Any]) -> None:
    assert parse_intake(_with(intake_data, diagnoses=[" g50.0 ", "G50.0"])).diagnoses == ["G50.0"]
    assert _field_of(_with(intake_data, diagnoses=[])) == "diagnoses"


def test_bad_prior_treatment_outcome_names_the_path(intake_data: dict[str, Any]) -> None:
    data = _with(intake_data, prior_treatments=[{"name": "baclofen", "outcome": "meh"}])
    assert _field_of(data) == "prior_treatments[0].outcome"


def test_missing_and_unknown_fields(intake_data: dict[str, Any]) -> None:
    del intake_data["blood_pressure"]
    with pytest.raises(InputError, match="is required") as info:
        parse_intake(intake_data)
    assert info.value.field == "blood_pressure"


def test_every_problem_is_named_at_once_in_words(intake_data: dict[str, Any]) -> None:
    data = _with(intake_data, baseline_nrs=14, weight_kg=900, pregnant="maybe")
    with pytest.raises(ManyInputsError) as info:
        parse_intake(data)
    named = {p.field: p.message for p in info.value.problems}
    assert set(named) == {"baseline_nrs", "weight_kg", "pregnant"}
    assert named["baseline_nrs"] == "must be at most 10; 14 was entered"
    assert named["weight_kg"].startswith("must be at most") and "kg; 900 kg was entered" in named["weight_kg"]


def test_extra_field_is_forbidden(intake_data: dict[str, Any]) -> None:
    assert _field_of(_with(intake_data, colour="blue")) == "colour"


def test_unsupported_intake_version(intake_data: dict[str, Any]) -> None:
    assert _field_of(_with(intake_data, intake_version="0")) == "intake_version"


def test_non_object_is_rejected() -> None:
    with pytest.raises(InputError):
        parse_intake([1, 2])  # type: ignore[arg-type]


def test_json_schema_lists_codes_and_ranges() -> None:
    schema = intake_json_schema()
    props = schema["properties"]
    assert set(props["conditions"]["items"]["enum"]) == set(CONDITION_CODES)
    assert "G50.0" in props["diagnoses"]["items"]["enum"]
    assert props["baseline_nrs"]["maximum"] == 10
    assert props["weight_kg"]["minimum"] == 1
    assert schema["additionalProperties"] is False
    assert "intake_version" in schema["required"]


def test_condition_codes_are_the_documented_ones() -> None:
    assert set(CONDITION_CODES) == {
        "active_psychosis",
        "history_of_mania",
        "unstable_cardiac_disease",
        "ischaemic_heart_disease",
        "uncontrolled_hypertension",
        "severe_hepatic_disease",
        "moderate_hepatic_disease",
        "raised_icp",
        "raised_iop",
        "glaucoma",
        "active_substance_use",
        "recent_epilepsy",
        "prior_ketamine_adverse_reaction",
        "cardiovascular_risk",
        "liver_risk",
    }
