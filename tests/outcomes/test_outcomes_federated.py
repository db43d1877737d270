"""Federated aggregates: three sites pooled give exactly the whole cohort's report; suppression is stated."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from ketaclinic.errors import InputError
from ketaclinic.outcomes import Cohort, analyse_cohort, read_cohort_csv
from ketaclinic.outcomes.aggregate_export import SMALL_REASON, site_aggregate
from ketaclinic.outcomes.aggregate_pooling import NOT_POOLED, pool_aggregates

COHORTS = Path(__file__).resolve().parents[1] / "fixtures" / "cohorts"
VALLE = COHORTS / "valle2024_reconstructed.csv"
GARCIA = COHORTS / "garcia2023_illustrative.csv"
# Everything analyse_cohort reports that counts suffice for (NOT_POOLED lists the rest).
POOLED_KEYS = (
    "definition",
    "synthetic",
    "n",
    "responders",
    "responder_rate",
    "ci95",
    "ci_method",
    "missing_followup",
    "by_diagnosis",
    "diagnosis_labels",
    "by_mechanism",
    "by_diagnosis_group",
    "comparison",
    "relief_median_weeks",
    "relief",
    "dropout",
)


def _sites(cohort: Cohort, k: int = 3) -> list[Cohort]:
    """The cohort dealt round-robin into k sites."""
    return [Cohort(records=cohort.records[i::k], metadata=cohort.metadata) for i in range(k)]


def _files(cohort: Cohort, *, min_cell: int = 0, definition: str = "valle2024") -> list[tuple[str, Any]]:
    """Each site's aggregate as it would travel: written as JSON and read back."""
    return [
        (
            f"site{i}.json",
            json.loads(
                json.dumps(site_aggregate(s, site=f"site {i}", definition_id=definition, min_cell=min_cell))
            ),
        )
        for i, s in enumerate(_sites(cohort))
    ]


def _same(pooled: dict[str, Any], full: dict[str, Any]) -> None:
    for key in POOLED_KEYS:
        assert json.dumps(pooled[key], sort_keys=True) == json.dumps(full[key], sort_keys=True), key


@pytest.mark.parametrize(
    ("path", "compare", "alternative", "definition"),
    [
        (VALLE, None, "two-sided", "valle2024"),  # 3 mechanisms: Freeman-Halton
        (
            VALLE,
            ("group", ["crps", "fibromyalgia", "neuropathic_other", "chronic_pain_other"]),
            "two-sided",
            "immpact30",
        ),
        (VALLE, ("diagnosis", ["G89.4", "M79.7"]), "less", "immpact50"),  # Fisher 2 x 2, odds ratios
        (GARCIA, ("diagnosis", ["G50.0", "G50.1"]), "two-sided", "valle2024"),
    ],
)
def test_three_sites_pooled_equal_the_whole_cohort(
    path: Path, compare: tuple[str, list[str]] | None, alternative: str, definition: str
) -> None:
    cohort = read_cohort_csv(path)
    full = analyse_cohort(cohort, definition_id=definition, compare=compare, alternative=alternative)
    pooled = pool_aggregates(_files(cohort, definition=definition), compare=compare, alternative=alternative)
    assert pooled["pooled"]["exact"] and pooled["pooled"]["incomplete"] == []
    assert pooled["comparison"]["p_value"] is not None
    assert pooled["relief"]["logrank"]["p_value"] is not None
    _same(pooled, full)
    assert set(pooled["not_pooled"]) == set(NOT_POOLED)


def test_the_aggregate_holds_counts_not_patients() -> None:
    cohort = read_cohort_csv(VALLE)
    text = json.dumps(site_aggregate(cohort, site="A", min_cell=0))
    assert not any(pid in text for pid in cohort.patient_id.tolist())
    doc = json.loads(text)
    assert doc["format"] == "ketaclinic-cohort-aggregate" and doc["version"] == 1 and doc["site"] == "A"
    assert doc["definition"]["id"] == "valle2024"
    relief = doc["survival"]["relief"]["all"]
    assert relief["at_risk"][0] == sum(relief["events"]) + sum(relief["censored"])
    assert doc["suppression"]["cells"] == [] and "exact" in doc["suppression"]["effect"]


def test_default_suppression_is_local_policy_and_says_what_it_hid() -> None:
    cohort = read_cohort_csv(VALLE)
    doc = site_aggregate(cohort, site="A")
    suppression = doc["suppression"]
    assert suppression["min_cell"] == 5 and suppression["status"] == "local-policy"
    hidden = {(c["table"], c["level"]) for c in suppression["cells"]}
    # E11.42: 4 patients, so a count from 1 to 4; its row is null and listed
    assert ("responders.diagnosis", "E11.42") in hidden and doc["responders"]["diagnosis"]["E11.42"] is None
    for cell in suppression["cells"]:
        if cell["level"] is not None and cell["table"].startswith("responders.") and "cell" not in cell:
            assert doc["responders"][cell["table"].split(".")[1]][cell["level"]] is None
    shown = [r for r in doc["responders"]["diagnosis"].values() if r is not None]
    assert all(r["responders"] == 0 or r["responders"] >= 5 for r in shown)
    assert all(r["n"] - r["responders"] in (0,) or r["n"] - r["responders"] >= 5 for r in shown)
    # 1-4 missing follow-ups: that cell alone is null, the responder counts stay
    assert doc["totals"] is not None and doc["totals"]["missing_followup"] is None
    assert {"table": "totals", "level": None, "cell": "missing_followup", "reason": SMALL_REASON} in (
        suppression["cells"]
    )
    assert "not exact" in suppression["effect"]
    pooled = pool_aggregates([("a.json", doc)])
    assert not pooled["pooled"]["exact"]
    assert {"table": "responders.diagnosis", "level": "E11.42", "site": "A"} in pooled["pooled"]["incomplete"]


def test_one_hidden_row_hides_a_second_so_the_total_does_not_reveal_it() -> None:
    cohort = read_cohort_csv(VALLE)
    doc = site_aggregate(cohort, site="A", min_cell=3)
    cells = [c for c in doc["suppression"]["cells"] if c["table"] == "responders.mechanism"]
    if len(cells) == 1:
        pytest.fail("a single hidden row could be recovered from the totals")
    reasons = {c["reason"] for c in doc["suppression"]["cells"]}
    assert any(r.startswith("complementary") for r in reasons)


def test_refuses_other_definitions_versions_and_a_site_twice() -> None:
    cohort = read_cohort_csv(VALLE)
    files = _files(cohort)
    other = _files(cohort, definition="immpact30")
    with pytest.raises(InputError, match=re.escape("site1.json: responder definition 'immpact30'")):
        pool_aggregates([files[0], other[1]])
    newer = ("new.json", {**files[1][1], "version": 2})
    with pytest.raises(InputError, match=re.escape("new.json: aggregate version 2")):
        pool_aggregates([files[0], newer])
    with pytest.raises(InputError, match="site 'site 0' is given twice"):
        pool_aggregates([files[0], ("copy.json", files[0][1])])
    with pytest.raises(InputError, match="not a ketaclinic-cohort-aggregate file"):
        pool_aggregates([("x.json", {"rows": []})])


def test_refuses_inconsistent_risk_sets() -> None:
    cohort = read_cohort_csv(VALLE)
    where, doc = _files(cohort)[0]
    doc["survival"]["relief"]["all"]["at_risk"][0] += 1
    with pytest.raises(InputError, match="a risk set does not equal"):
        pool_aggregates([(where, doc)])


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("time", math.inf, "not a finite number"),
        ("time", -1.0, "not a finite number"),
        ("events", 10**12, "not a whole number from 0"),
        ("censored", 1.5, "not a whole number from 0"),
    ],
)
def test_refuses_impossible_survival_values(column: str, value: object, message: str) -> None:
    where, doc = _files(read_cohort_csv(VALLE))[0]
    doc["survival"]["dropout"]["mechanism"]["nociceptive"][column][0] = value
    with pytest.raises(InputError, match=message):
        pool_aggregates([(where, doc)])


def test_bad_site_label_and_min_cell() -> None:
    cohort = read_cohort_csv(GARCIA)
    with pytest.raises(InputError) as exc:
        site_aggregate(cohort, site="  ")
    assert exc.value.field == "site"
    with pytest.raises(InputError) as exc:
        site_aggregate(cohort, site="A", min_cell=-1)
    assert exc.value.field == "min_cell"
