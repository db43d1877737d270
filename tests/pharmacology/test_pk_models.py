"""The shipped model catalogue: keys, published numbers, weight scaling, population warnings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ketaclinic.data import Status
from ketaclinic.errors import DataFileError, InputError, NotFoundError
from ketaclinic.pharmacology import check_patient, concentration_bands, get_model, list_models
from ketaclinic.pharmacology.engine import disposition

KEYS = [
    "domino1984",
    "clements1981",
    "hijazi2003",
    "herd2007",
    "hornik2018",
    "kamp2020",
    "fanta2015_s",
    "simons2022_s",
    "flint2017_s",
]


def test_every_model_of_the_reference_is_shipped_with_citation_and_status() -> None:
    assert [m.key for m in list_models()] == KEYS
    for m in list_models():
        assert m.citation and m.source and isinstance(m.status, Status)
        assert m.drug in ("racemic", "s-ketamine")
        assert (m.ke0_per_min is None) == (m.ke0_source is None)


def test_domino_at_70_kg_matches_the_reference_parameters_and_eigenvalues() -> None:
    p = get_model("domino1984").scaled(70)
    expected = {"v1": 4.41, "v2": 10.56972, "v3": 178.2123, "cl": 1.93158, "q2": 2.61072, "q3": 2.6019}
    for name, value in expected.items():
        assert float(p[name]) == pytest.approx(value, rel=1e-6)
    lam = disposition(get_model("domino1984"), [70.0]).rates_per_min[0]
    assert lam == pytest.approx([1.724037, 0.151516, 0.006046704], rel=1e-6)


def test_clearance_models_convert_l_per_h_and_scale_allometrically() -> None:
    herd = get_model("herd2007")
    assert float(herd.scaled(70)["cl"]) == pytest.approx(1.5)
    assert float(herd.scaled(35)["cl"]) == pytest.approx(1.5 * 0.5**0.75)
    assert float(herd.scaled(35)["v1"]) == pytest.approx(38.7 / 2)
    fanta = get_model("fanta2015_s")
    assert float(fanta.scaled(35)["v2"]) == pytest.approx(187.0)  # peripheral fixed
    assert float(get_model("simons2022_s").scaled(70)["cl"]) == pytest.approx(1.48)


def test_kamp_ke0_follows_its_weight_formula_and_the_exponent_choice_is_documented() -> None:
    kamp = get_model("kamp2020")
    assert kamp.ke0_for(70) == pytest.approx(1.390, abs=5e-4)
    assert kamp.ke0_for(50) == pytest.approx(0.1876 * math.log(50) + 0.5932)
    assert kamp.exponents["cl"] == 0.75 and "0.75" in kamp.choice_note and "1.0" in kamp.choice_note


def test_herd_carries_its_published_variability() -> None:
    assert dict(get_model("herd2007").bsv_cv) == {"v1": 0.64, "v2": 0.517, "cl": 0.381, "q2": 0.19}


def test_unknown_key_lists_the_valid_ones() -> None:
    with pytest.raises(NotFoundError, match="domino1984"):
        get_model("propofol")


def test_patient_outside_the_population_gets_a_warning() -> None:
    assert check_patient(get_model("domino1984"), 70, 40) == ()
    assert any("below" in w for w in check_patient(get_model("domino1984"), 30, 12))
    assert any("above" in w for w in check_patient(get_model("herd2007"), 70, 40))
    assert any("children" in w for w in check_patient(get_model("flint2017_s"), 20))


@pytest.mark.parametrize("weight", [0.0, -5.0, float("nan")])
def test_impossible_weight_is_an_error(weight: float) -> None:
    with pytest.raises(InputError):
        check_patient(get_model("domino1984"), weight)


def test_concentration_bands_from_the_reference() -> None:
    bands = {b.key: b for b in concentration_bands()}
    assert (bands["analgesic"].low_ng_ml, bands["analgesic"].high_ng_ml) == (100.0, 160.0)
    assert (bands["dissociative"].low_ng_ml, bands["dissociative"].high_ng_ml) == (100.0, 250.0)
    assert "Bowdle" in bands["dissociative"].source


def test_model_description_is_json_ready() -> None:
    d = get_model("kamp2020").as_dict()
    assert d["parameters_70kg"]["volumes_l"]["v3"] == 157.0
    assert np.isclose(d["parameters_70kg"]["clearances_l_min"]["cl"], 1.4)


def test_herd_verified_status_covers_only_what_its_abstract_gave() -> None:
    herd = get_model("herd2007")
    parts = herd.parts()
    assert herd.status.value == "verified"
    assert (parts["parameters"].status.value, parts["bsv"].status.value) == ("verified", "verified")
    assert (
        parts["exponents"].status.value == "secondary" and "Not in the Herd 2007" in parts["exponents"].source
    )
    assert parts["ke0"].status.value == "secondary" and "2008" in parts["ke0"].source
    assert herd.ke0_half_life_s == 11.0
    assert herd.ke0_per_min == pytest.approx(math.log(2) / 11.0 * 60.0, rel=1e-15)  # ln 2 / 11 s


def test_a_ke0_seen_only_in_program_code_says_so() -> None:
    for key in ("domino1984", "kamp2020"):
        ke0 = get_model(key).status_of("ke0")
        assert ke0.status.value == "secondary" and "another TCI program's code" in ke0.source
    assert "ke0" not in get_model("hijazi2003").parts()  # no ke0, so no ke0 status
    assert get_model("hijazi2003").status_of("exponents").source == get_model("hijazi2003").source


@pytest.mark.parametrize(
    ("part_status", "message"),
    [
        ({"ke0": {"status": "guessed", "source": "x"}}, "part_status.ke0.status"),
        ({"ke0": {"status": "verified"}}, "part_status.ke0.source"),
        ({"colour": {"status": "verified", "source": "x"}}, "part_status.colour"),
        ({"bsv": {"status": "verified", "source": "x"}}, "does not have"),
    ],
)
def test_part_status_is_validated_on_load(part_status: dict[str, object], message: str) -> None:
    from ketaclinic.data import load_toml
    from ketaclinic.pharmacology.models import _model

    row = {**load_toml("pk_models.toml")["domino1984"], "part_status": part_status}
    with pytest.raises(DataFileError, match=message.replace(".", r"\.")):
        _model("domino1984", row)
