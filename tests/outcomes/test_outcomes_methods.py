"""Each statistic names its method; the new numbers (odds ratios, effect size, daily AUC) match scipy."""

from pathlib import Path

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps
from statsmodels.stats.contingency_tables import Table2x2

from ketaclinic.errors import InputError
from ketaclinic.outcomes import (
    CohortFileError,
    analyse_cohort,
    compare_proportions,
    parse_compare,
    read_cohort_csv,
)
from ketaclinic.outcomes.daily import daily_nrs_auc
from ketaclinic.outcomes.paired import standardised_mean_change, wilcoxon_paired
from ketaclinic.outcomes.stats import odds_ratios

FIXTURES = Path(__file__).parent.parent / "fixtures" / "cohorts"
HEADER = (
    "patient_id,diagnosis,pain_mechanism,baseline_nrs,followup_nrs,discontinued,relief_weeks,relief_ongoing"
)


def test_wilcoxon_states_exact_for_small_untied_samples() -> None:
    before = np.array([8.0, 7.0, 9.0, 6.0, 8.5, 7.5, np.nan])
    after = np.array([3.0, 5.5, 4.5, 6.0, 4.25, 2.0, 1.0])
    out = wilcoxon_paired(before, after)
    assert out["n_pairs"] == 6 and out["n_nonzero"] == 5
    assert out["p_method"].startswith("exact")
    ref = sps.wilcoxon(after[:6] - before[:6], zero_method="wilcox", method="exact")
    assert out["p_value"] == pytest.approx(float(ref.pvalue), rel=1e-12)
    assert out["statistic"] == float(ref.statistic)


def test_wilcoxon_states_normal_approximation_with_ties() -> None:
    before = np.array([8.0, 7.0, 9.0, 6.0, 8.0, 7.0])
    after = np.array([4.0, 3.0, 5.0, 5.0, 4.0, 6.0])  # |d| 4, 4, 4, 1, 4, 1: ties
    out = wilcoxon_paired(before, after)
    assert out["p_method"].startswith("normal approximation") and "tied" in out["p_method"]
    ref = sps.wilcoxon(after - before, zero_method="wilcox", method="approx", correction=False)
    assert out["p_value"] == pytest.approx(float(ref.pvalue), rel=1e-12)


def test_wilcoxon_large_sample_uses_the_normal_approximation() -> None:
    rng = np.random.default_rng(3)
    before = rng.normal(7, 1, 80)
    after = before - rng.normal(2, 1.5, 80)
    out = wilcoxon_paired(before, after)
    assert "more than 50 pairs" in out["p_method"]
    ref = sps.wilcoxon(after - before, method="approx")
    assert out["p_value"] == pytest.approx(float(ref.pvalue), rel=1e-12)


def test_odds_ratios_match_statsmodels_and_r() -> None:
    table = [[6, 2], [1, 4]]
    out = odds_ratios(table)
    ref = Table2x2(np.array(table))
    assert out["sample"]["estimate"] == pytest.approx(float(ref.oddsratio), rel=1e-12)
    assert out["sample"]["ci95"] == pytest.approx(
        list(ref.oddsratio_confint(0.05, method="normal")), rel=1e-12
    )
    assert "Woolf" in out["sample"]["ci_method"] and "conditional" in out["conditional_mle"]["kind"]
    # R: fisher.test(matrix(c(3, 1, 1, 3), 2), alternative = "greater") gives the conditional MLE
    # 6.408309 and the 95 % interval 0.3135693 to Inf (the R documentation's tea-tasting example).
    tea = odds_ratios([[3, 1], [1, 3]], "greater")
    assert tea["conditional_mle"]["estimate"] == pytest.approx(6.408309, rel=1e-5)
    assert tea["conditional_mle"]["ci95"][0] == pytest.approx(0.3135693, rel=1e-4)
    assert tea["conditional_mle"]["ci95"][1] is None and tea["sample"]["ci95"][1] is None


def test_odds_ratio_with_a_zero_cell_has_no_woolf_interval() -> None:
    out = odds_ratios([[7, 0], [1, 4]])
    assert out["sample"]["estimate"] is None and out["sample"]["ci95"] is None
    assert "zero cell" in out["sample"]["message"]
    assert out["conditional_mle"]["ci95"][1] is None  # unbounded above


def test_large_tables_give_the_conditional_estimate_without_its_slow_interval() -> None:
    out = odds_ratios([[700, 500], [500, 700]])
    assert out["conditional_mle"]["estimate"] == pytest.approx(1.96, rel=1e-2)
    assert out["conditional_mle"]["ci95"] is None and "2,000" in out["conditional_mle"]["message"]
    assert out["sample"]["ci95"] is not None


def test_fisher_one_sided_option_matches_scipy() -> None:
    two = compare_proportions(["a", "b"], [6, 1], [7, 5])
    one = compare_proportions(["a", "b"], [6, 1], [7, 5], alternative="greater")
    assert "two-sided" in two["method"] and "one-sided" in one["method"]
    assert one["p_value"] == pytest.approx(float(sps.fisher_exact([[6, 1], [1, 4]], "greater").pvalue))
    assert one["p_value"] < two["p_value"]
    with pytest.raises(InputError) as err:
        compare_proportions(["a", "b", "c"], [1, 2, 3], [4, 4, 4], alternative="less")
    assert err.value.field == "alternative"
    with pytest.raises(InputError):
        compare_proportions(["a", "b"], [1, 2], [4, 4], alternative="sideways")


def test_standardised_mean_change_uses_the_baseline_sd() -> None:
    before = np.array([8.0, 7.0, 9.0, 6.0, np.nan, 5.0])
    after = np.array([3.0, 5.0, 4.0, 6.0, 2.0, np.nan])
    out = standardised_mean_change(before, after)
    pairs_before, pairs_after = before[:4], after[:4]
    described = sps.describe(pairs_before)
    expected = float(np.mean(pairs_after - pairs_before)) / float(np.sqrt(described.variance))
    assert out["estimate"] == pytest.approx(expected, rel=1e-12)
    assert out["n_pairs"] == 4 and "SD (n - 1) of those pairs' baseline" in out["method"]
    flat = standardised_mean_change(np.array([7.0, 7.0]), np.array([3.0, 4.0]))
    assert flat["estimate"] is None and "same" in flat["message"]


def test_daily_auc_is_the_trapezoid_over_the_stated_days() -> None:
    days = (0, 1, 2, 4, 7)
    nrs = np.array(
        [
            [8, 6, 5, 4, 4],
            [7, np.nan, 5, 5, 3],  # day 1 missing: bridged
            [np.nan, 6, 5, 4, 4],  # no day-0 rating: not counted
        ],
        dtype=np.float64,
    )
    out = daily_nrs_auc(days, nrs)
    first = float(integrate.trapezoid([8, 6, 5, 4, 4], days))
    second = float(integrate.trapezoid([7, 5, 5, 3], [0, 2, 4, 7]))
    assert out["n"] == 2 and out["not_counted"] == 1 and out["days"] == [0, 7]
    assert out["auc"]["median"] == pytest.approx((first + second) / 2)
    assert out["unit"] == "NRS point-days" and "days 0-7" in out["method"]
    assert out["mean_nrs"]["median"] == pytest.approx((first + second) / 2 / 7)
    assert daily_nrs_auc((), np.zeros((3, 0)))["message"].startswith("not recorded")


def test_report_without_adverse_event_column_says_not_recorded() -> None:
    report = analyse_cohort(read_cohort_csv(FIXTURES / "garcia2023_illustrative.csv"))
    ae = report["adverse_events"]
    assert ae["recorded"] is False and ae["message"].startswith("not recorded")
    assert ae["patients_with_any"] is None and ae["per_patient_any"] is None
    assert report["nrs_change"]["daily_auc"]["recorded"] is False


def test_report_with_an_empty_adverse_event_column_counts_zero() -> None:
    text = (
        HEADER + ",adverse_events\nP1,G50.0,neuropathic,8,3,none,2,0,\nP2,G50.1,nociplastic,7,6,none,1,0,\n"
    )
    ae = analyse_cohort(read_cohort_csv(text))["adverse_events"]
    assert ae["recorded"] is True and ae["patients_with_any"] == 0


def test_report_states_every_method() -> None:
    report = analyse_cohort(
        read_cohort_csv(FIXTURES / "garcia2023_illustrative.csv"),
        compare=parse_compare("diagnosis:G50.0,G50.1"),
        alternative="greater",
    )
    comparison = report["comparison"]
    assert comparison["alternative"] == "greater" and "one-sided" in comparison["method"]
    assert comparison["odds_ratios"]["conditional_mle"]["ci_method"].startswith("exact conditional")
    wilcoxon = report["nrs_change"]["wilcoxon"]
    assert wilcoxon["p_method"].startswith(("exact", "normal approximation"))
    assert report["nrs_change"]["effect_size"]["method"].startswith("standardised mean change")
    with pytest.raises(InputError):
        analyse_cohort(read_cohort_csv(FIXTURES / "garcia2023_illustrative.csv"), alternative="up")


def test_daily_nrs_columns_are_read_and_analysed() -> None:
    text = (
        HEADER
        + ",nrs_day_0,nrs_day_1,nrs_day_3\n"
        + "P1,G50.0,neuropathic,8,3,none,2,0,8,6,4\n"
        + "P2,G50.1,nociplastic,7,6,none,1,0,7,,5\n"
    )
    cohort = read_cohort_csv(text)
    assert cohort.daily_nrs_days == (0, 1, 3)
    assert cohort.records[1].daily_nrs == ((0, 7.0), (3, 5.0))
    auc = analyse_cohort(cohort)["nrs_change"]["daily_auc"]
    assert auc["n"] == 2
    assert auc["auc"]["median"] == pytest.approx((17.0 + 18.0) / 2)  # 7 + 10 and (7 + 5) / 2 x 3


def test_bad_daily_nrs_cells_and_columns_are_reported() -> None:
    with pytest.raises(CohortFileError) as err:
        read_cohort_csv(HEADER + ",nrs_day_0\nP1,G50.0,neuropathic,8,3,none,2,0,11\n")
    assert err.value.errors[0].column == "nrs_day_0"
    for column in ("nrs_day_01", "nrs_day_366", "nrs_day_x"):
        with pytest.raises(CohortFileError, match="unknown column"):
            read_cohort_csv(HEADER + f",{column}\nP1,G50.0,neuropathic,8,3,none,2,0,5\n")
