"""Invariants: a contraindication never improves the verdict; never eligible with a not_eligible reason."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.screening.screening_samples import eligible_tn

from ketaclinic.screening import CONDITION_CODES, Verdict, evaluate, parse_intake
from ketaclinic.screening.verdict import SEVERITY_VERDICT, VERDICT_RANK

CODES = sorted(CONDITION_CODES)

intakes = st.fixed_dictionaries(
    {
        "conditions": st.lists(st.sampled_from(CODES), unique=True, max_size=5),
        "systolic": st.integers(100, 220),
        "diastolic": st.integers(50, 99),
        "pregnant": st.booleans(),
        "breastfeeding": st.booleans(),
        "phq9": st.integers(0, 27),
        "gad7": st.integers(0, 21),
        "drop_first_line": st.booleans(),
    }
)


def _intake(spec: dict[str, Any]) -> dict[str, Any]:
    data = eligible_tn()
    data.update(
        conditions=spec["conditions"],
        blood_pressure={"systolic": spec["systolic"], "diastolic": spec["diastolic"]},
        pregnant=spec["pregnant"],
        breastfeeding=spec["breastfeeding"],
        phq9=spec["phq9"],
        gad7=spec["gad7"],
    )
    if spec["drop_first_line"]:
        data["prior_treatments"] = data["prior_treatments"][1:]
    return data


def _rank(data: dict[str, Any]) -> int:
    return VERDICT_RANK[evaluate(parse_intake(data)).verdict]


@settings(max_examples=150, deadline=None)
@given(spec=intakes, extra=st.sampled_from(CODES))
def test_adding_a_condition_never_improves_the_verdict(spec: dict[str, Any], extra: str) -> None:
    before = _intake(spec)
    after = before | {"conditions": [*before["conditions"], extra]}
    assert _rank(after) >= _rank(before)


@settings(max_examples=100, deadline=None)
@given(spec=intakes)
def test_pregnancy_or_higher_pressure_never_improves_the_verdict(spec: dict[str, Any]) -> None:
    before = _intake(spec)
    assert _rank(before | {"pregnant": True}) >= _rank(before)
    higher = {"systolic": spec["systolic"] + 20, "diastolic": spec["diastolic"]}
    assert _rank(before | {"blood_pressure": higher}) >= _rank(before)


@settings(max_examples=150, deadline=None)
@given(spec=intakes)
def test_verdict_is_the_worst_reason(spec: dict[str, Any]) -> None:
    result = evaluate(parse_intake(_intake(spec)))
    forced = [SEVERITY_VERDICT[r.severity] for r in result.reasons]
    if Verdict.NOT_ELIGIBLE in forced:
        assert result.verdict is Verdict.NOT_ELIGIBLE
    if result.verdict is Verdict.ELIGIBLE:
        assert all(v is Verdict.ELIGIBLE for v in forced)
    assert result.verdict is max(forced, key=VERDICT_RANK.__getitem__, default=Verdict.ELIGIBLE)
    assert (result.missing_prerequisites != []) == spec["drop_first_line"]
