"""S-norketamine (Otto 2021 on the Fanta parent): mass balance, linearity, availability."""

from __future__ import annotations

import numpy as np
import pytest

from ketaclinic.errors import NotFoundError
from ketaclinic.pharmacology import (
    Bolus,
    Infusion,
    Regimen,
    get_metabolite_model,
    list_models,
    simulate,
    simulate_metabolite,
)


def test_otto_parameters_are_shipped_on_fanta_only() -> None:
    m = get_metabolite_model("fanta2015_s")
    assert (m.name, m.v1_l, m.v2_l, m.fraction_metabolised) == ("S-norketamine", 98.6, 160.0, 1.0)
    assert m.cl_l_min == pytest.approx(57.7 / 60) and m.q2_l_min == pytest.approx(42.8 / 60)
    assert "Otto" in m.citation
    with pytest.raises(NotFoundError, match="fanta2015_s"):
        get_metabolite_model("domino1984")
    assert len(list_models()) == 9  # the metabolite table is not a model of its own


@pytest.mark.parametrize("weight", [50.0, 70.0, 100.0])
def test_every_mole_of_parent_cleared_becomes_metabolite_and_is_cleared(weight: float) -> None:
    dose_mg = 20.0
    t = np.concatenate([[0.0], np.geomspace(1e-4, 1e6, 20000)])
    conc = simulate_metabolite("fanta2015_s", weight, Regimen(boluses=(Bolus(0, dose_mg),)), t).conc_nmol_l
    auc_nmol_min_l = float(np.sum(np.diff(t) * (conc[1:] + conc[:-1]) / 2))
    cleared_umol = auc_nmol_min_l * get_metabolite_model("fanta2015_s").cl_l_min / 1000.0
    assert cleared_umol == pytest.approx(dose_mg / 237.73 * 1000.0, rel=1e-3)
    assert conc.min() >= 0 and conc[0] == pytest.approx(0.0, abs=1e-9)


def test_metabolite_lags_the_parent_and_is_linear_in_dose() -> None:
    t = np.linspace(0, 600, 601)
    a = Regimen(infusions=(Infusion(0, 60, 20),))
    met = simulate_metabolite("fanta2015_s", 70, a, t).conc_nmol_l
    parent = simulate("fanta2015_s", 70, a, t).cp_ng_ml
    assert np.argmax(met) > np.argmax(parent)
    np.testing.assert_allclose(
        simulate_metabolite("fanta2015_s", 70, a.scaled(3), t).conc_nmol_l, 3 * met, rtol=1e-9, atol=1e-9
    )
