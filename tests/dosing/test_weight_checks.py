"""Weight checks (local policy): a discrepancy beyond the fraction, a weight implausible for the age."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.data import Status
from ketaclinic.dosing.bounds import MAX_WEIGHT_KG, MIN_WEIGHT_KG
from ketaclinic.dosing.weight_checks import load_weight_policy, relative_difference
from ketaclinic.errors import DataFileError

POLICY = load_weight_policy()
weights = st.floats(min_value=MIN_WEIGHT_KG, max_value=MAX_WEIGHT_KG, allow_nan=False)


def test_shipped_defaults_are_labelled_local_policy() -> None:
    assert POLICY.discrepancy_fraction == 0.10
    assert POLICY.discrepancy_status is Status.LOCAL_POLICY
    assert POLICY.plausible_status is Status.LOCAL_POLICY
    assert "ketaclinic default" in POLICY.discrepancy_source


def test_the_typos_of_the_clinic_day_are_caught() -> None:
    tenfold = POLICY.discrepancy(7.2, 72.5)
    assert tenfold is not None
    assert tenfold.describe("the plan's") == (
        "7.2 kg is 90% below the plan's 72.5 kg (more than the 10% local-policy limit)"
    )
    assert POLICY.discrepancy(6.3, 63.3) is not None
    assert POLICY.discrepancy(75.0, 72.5) is None
    assert POLICY.implausible_band(6.3, 45) is not None
    assert POLICY.implausible_band(63.3, 45) is None


def test_exactly_at_the_fraction_is_not_beyond_it() -> None:
    assert POLICY.discrepancy(72.5 * 1.1, 72.5) is None
    assert POLICY.discrepancy(72.5 * 0.9, 72.5) is None
    assert POLICY.discrepancy(80.0, 72.5) is not None


def test_bands_cover_every_age() -> None:
    assert POLICY.band_for(0).min_age_y == 0
    assert POLICY.band_for(5).max_kg == 40.0
    assert POLICY.band_for(200) == POLICY.plausible[-1]


@given(weights, weights)
def test_a_discrepancy_is_exactly_a_difference_beyond_the_fraction(weight: float, reference: float) -> None:
    found = POLICY.discrepancy(weight, reference)
    fraction = relative_difference(weight, reference)
    if found is None:
        assert fraction <= POLICY.discrepancy_fraction + 1e-9
    else:
        assert found.fraction == fraction > POLICY.discrepancy_fraction
        assert f"{reference:g} kg" in found.describe("the last")


@given(weights, st.floats(min_value=0.0, max_value=0.0999))
def test_a_weight_within_the_fraction_is_never_questioned(reference: float, change: float) -> None:
    assert POLICY.discrepancy(reference * (1 + change), reference) is None
    assert POLICY.discrepancy(reference * (1 - change), reference) is None


@given(weights, st.integers(min_value=0, max_value=130))
def test_implausible_means_outside_the_age_band(weight: float, age: int) -> None:
    band = POLICY.band_for(age)
    assert (POLICY.implausible_band(weight, age) is None) == (band.min_kg <= weight <= band.max_kg)


def test_a_clinic_changes_the_fraction_and_the_bands(tmp_path: Path) -> None:
    override = tmp_path / "weight_checks.toml"
    override.write_text(
        "discrepancy_fraction = 0.05\n"
        "[[plausible_weight]]\nmin_age_y = 0\nmax_age_y = 131\nmin_kg = 20\nmax_kg = 250\n",
        encoding="utf-8",
    )
    policy = load_weight_policy(override)
    assert policy.discrepancy_fraction == 0.05
    assert policy.discrepancy_source == "weight_checks.toml"
    assert policy.discrepancy(76.5, 72.5) is not None
    assert policy.implausible_band(15.0, 40) is not None


@pytest.mark.parametrize(
    "text",
    [
        "discrepancy_fraction = 1.5\n",
        "discrepancy_fraction = true\n",
        "tolerance = 0.1\n",
        "[[plausible_weight]]\nmin_age_y = 1\nmax_age_y = 131\nmin_kg = 20\nmax_kg = 250\n",
        "[[plausible_weight]]\nmin_age_y = 0\nmax_age_y = 131\nmin_kg = 20\nmax_kg = 900\n",
        "[[plausible_weight]]\nmin_age_y = 0\nmax_age_y = 131\n",
    ],
)
def test_a_bad_clinic_file_is_refused(tmp_path: Path, text: str) -> None:
    override = tmp_path / "weight_checks.toml"
    override.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError):
        load_weight_policy(override)
