"""Derived quantities: peak, time within a band, AUC, steady state, context-sensitive half-time."""

from __future__ import annotations

import numpy as np
import pytest

from ketaclinic.errors import InputError
from ketaclinic.pharmacology import (
    Bolus,
    Infusion,
    Regimen,
    auc,
    context_sensitive_half_time_min,
    ke0_from_t_peak,
    minutes_above,
    minutes_below,
    minutes_within,
    peak,
    simulate,
    steady_state_cp_ng_ml,
)


def test_minutes_within_interpolates_crossings() -> None:
    t = [0.0, 10.0, 20.0]
    c = [0.0, 200.0, 0.0]
    # above 100 from t = 5 to t = 15
    assert minutes_within(t, c, 100, 160) == pytest.approx(2 * 3.0)
    assert minutes_above(t, c, 100) == pytest.approx(10.0)
    assert minutes_below(t, c, 100) == pytest.approx(10.0)
    assert minutes_within(t, [120.0, 120.0, 120.0], 100, 160) == pytest.approx(20.0)
    assert minutes_within(t, [50.0, 50.0, 50.0], 100, 160) == 0.0


def test_minutes_within_refuses_bad_input() -> None:
    with pytest.raises(InputError):
        minutes_within([0, 1], [1, 2], 5, 1)
    with pytest.raises(InputError):
        minutes_within([1, 0], [1, 2], 0, 5)


def test_auc_of_a_constant_and_a_triangle() -> None:
    assert auc([0, 10], [5, 5]) == pytest.approx(50)
    assert auc([0, 10, 20], [0, 200, 0]) == pytest.approx(2000)


def test_peak_of_a_bolus_is_at_time_zero_and_effect_peaks_later() -> None:
    p = simulate("domino1984", 70, Regimen(boluses=(Bolus(0, 35),)), np.linspace(0, 10, 601))
    t_cp, cp = peak(p)
    t_ce, ce = peak(p, site="effect")
    assert t_cp == 0.0 and cp == pytest.approx(35 / 4.41 * 1000)
    assert 1.0 < t_ce < 2.5 and ce < cp  # reference: t_peak ~1.6 min for ke0 0.238


def test_peak_effect_without_ke0_is_an_error() -> None:
    p = simulate("hijazi2003", 70, Regimen(boluses=(Bolus(0, 35),)), [0.0, 1.0])
    with pytest.raises(InputError):
        peak(p, site="effect")


def test_steady_state_matches_the_reference() -> None:
    assert steady_state_cp_ng_ml("domino1984", 70, 35) == pytest.approx(302.0, abs=0.05)


def test_context_sensitive_half_time_is_the_halving_time_of_a_simulation() -> None:
    csht = context_sensitive_half_time_min("domino1984", 70, 240)
    p = simulate("domino1984", 70, Regimen(infusions=(Infusion(0, 240, 35),)), [240, 240 + csht])
    assert p.cp_ng_ml[1] == pytest.approx(p.cp_ng_ml[0] / 2, rel=1e-8)
    # longer infusions load the slow compartment: the half-time grows
    assert context_sensitive_half_time_min("domino1984", 70, 10) < csht


def test_ke0_from_t_peak_puts_the_effect_peak_there() -> None:
    ke0 = ke0_from_t_peak("hijazi2003", 70, 3.0)
    p = simulate(
        "hijazi2003", 70, Regimen(boluses=(Bolus(0, 35),)), np.linspace(0, 10, 10001), ke0_per_min=ke0
    )
    assert peak(p, site="effect")[0] == pytest.approx(3.0, abs=1e-3)
    # Domino's ke0 0.238 /min has its peak at ~1.6 min (reference)
    assert ke0_from_t_peak("domino1984", 70, 1.6085) == pytest.approx(0.238, rel=2e-3)
    with pytest.raises(InputError):
        ke0_from_t_peak("domino1984", 70, 0)
