"""analyse_cohort behaviour: compare parsing, logistic model guards, invariants (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.errors import InputError
from ketaclinic.outcomes import Cohort, CohortRecord, analyse_cohort, parse_compare, wilson_interval
from ketaclinic.outcomes.regression import fit_responder_model

CODES = {"neuropathic": ["G50.0", "B02.29"], "nociceptive": ["G89.4"], "nociplastic": ["M79.7"]}


def test_parse_compare_grammar() -> None:
    assert parse_compare("diagnosis:g50.0, G50.1") == ("diagnosis", ["G50.0", "G50.1"])
    assert parse_compare("mechanism:neuropathic,Nociplastic") == ("mechanism", ["neuropathic", "nociplastic"])
    for bad in (
        "diagnosis",
        "age:1,2",
        "diagnosis:G50.0",
        "diagnosis:G50.0,X00",
        "mechanism:a,b",
        "group:x,y",
        "diagnosis:G50.0,G50.0",
    ):
        with pytest.raises(InputError):
            parse_compare(bad)


def _cohort(rng: np.random.Generator, n: int, effect: float) -> Cohort:
    records = []
    mechs = list(CODES)
    for i in range(n):
        mech = mechs[i % 3]
        base = float(rng.integers(4, 11))
        responds = rng.random() < 1 / (1 + np.exp(-(effect * (base - 7))))
        follow = float(rng.integers(0, int(base // 2) + 1)) if responds else float(base - rng.integers(0, 3))
        records.append(
            CohortRecord(f"P{i}", CODES[mech][i % len(CODES[mech])], mech, base, follow, "none", 2.0, False)
        )
    return Cohort(records=tuple(records))


def test_logistic_fits_when_numbers_allow() -> None:
    out = analyse_cohort(_cohort(np.random.default_rng(3), 400, 0.6))["logistic"]
    assert out["fitted"] is True, out.get("message")
    terms = {t["term"]: t for t in out["terms"]}
    reference = out["reference"]["diagnosis"]
    assert reference == "G89.4"  # the most frequent code is the reference level
    assert set(terms) == {
        "intercept",
        "baseline_nrs",
        "diagnosis=B02.29",
        "diagnosis=G50.0",
        "diagnosis=M79.7",
    }
    assert out["dropped_terms"] == ["mechanism=nociceptive", "mechanism=nociplastic"]  # implied by diagnosis
    assert terms["baseline_nrs"]["odds_ratio"] > 1
    assert (
        terms["baseline_nrs"]["ci95"][0]
        < terms["baseline_nrs"]["odds_ratio"]
        < terms["baseline_nrs"]["ci95"][1]
    )


def test_logistic_reports_separation_and_singularity() -> None:
    n = 300
    base = np.tile(np.arange(4, 11, dtype=float), n // 7 + 1)[:n]
    responder = base >= 8
    dx = np.array(["G50.0", "G89.4", "M79.7"] * 100)
    mech_same = np.array(["neuropathic", "nociceptive", "nociplastic"] * 100)
    mech_other = np.array(["neuropathic", "nociplastic"] * 150)
    sep = fit_responder_model(responder, dx, mech_other, base)
    assert sep["fitted"] is False and "separation" in sep["message"]
    nested = fit_responder_model(np.arange(n) % 2 == 0, dx, mech_same, base)
    assert nested["dropped_terms"] == ["mechanism=nociceptive", "mechanism=nociplastic"]
    assert nested["fitted"] is True
    assert fit_responder_model(responder[:0], dx[:0], mech_same[:0], base[:0])["fitted"] is False


def test_compare_with_absent_group_gives_message() -> None:
    cohort = _cohort(np.random.default_rng(1), 9, 0.0)
    out = analyse_cohort(cohort, compare=("diagnosis", ["G50.0", "G50.1"]))
    assert out["comparison"]["p_value"] is None and "at least one patient" in out["comparison"]["message"]


record = st.builds(
    lambda i, mech, base, follow, disc: CohortRecord(
        f"P{i}", CODES[mech][0], mech, float(base), None if follow is None else float(follow), disc
    ),
    st.integers(),
    st.sampled_from(list(CODES)),
    st.integers(1, 10),
    st.one_of(st.none(), st.integers(0, 10)),
    st.sampled_from(["none", "lack_of_effect", "adverse_event", "other"]),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(record, min_size=1, max_size=30, unique_by=lambda r: r.patient_id))
def test_rate_and_ci_invariants(records: list[CohortRecord]) -> None:
    out = analyse_cohort(Cohort(records=tuple(records)), definition_id="immpact30")
    lo, hi = out["ci95"]
    assert 0 <= out["responder_rate"] <= 1
    assert lo - 1e-12 <= out["responder_rate"] <= hi + 1e-12
    assert out["responders"] + out["missing_followup"] <= out["n"]
    assert sum(g["n"] for g in out["by_mechanism"].values()) == out["n"]
    p = out["comparison"]["p_value"]
    assert p is None or 0 <= p <= 1


@given(st.integers(0, 500), st.integers(0, 500))
def test_wilson_contains_estimate(k: int, extra: int) -> None:
    n = k + extra
    if n == 0:
        return
    lo, hi = wilson_interval(k, n)
    assert 0 <= lo <= k / n + 1e-12 and k / n - 1e-12 <= hi <= 1
