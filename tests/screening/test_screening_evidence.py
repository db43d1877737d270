"""Evidence per diagnosis (CRPS B, TN and AFP per Garcia 2023, Vallé 2024) and the clinic's own rates."""

from __future__ import annotations

from typing import Any

import pytest

from ketaclinic.errors import InputError
from ketaclinic.screening import ClinicRate, evaluate, evidence_for, parse_intake


def test_crps_is_grade_b_without_the_non_crps_note() -> None:
    (group,) = evidence_for(["G90.50", "G56.40"]).groups
    assert group.group == "crps"
    assert group.grade == "B"
    assert group.diagnoses == ["G90.50", "G56.40"]
    assert "12 weeks" in group.summary
    assert group.notes == []


def test_tn_ungraded_and_likely_to_respond() -> None:
    (group,) = evidence_for(["G50.0"]).groups
    assert group.grade == "not graded"
    (finding,) = group.findings
    assert finding.direction == "likely_to_respond"
    assert "Garcia" in finding.source
    assert group.notes and "CRPS" in group.notes[0].text


def test_afp_ungraded_and_unlikely_to_respond() -> None:
    (group,) = evidence_for(["G50.1"]).groups
    assert group.grade == "not graded"
    assert [f.direction for f in group.findings] == ["unlikely_to_respond"]


@pytest.mark.parametrize("code", ["M79.7", "B02.23", "E11.42"])
def test_other_listed_conditions_are_grade_d(code: str) -> None:
    assert evidence_for([code]).groups[0].grade == "D"


def test_valle_2024_cohort_is_shown() -> None:
    (cohort,) = evidence_for(["G50.0"]).published_cohorts
    assert (cohort.n, cohort.responders) == (45, 23)
    assert cohort.rate == pytest.approx(0.511, abs=5e-4)


def test_clinic_rate_shown_beside_published(intake_data: dict[str, Any]) -> None:
    rates = {"trigeminal_neuralgia": ClinicRate(n=20, responders=13), "crps": ClinicRate(n=5, responders=1)}
    body = evaluate(parse_intake(intake_data), clinic_rates=rates).to_json_dict()
    (group,) = body["evidence"]["groups"]
    assert group["clinic_rate"] == {"n": 20, "responders": 13, "rate": 0.65}
    assert body["evidence"]["published_cohorts"][0]["responders"] == 23


def test_no_clinic_rate_when_not_given() -> None:
    assert evidence_for(["G50.0"]).groups[0].clinic_rate is None
    assert ClinicRate(n=0, responders=0).rate is None


def test_clinic_rate_validation() -> None:
    with pytest.raises(ValueError, match="responders"):
        ClinicRate(n=3, responders=4)
    with pytest.raises(InputError) as info:
        evidence_for(["G50.0"], {"gout": ClinicRate(n=1, responders=1)})
    assert info.value.field == "clinic_rates.gout"


def test_unknown_code_names_its_position() -> None:
    with pytest.raises(InputError) as info:
        evidence_for(["G50.0", "X00"])
    assert info.value.field == "diagnoses[1]"
