"""check_dose: the one pure check behind the dose-check API and CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketaclinic.dosing import DoseQuantity, RateQuantity, check_dose, load_library, parse_dose, parse_rate
from ketaclinic.errors import InputError, NotFoundError

LIB = load_library()


def test_rate_verdicts_and_units() -> None:
    soft = check_dose(
        LIB, "outpatient", dose=parse_rate("1.5 mg/kg/h"), weight_kg=70, concentration_mg_ml=None
    )
    assert soft.decisive.verdict == "soft" and soft.decisive.limit == 1.0
    assert soft.rate_mg_h == pytest.approx(105)
    hard = check_dose(
        LIB, "outpatient", dose=RateQuantity(3, "mg/kg/h"), weight_kg=70, concentration_mg_ml=None
    )
    assert hard.decisive.verdict == "hard" and hard.decisive.limit_kind == "hard_max"
    per_min = check_dose(
        LIB, "outpatient", dose=parse_rate("5 ug/kg/min"), weight_kg=70, concentration_mg_ml=1
    )
    assert per_min.rate_mg_kg_h == pytest.approx(0.3) and per_min.pump_ml_h == pytest.approx(21)
    assert [c.quantity for c in per_min.checks] == ["rate_mg_kg_h", "rate_mg_h"]


def test_a_pump_rate_uses_the_only_listed_concentration_or_needs_one(tmp_path: Path) -> None:
    ml = check_dose(LIB, "outpatient", dose=parse_rate("35 mL/h"), weight_kg=70, concentration_mg_ml=None)
    assert (ml.rate_mg_h, ml.concentration_mg_ml, ml.decisive.verdict) == (35, 1.0, "ok")
    override = tmp_path / "drug_library.toml"
    override.write_text(
        "[context.outpatient.concentrations_mg_ml]\nvalues = [1.0, 2.0]\n"
        'source = "Clinic pharmacy"\nstatus = "local-policy"\n',
        encoding="utf-8",
    )
    two = load_library(override)
    with pytest.raises(InputError, match="needs the concentration") as caught:
        check_dose(two, "outpatient", dose=parse_rate("35 mL/h"), weight_kg=70, concentration_mg_ml=None)
    assert caught.value.field == "concentration_mg_ml"
    at_two = check_dose(two, "outpatient", dose=parse_rate("35 mL/h"), weight_kg=70, concentration_mg_ml=2)
    assert at_two.rate_mg_h == 70


def test_a_concentration_must_be_a_library_one() -> None:
    with pytest.raises(InputError, match="not a library concentration"):
        check_dose(LIB, "outpatient", dose=parse_rate("35 mg/h"), weight_kg=70, concentration_mg_ml=10)


def test_bolus_in_mg_or_mg_per_kg() -> None:
    per_kg = check_dose(
        LIB, "outpatient", dose=parse_dose("0.3 mg/kg"), weight_kg=80, concentration_mg_ml=None
    )
    assert per_kg.decisive.verdict == "ok" and per_kg.dose_mg == pytest.approx(24)
    mg = check_dose(LIB, "outpatient", dose=DoseQuantity(45, "mg"), weight_kg=80, concentration_mg_ml=None)
    assert mg.decisive.verdict == "hard" and mg.to_json_dict()["dose_mg_kg"] == pytest.approx(45 / 80)
    assert "rate_mg_h" not in mg.to_json_dict() and mg.to_json_dict()["kind"] == "bolus"


def test_bad_input() -> None:
    with pytest.raises(NotFoundError):
        check_dose(LIB, "nowhere", dose=parse_rate("1 mg/h"), weight_kg=70, concentration_mg_ml=None)
    with pytest.raises(InputError) as caught:
        check_dose(LIB, "outpatient", dose=parse_rate("1 mg/h"), weight_kg=0, concentration_mg_ml=None)
    assert caught.value.field == "weight_kg"
