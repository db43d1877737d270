"""Programmed pump rates (rounded down to the pump's resolution); shipped protocols free of soft breaches."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.dosing import (
    DosePlan,
    DrugLibrary,
    HardLimitError,
    build_plan,
    check_rate,
    load_library,
    load_protocols,
    pump,
)
from ketaclinic.dosing.checks import dose_response_note
from ketaclinic.dosing.library import apply_override
from ketaclinic.errors import DataFileError, InputError

LIB = load_library()
PROTOCOLS = load_protocols()
CONCENTRATIONS = (1.0, 2.0, 5.0, 10.0)
RESOLUTIONS = (0.1, 0.01, 0.05, 1.0)


def _library(resolution_ml_h: float, **continuous: Any) -> DrugLibrary:
    """The shipped library with every context at this pump resolution and 1, 2, 5 and 10 mg/mL."""
    contexts: dict[str, Any] = {
        cid: {
            "pump_resolution_ml_h": {"value": resolution_ml_h, "source": "test", "status": "local-policy"},
            "concentrations_mg_ml": {
                "values": list(CONCENTRATIONS),
                "source": "test",
                "status": "local-policy",
            },
        }
        for cid in LIB.contexts
    }
    contexts["continuous"] |= continuous
    return apply_override(LIB, {"context": contexts}, "test override")


LIBRARIES = {r: _library(r) for r in RESOLUTIONS}


def test_programmed_rate_rounds_down_to_the_pump() -> None:
    assert pump.programmable_pump_ml_h(15.05, 0.1) == 15.0
    assert pump.programmable_pump_ml_h(15.099, 0.1) == 15.0
    assert pump.programmable_pump_ml_h(0.35 * 70, 0.1) == 24.5  # float noise is not a step down
    assert pump.programmable_pump_ml_h(15.05, 0.01) == 15.05
    assert pump.programmable_pump_ml_h(15.9, 1.0) == 15.0
    assert pump.pump_ml_h_text(15.0, 0.1) == "15.0"
    with pytest.raises(InputError, match="resolution") as err:
        pump.programmable_pump_ml_h(0.05, 0.1)
    assert err.value.field == "pump_ml_h"
    for bad in (0.0, -0.1, 0.1234, 11.0, math.nan):
        with pytest.raises(InputError) as err:
            pump.require_resolution(bad)
        assert err.value.field == "pump_resolution_ml_h"


def test_inpatient_titrated_at_30_1_kg_programs_what_was_checked() -> None:
    # Seen: 0.5 mg/kg/h x 30.1 kg = 15.05 mg/h printed as 15.1 mL/h, above the hard limit.
    # With the soft maximum raised to the hard one, the planned top is that hard limit, programmed down.
    library = _library(
        0.1, rate_mg_kg_h={"soft_max": {"value": 0.5, "source": "t", "status": "local-policy"}}
    )
    p = build_plan(PROTOCOLS["inpatient-5day-titrated"], weight_kg=30.1, library=library, predict=False)
    top = p.sessions[0].segments[-1]
    assert top.pump_ml_h == 15.0 and top.rate_mg_h == 15.0
    assert top.rate_mg_kg_h <= 0.5
    per_kg = [c for c in p.sessions[0].checks if c.quantity == "rate_mg_kg_h"]
    assert max(c.value for c in per_kg) == pytest.approx(
        15.0 / 30.1
    )  # the checked value is the programmed one
    assert p.to_json_dict()["pump_resolution_ml_h"] == 0.1


def test_shipped_library_names_a_resolution_a_clinic_may_change() -> None:
    for ctx in LIB.contexts.values():
        assert ctx.pump_resolution.value == 0.1 and ctx.pump_resolution.status.value == "local-policy"
    assert _library(0.01).context("outpatient").pump_resolution.value == 0.01
    for bad in (0, 0.1234, "fast"):
        entry = {"pump_resolution_ml_h": {"value": bad, "source": "t", "status": "local-policy"}}
        with pytest.raises(DataFileError, match="pump_resolution_ml_h"):
            apply_override(LIB, {"context": {"outpatient": entry}}, "clinic.toml")


def test_dose_response_minimum_is_information_not_a_breach() -> None:
    note = dose_response_note(LIB, "outpatient", total_mg=75, duration_min=180)
    assert note is not None and "80 mg" in note and "Cohen" in note and "not a limit" in note
    assert dose_response_note(LIB, "outpatient", total_mg=80, duration_min=150) is None
    assert dose_response_note(LIB, "outpatient", total_mg=100, duration_min=120) is not None  # not > 2 h
    assert dose_response_note(LIB, "continuous", total_mg=10, duration_min=60) is None
    plan = build_plan(PROTOCOLS["cleveland2025"], weight_kg=70, library=LIB, predict=False)
    assert plan.soft_breaches == () and all(s.information for s in plan.sessions)
    assert plan.to_json_dict()["sessions"][0]["information"] == plan.sessions[0].information


def test_a_clinic_may_change_only_a_local_policy_dose_response_minimum() -> None:
    entry = {
        "total_mg": {"value": 30.0, "source": "Clinic pain team 2026", "status": "local-policy"},
        "over_min": {"value": 90.0, "source": "Clinic pain team 2026", "status": "local-policy"},
    }
    changed = apply_override(LIB, {"context": {"outpatient-s": {"dose_response_minimum": entry}}}, "c.toml")
    minimum = changed.context("outpatient-s").dose_response_minimum
    assert minimum is not None and minimum.total_mg.value == 30.0
    with pytest.raises(DataFileError, match="not a local-policy value"):  # Cohen 2018's 80 mg stays
        apply_override(LIB, {"context": {"outpatient": {"dose_response_minimum": entry}}}, "c.toml")


def _assert_programmed(p: DosePlan, resolution_ml_h: float) -> None:
    decimals = pump.resolution_decimals(resolution_ml_h)
    for s in p.sessions:
        checked = {round(c.value, 12) for c in s.checks if c.quantity == "rate_mg_h"}
        for seg in s.segments + s.min_path_segments:
            steps = seg.pump_ml_h / resolution_ml_h
            assert abs(steps - round(steps)) < 1e-6, "a rate the pump cannot be set to"
            assert seg.pump_ml_h == round(seg.pump_ml_h, decimals)
            assert float(pump.pump_ml_h_text(seg.pump_ml_h, resolution_ml_h)) == seg.pump_ml_h
            assert seg.rate_mg_h == pytest.approx(seg.pump_ml_h * p.concentration_mg_ml, rel=1e-12)
            assert round(seg.rate_mg_h, 12) in checked  # the programmed rate is the one checked
    assert all(c.verdict != "hard" for c in p.checks)


@settings(max_examples=150, deadline=None)
@given(
    protocol_id=st.sampled_from(sorted(PROTOCOLS)),
    concentration=st.sampled_from(CONCENTRATIONS),
    resolution=st.sampled_from(RESOLUTIONS),
    weight=st.floats(min_value=30, max_value=200),
)
def test_every_programmed_rate_is_settable_checked_and_below_the_computed_rate(
    protocol_id: str, concentration: float, resolution: float, weight: float
) -> None:
    library = LIBRARIES[resolution]
    try:
        p = build_plan(
            PROTOCOLS[protocol_id],
            weight_kg=weight,
            library=library,
            concentration_mg_ml=concentration,
            predict=False,
        )
    except HardLimitError:
        return
    except InputError as bad:  # e.g. 0.6 mL/h on a 1 mL/h pump: refused, never rounded to a stop
        assert bad.field == "pump_ml_h" and "below the pump's resolution" in bad.message
        return
    _assert_programmed(p, resolution)
    ctx = library.context(p.context)
    for s in p.sessions:
        for seg in s.segments + s.min_path_segments:
            for quantity, value in (("rate_mg_kg_h", seg.rate_mg_kg_h), ("rate_mg_h", seg.rate_mg_h)):
                hard = ctx.limit_set(quantity).hard_max
                assert hard is None or value <= hard.value * (1 + 1e-9)


@settings(max_examples=200, deadline=None)
@given(protocol_id=st.sampled_from(sorted(PROTOCOLS)), weight=st.floats(min_value=40, max_value=150))
def test_shipped_protocols_need_no_override_at_50_to_110_kg(protocol_id: str, weight: float) -> None:
    p = build_plan(PROTOCOLS[protocol_id], weight_kg=weight, library=LIB, predict=False)
    assert p.verdict != "hard"
    if 50 <= weight <= 110:
        assert p.soft_breaches == (), [c.message for c in p.soft_breaches]
    else:  # outside, only a rate maximum for a light or heavy patient may need a reason
        assert {c.quantity for c in p.soft_breaches} <= {"rate_mg_kg_h", "rate_mg_h"}


def test_a_tenfold_rate_is_still_a_breach() -> None:
    # A plan at the shipped limits needs no override, so a tenfold rate stands out as a hard breach.
    assert check_rate(LIB, "outpatient", rate_mg_h=525, weight_kg=70).verdict == "hard"  # 10 x 52.5 mg/h
    assert check_rate(LIB, "outpatient", rate_mg_h=5.25, weight_kg=300).verdict == "soft"  # a tenth, heavy
