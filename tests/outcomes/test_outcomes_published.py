"""Reproduce published cohorts: Vallé 2024 aggregates, an illustrative Garcia 2023 facial-pain table."""

import math
from pathlib import Path
from typing import Any

import pytest
from scipy import stats as sps

from ketaclinic.outcomes import analyse_cohort, parse_compare, read_cohort_csv

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cohorts"


@pytest.fixture(scope="module")
def valle() -> dict[str, Any]:
    return analyse_cohort(read_cohort_csv(FIXTURES / "valle2024_reconstructed.csv"))


def test_valle2024_favourable_rate(valle: dict[str, Any]) -> None:
    assert valle["n"] == 45
    assert valle["responders"] == 23
    assert round(valle["responder_rate"], 4) == 0.5111
    z = 1.959963984540054
    p, n = 23 / 45, 45
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert valle["ci95"] == pytest.approx([centre - half, centre + half], abs=1e-12)
    assert valle["synthetic"] is True and "Vallé" in valle["source"]
    assert valle["definition"]["id"] == "valle2024" and "Vallé" in valle["definition"]["source"]


def test_valle2024_no_difference_between_mechanisms(valle: dict[str, Any]) -> None:
    comp = valle["comparison"]
    assert comp["field"] == "mechanism"
    assert comp["groups"] == ["neuropathic", "nociceptive", "nociplastic"]
    assert sum(row[0] for row in comp["table"]) == 23
    assert "exact" in comp["method"]
    assert comp["p_value"] > 0.05
    assert set(valle["by_mechanism"]) == {"neuropathic", "nociceptive", "nociplastic"}


def test_valle2024_definition_matters(valle: dict[str, Any]) -> None:
    cohort = read_cohort_csv(FIXTURES / "valle2024_reconstructed.csv")
    immpact50 = analyse_cohort(cohort, definition_id="immpact50")
    # one patient reached 50 % but stopped for lack of effect: favourable under IMMPACT only
    assert immpact50["responders"] == valle["responders"] + 1
    assert valle["missing_followup"] == 2


def test_valle2024_secondary_analyses_present(valle: dict[str, Any]) -> None:
    assert valle["nrs_change"]["n_pairs"] == 43
    assert valle["nrs_change"]["wilcoxon"]["p_value"] < 0.001
    assert valle["relief"]["curves"]["all"]["n"] == 43
    assert valle["relief_median_weeks"]["all"] is not None
    assert valle["completion"]["n"] == 45
    assert valle["dose"]["total_dose_mg"]["n"] == 45
    assert valle["adverse_events"]["n_patients"] == 45
    assert valle["dropout"]["logrank"]["df"] == 2
    assert valle["logistic"]["fitted"] is False and "too few events" in valle["logistic"]["message"]


def test_garcia2023_tn_vs_afp_fisher() -> None:
    cohort = read_cohort_csv(FIXTURES / "garcia2023_illustrative.csv")
    assert cohort.n == 12 and cohort.synthetic and "ILLUSTRATIVE" in cohort.metadata["source"]
    out = analyse_cohort(cohort, compare=parse_compare("diagnosis:G50.0,G50.1"))
    comp = out["comparison"]
    assert comp["groups"] == ["G50.0", "G50.1"]
    assert comp["table"] == [[6, 1], [1, 4]]
    assert comp["method"].startswith("Fisher")
    assert comp["p_value"] == pytest.approx(sps.fisher_exact(comp["table"]).pvalue, rel=1e-12)
    assert comp["odds_ratio"] == pytest.approx(24.0)
    assert comp["rates"]["G50.0"]["rate"] > comp["rates"]["G50.1"]["rate"]
    by_group = analyse_cohort(
        cohort, compare=parse_compare("group:trigeminal_neuralgia,atypical_facial_pain")
    )
    assert by_group["comparison"]["table"] == comp["table"]
    assert out["relief_median_weeks"]["G50.0"] > out["relief_median_weeks"]["G50.1"]
