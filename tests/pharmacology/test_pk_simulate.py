"""Exact simulation: the published Domino table, an independent expm solution, and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.dosing import rate_mg_h_from_per_kg
from ketaclinic.errors import InputError
from ketaclinic.pharmacology import (
    Bolus,
    Infusion,
    Regimen,
    get_model,
    list_models,
    simulate,
    simulate_batch,
    simulate_population,
    steady_state_cp_ng_ml,
)

DOMINO_T = [1, 2, 5, 10, 15, 30, 60, 120, 180, 240]
DOMINO_CP = [67.020, 84.637, 103.569, 121.219, 132.101, 150.998, 176.485, 214.679, 241.248, 259.733]
KEYS = [m.key for m in list_models()]


def test_domino_table_of_the_reference_to_1e_3() -> None:
    regimen = Regimen(infusions=(Infusion(0, 240, rate_mg_h_from_per_kg(0.5, 70)),))
    p = simulate("domino1984", 70, regimen, DOMINO_T)
    assert np.max(np.abs(p.cp_ng_ml - DOMINO_CP)) < 1e-3


def test_domino_table_on_a_one_second_grid_uses_the_fast_path_and_agrees() -> None:
    t = np.arange(1, 14401) / 60.0
    regimen = Regimen(infusions=(Infusion(0, 240, 35),))
    p = simulate("domino1984", 70, regimen, t)
    assert np.max(np.abs(p.cp_ng_ml[np.array(DOMINO_T) * 60 - 1] - DOMINO_CP)) < 1e-3
    batch = simulate_batch("domino1984", [70.0, 70.0], t, regimen=regimen, dtype=np.float32)
    assert np.max(np.abs(batch.cp_ng_ml[1] - p.cp_ng_ml)) < 1e-3


@pytest.mark.parametrize("key", KEYS)
def test_every_model_agrees_with_an_independent_matrix_exponential(key: str, expm_ref) -> None:  # type: ignore[no-untyped-def]
    regimen = Regimen(
        boluses=(Bolus(0, 20), Bolus(33.3, 10)),
        infusions=(Infusion(0, 120, 30), Infusion(60, 90, 50), Infusion(150, 170, 12)),
    )
    t = [0.0, 0.5, 1, 33.3, 45, 60, 89.9, 90, 121, 160, 200, 480]
    ke0 = get_model(key).ke0_for(60) or 0.5
    p = simulate(key, 60, regimen, t, ke0_per_min=ke0)
    cp, ce = expm_ref(get_model(key), 60, regimen, t, ke0)
    assert p.ce_ng_ml is not None
    np.testing.assert_allclose(p.cp_ng_ml, cp, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(p.ce_ng_ml, ce, rtol=1e-7, atol=1e-7)


def test_ke0_equal_to_an_eigenvalue_still_gives_the_right_effect_site(expm_ref) -> None:  # type: ignore[no-untyped-def]
    model = get_model("domino1984")
    lam = 0.15151603  # second eigenvalue at 70 kg, rounded
    regimen = Regimen(boluses=(Bolus(0, 35),))
    t = [1.0, 5.0, 30.0]
    p = simulate(model, 70, regimen, t, ke0_per_min=lam)
    assert p.ce_ng_ml is not None
    np.testing.assert_allclose(p.ce_ng_ml, expm_ref(model, 70, regimen, t, lam)[1], rtol=1e-5)


def test_without_a_ke0_there_is_no_effect_site() -> None:
    p = simulate("hijazi2003", 70, Regimen(boluses=(Bolus(0, 10),)), [1.0])
    assert p.ce_ng_ml is None and p.ke0_per_min is None


@pytest.mark.parametrize("times", [[5, 1], [-1, 2], [float("nan")], []])
def test_bad_time_grids_are_refused(times: list[float]) -> None:
    with pytest.raises(InputError):
        simulate("domino1984", 70, Regimen(), times)


@pytest.mark.parametrize(
    "make",
    [lambda: Bolus(0, -1), lambda: Infusion(0, 10, -1), lambda: Infusion(10, 5, 1), lambda: Bolus(-1, 1)],
)
def test_negative_doses_and_reversed_infusions_are_refused(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError):
        make()


times_st = st.lists(st.floats(0, 600), min_size=1, max_size=30).map(sorted)
bolus_st = st.builds(Bolus, st.floats(0, 300), st.floats(0, 200))
infusion_st = st.tuples(st.floats(0, 300), st.floats(0.1, 300), st.floats(0, 500)).map(
    lambda x: Infusion(x[0], x[0] + x[1], x[2])
)
regimen_st = st.builds(
    Regimen, st.lists(bolus_st, max_size=3).map(tuple), st.lists(infusion_st, max_size=3).map(tuple)
)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(KEYS), st.floats(10, 150), regimen_st, regimen_st, st.floats(0, 5), times_st)
def test_linearity_and_superposition(
    key: str, w: float, a: Regimen, b: Regimen, k: float, t: list[float]
) -> None:
    both = Regimen(a.boluses + b.boluses, a.infusions + b.infusions)
    pa, pb = simulate(key, w, a, t).cp_ng_ml, simulate(key, w, b, t).cp_ng_ml
    scale = 1.0 + np.max(np.abs(pa)) + np.max(np.abs(pb))
    np.testing.assert_allclose(simulate(key, w, both, t).cp_ng_ml, pa + pb, atol=1e-9 * scale)
    np.testing.assert_allclose(simulate(key, w, a.scaled(k), t).cp_ng_ml, k * pa, atol=1e-9 * scale * (1 + k))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(KEYS), st.floats(10, 150), regimen_st, times_st, st.floats(0.05, 5))
def test_concentrations_are_never_negative(
    key: str, w: float, r: Regimen, t: list[float], ke0: float
) -> None:
    p = simulate(key, w, r, t, ke0_per_min=ke0)
    assert p.ce_ng_ml is not None
    assert np.all(p.cp_ng_ml >= 0) and np.all(p.ce_ng_ml >= 0)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(KEYS), st.floats(10, 150), st.floats(1, 500))
def test_steady_state_is_rate_over_clearance(key: str, w: float, rate: float) -> None:
    p = simulate(key, w, Regimen(infusions=(Infusion(0, 1e7, rate),)), [1e6])
    assert p.cp_ng_ml[0] == pytest.approx(steady_state_cp_ng_ml(key, w, rate), rel=1e-6)


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(KEYS), st.floats(10, 150), st.floats(1, 100))
def test_mass_balance_clearance_times_auc_is_the_dose(key: str, w: float, dose: float) -> None:
    model = get_model(key)
    # geometric grid: fine where Cp falls fast, long enough for the slowest exponential to vanish
    t = np.concatenate([[0.0], np.geomspace(1e-4, 2e6, 20000)])
    cp = simulate(model, w, Regimen(boluses=(Bolus(0, dose),)), t).cp_ng_ml / 1000.0
    auc = float(np.sum(np.diff(t) * (cp[1:] + cp[:-1]) / 2))
    assert model.clearance_l_min(w) * auc == pytest.approx(dose, rel=1e-3)


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(KEYS), st.lists(st.floats(10, 150), min_size=1, max_size=5), regimen_st, regimen_st)
def test_one_patient_and_batch_paths_agree(
    key: str, weights: list[float], a: Regimen, per_kg: Regimen
) -> None:
    t = np.linspace(0, 400, 97)  # uniform: exercises the blocked fast path
    batch = simulate_batch(key, weights, t, regimen=a, regimen_per_kg=per_kg)
    for i, w in enumerate(weights):
        combined = Regimen(a.boluses + per_kg.scaled(w).boluses, a.infusions + per_kg.scaled(w).infusions)
        single = simulate(key, w, combined, t).cp_ng_ml
        np.testing.assert_allclose(batch.cp_ng_ml[i], single, rtol=1e-9, atol=1e-9 * (1 + single.max()))


def test_population_without_variability_is_the_batch_and_is_seedable() -> None:
    t = np.linspace(0, 240, 241)
    per_kg = Regimen(infusions=(Infusion(0, 240, 0.5),))
    weights = np.array([55.0, 80.0, 100.0])
    pop = simulate_population("herd2007", weights, t, regimen_per_kg=per_kg, seed=3, bsv_cv={})
    batch = simulate_batch("herd2007", weights, t, regimen_per_kg=per_kg)
    np.testing.assert_allclose(pop.cp_ng_ml, batch.cp_ng_ml, rtol=1e-5, atol=1e-3)  # float32 output
    a = simulate_population("herd2007", weights, t, regimen_per_kg=per_kg, seed=7)
    b = simulate_population("herd2007", weights, t, regimen_per_kg=per_kg, seed=7)
    np.testing.assert_array_equal(a.cp_ng_ml, b.cp_ng_ml)
    assert not np.allclose(a.cp_ng_ml, pop.cp_ng_ml)
    # each sampled patient is exactly the one-patient simulation with its own parameters
    one = simulate_batch(
        "herd2007",
        weights[:1],
        t,
        regimen_per_kg=per_kg,
        parameters={k: v[:1] for k, v in a.parameters.items()},
    )
    np.testing.assert_allclose(one.cp_ng_ml[0], a.cp_ng_ml[0], rtol=1e-5, atol=1e-3)


def test_population_variability_has_the_published_cv() -> None:
    weights = np.full(20000, 70.0)
    pop = simulate_population("herd2007", weights, [1.0], regimen=Regimen(), seed=1)
    cl = pop.parameters["cl"]
    assert np.std(np.log(cl)) == pytest.approx(np.sqrt(np.log1p(0.381**2)), rel=0.03)
    assert any("variability" in w for w in simulate_population("domino1984", [70.0], [1.0], seed=1).warnings)


def test_population_percentiles_shape_and_order() -> None:
    rng = np.random.default_rng(0)
    t = np.linspace(0, 120, 121)
    pop = simulate_population(
        "herd2007",
        rng.uniform(15, 40, 500),
        t,
        regimen_per_kg=Regimen(infusions=(Infusion(0, 120, 0.5),)),
        seed=rng,
    )
    q = pop.percentiles()
    assert q.shape == (3, 121) and np.all(q[0] <= q[1]) and np.all(q[1] <= q[2])
