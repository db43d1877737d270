"""One range for weight and height: what the registry stores, plan creation and dosing accept."""

from __future__ import annotations

import contextlib
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.dosing import HardLimitError, build_plan, get_protocol, load_library
from ketaclinic.dosing.bounds import MAX_HEIGHT_CM, MAX_WEIGHT_KG, MIN_HEIGHT_CM, MIN_WEIGHT_KG
from ketaclinic.dosing.weight import devine_applies, dosing_weight
from ketaclinic.errors import InputError
from ketaclinic.services import eligibility
from ketaclinic.services.patients.measurements import MeasurementIn
from ketaclinic.services.patients.registry import PatientCreate, register_patient
from ketaclinic.services.permissions import Actor
from ketaclinic.services.pk import SimulateIn
from ketaclinic.services.plans import lifecycle as plans
from ketaclinic.store.db import Database

LIB = load_library()
PROTOCOL = get_protocol("cohen2018-test")
weights = st.floats(min_value=MIN_WEIGHT_KG, max_value=MAX_WEIGHT_KG)
heights = st.floats(min_value=MIN_HEIGHT_CM, max_value=MAX_HEIGHT_CM)
sexes = st.sampled_from(("female", "male"))


def _patient(weight_kg: float, height_cm: float, sex: str) -> PatientCreate:
    return PatientCreate(
        mrn="BB-1",
        family_name="Bound",
        given_name="Bea",
        birth_date=date(1970, 1, 1),
        sex=sex,
        weight_kg=weight_kg,
        weight_confirm_reason="the edge of the body bounds",
        height_cm=height_cm,
    )


@settings(max_examples=80, deadline=None)
@given(weight_kg=weights, height_cm=heights, sex=sexes)
def test_a_registry_value_is_accepted_by_every_schema_and_by_dosing(
    weight_kg: float, height_cm: float, sex: str
) -> None:
    _patient(weight_kg, height_cm, sex)
    MeasurementIn(weight_kg=weight_kg, height_cm=height_cm)
    plans.PlanCreate(protocol_id=PROTOCOL.id, weight_kg=weight_kg, height_cm=height_cm, sex=sex)
    assert dosing_weight(weight_kg, height_cm=height_cm, sex=sex).weight_kg == weight_kg
    with contextlib.suppress(HardLimitError):  # a dose the library refuses, never the weight or height
        build_plan(PROTOCOL, weight_kg=weight_kg, height_cm=height_cm, sex=sex, library=LIB, predict=False)
    if not devine_applies(height_cm, sex):
        with pytest.raises(InputError, match="Devine ideal-weight formula is valid for"):
            dosing_weight(weight_kg, kind="ideal", height_cm=height_cm, sex=sex)


def test_the_edges_are_the_same_everywhere() -> None:
    for model in (SimulateIn, PatientCreate, MeasurementIn, plans.PlanCreate):
        limits = [
            getattr(m, a)
            for m in model.model_fields["weight_kg"].metadata
            for a in ("ge", "le")
            if hasattr(m, a)
        ]
        assert limits == [MIN_WEIGHT_KG, MAX_WEIGHT_KG], model
    for weight_kg in (MIN_WEIGHT_KG, MAX_WEIGHT_KG):
        dosing_weight(weight_kg)
    for outside in (MIN_WEIGHT_KG - 0.01, MAX_WEIGHT_KG + 0.01):
        with pytest.raises(InputError):
            dosing_weight(outside)
    for height_cm in (MIN_HEIGHT_CM - 0.01, MAX_HEIGHT_CM + 0.01):
        with pytest.raises(InputError, match="outside"):
            dosing_weight(70, height_cm=height_cm, sex="female")


@pytest.mark.parametrize(
    ("weight_kg", "height_cm"),
    [(70, MIN_HEIGHT_CM), (70, 99.5), (MIN_WEIGHT_KG, 50), (MAX_WEIGHT_KG, MAX_HEIGHT_CM)],
)
def test_a_stored_height_and_weight_are_accepted_by_plan_creation(
    db: Database, staff: dict[str, Actor], monkeypatch: pytest.MonkeyPatch, weight_kg: float, height_cm: float
) -> None:
    monkeypatch.setattr(eligibility, "plan_prerequisites", lambda session, patient_id, protocol_id: [])
    pid = register_patient(db, staff["physician"], _patient(weight_kg, height_cm, "female"), config=None).id
    try:
        plan = plans.create_plan(
            db, staff["physician"], pid, plans.PlanCreate(protocol_id=PROTOCOL.id), config=None
        )
    except HardLimitError:
        return  # the library refuses the dose for this weight: a dosing answer, not a bounds one
    assert plan.inputs["weight_kg"] == weight_kg and plan.inputs["height_cm"] == height_cm
