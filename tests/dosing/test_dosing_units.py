"""Reading typed rates and doses."""

from __future__ import annotations

import pytest

from ketaclinic.dosing import parse_dose, parse_rate
from ketaclinic.errors import InputError


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("2.5mg/kg/h", 2.5, "mg/kg/h"),
        ("0.5 mg/kg/hr", 0.5, "mg/kg/h"),
        ("25mg/h", 25, "mg/h"),
        ("12 mL/h", 12, "mL/h"),
        ("12ml/h", 12, "mL/h"),
        ("1.2ug/kg/min", 1.2, "ug/kg/min"),
    ],
)
def test_parse_rate(text: str, value: float, unit: str) -> None:
    q = parse_rate(text)
    assert (q.value, q.unit) == (value, unit)


@pytest.mark.parametrize("text", ["2.5mg", "mg/h", "", "-1mg/h", "2.5 mg/kg", "nan mg/h", "1e400mg/h"])
def test_parse_rate_rejects(text: str) -> None:
    with pytest.raises(InputError) as err:
        parse_rate(text)
    assert err.value.field == "rate"


def test_parse_dose_and_convert() -> None:
    assert parse_dose("35mg").to_dose_mg(weight_kg=None) == 35
    assert parse_dose("0.3mg/kg").to_dose_mg(weight_kg=80) == pytest.approx(24)
    with pytest.raises(InputError):
        parse_dose("2mg/h")
    with pytest.raises(InputError):
        parse_dose("0.3mg/kg").to_dose_mg(weight_kg=None)


def test_rate_conversion_needs_concentration_for_ml_h() -> None:
    assert parse_rate("25mL/h").to_rate_mg_h(weight_kg=70, concentration_mg_ml=1) == 25
    assert parse_rate("0.5mg/kg/h").to_rate_mg_h(weight_kg=70, concentration_mg_ml=None) == pytest.approx(35)
    assert parse_rate("1.2ug/kg/min").to_rate_mg_h(weight_kg=70, concentration_mg_ml=None) == pytest.approx(
        5.04
    )
    with pytest.raises(InputError) as err:
        parse_rate("25mL/h").to_rate_mg_h(weight_kg=70, concentration_mg_ml=None)
    assert err.value.field == "concentration_mg_ml"
