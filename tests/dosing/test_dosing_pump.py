"""Pump arithmetic: worked examples and round-trip properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.dosing import pump
from ketaclinic.errors import InputError

rates = st.floats(min_value=0, max_value=2000, allow_nan=False)
concentrations = st.floats(min_value=0.1, max_value=100, allow_nan=False)
weights = st.floats(min_value=1, max_value=400, allow_nan=False)


def test_examples() -> None:
    # 0.35 mg/kg/h x 70 kg = 24.5 mg/h = 24.5 mL/h at 1 mg/mL; 4 h = 98 mg = 98 mL
    assert pump.rate_mg_h_from_per_kg(0.35, 70) == pytest.approx(24.5)
    assert pump.pump_ml_h(24.5, 1.0) == pytest.approx(24.5)
    assert pump.mg_delivered(24.5, 240) == pytest.approx(98.0)
    assert pump.volume_ml(98.0, 1.0) == pytest.approx(98.0)
    # the classic 10x error: 25 mg/h at 10 mg/mL is 2.5 mL/h, typing 25 into mL/h gives 250 mg/h
    assert pump.pump_ml_h(25, 10) == pytest.approx(2.5)
    assert pump.rate_mg_h_from_pump(25, 10) == pytest.approx(250)
    # 0.5 mg/kg over 40 min (Cleveland) at 70 kg: 35 mg at 52.5 mg/h
    assert pump.rate_mg_h_for_dose(pump.dose_mg_from_per_kg(0.5, 70), 40) == pytest.approx(52.5)
    assert pump.rate_mg_kg_h_from_ug_kg_min(1.2) == pytest.approx(0.072)
    assert pump.minutes_per_container(50, 25) == pytest.approx(120)
    assert pump.minutes_per_container(50, 0) is None


@pytest.mark.parametrize(
    "call",
    [
        lambda: pump.pump_ml_h(10, 0),
        lambda: pump.pump_ml_h(-1, 1),
        lambda: pump.rate_mg_kg_h(10, 0),
        lambda: pump.rate_mg_kg_h(10, 401),
        lambda: pump.rate_mg_h_for_dose(80, 0),
        lambda: pump.volume_ml(math.nan, 1),
    ],
)
def test_bad_input(call: object) -> None:
    with pytest.raises(InputError):
        call()  # type: ignore[operator]


@given(rates, concentrations)
def test_pump_ml_h_times_concentration_is_mg_h(rate_mg_h: float, concentration: float) -> None:
    ml_h = pump.pump_ml_h(rate_mg_h, concentration)
    assert ml_h * concentration == pytest.approx(rate_mg_h, rel=1e-12, abs=1e-12)
    assert pump.rate_mg_h_from_pump(ml_h, concentration) == pytest.approx(rate_mg_h, rel=1e-12, abs=1e-12)


@given(rates, weights)
def test_mg_h_over_weight_is_mg_kg_h(rate_mg_h: float, weight_kg: float) -> None:
    per_kg = pump.rate_mg_kg_h(rate_mg_h, weight_kg)
    assert per_kg == pytest.approx(rate_mg_h / weight_kg)
    assert pump.rate_mg_h_from_per_kg(per_kg, weight_kg) == pytest.approx(rate_mg_h, rel=1e-12, abs=1e-12)


@given(rates, st.floats(min_value=1, max_value=10_000), concentrations)
def test_volume_is_dose_over_concentration(rate_mg_h: float, minutes: float, concentration: float) -> None:
    dose = pump.mg_delivered(rate_mg_h, minutes)
    assert pump.volume_ml(dose, concentration) == pytest.approx(
        pump.pump_ml_h(rate_mg_h, concentration) * minutes / 60
    )
    assert pump.rate_mg_h_for_dose(dose, minutes) == pytest.approx(rate_mg_h, rel=1e-9, abs=1e-12)
