"""Every editable record carries a version in its output, and every edit of one must name the version read."""

from __future__ import annotations

import pydantic
import pytest

from ketaclinic.services.outcomes import courses
from ketaclinic.services.patients import measurements, records, registry
from ketaclinic.services.plans import lifecycle as plans
from ketaclinic.services.plans import records as plan_records
from ketaclinic.services.scheduling import calendar as clinic_calendar
from ketaclinic.services.scheduling import changes as appointment_changes
from ketaclinic.services.scheduling import records as appointment_records
from ketaclinic.services.screening import screenings
from ketaclinic.store.base import Base
from ketaclinic.store.tables import load_all
from ketaclinic.store.versioning import Versioned

# (table, the API's output model(s) of that record, the inputs that edit it)
EDITABLE: list[tuple[str, tuple[type[pydantic.BaseModel], ...], tuple[type[pydantic.BaseModel], ...]]] = [
    ("patients", (records.PatientOut,), (registry.PatientUpdate,)),
    ("patient_measurements", (records.MeasurementOut,), (measurements.StrikeOutIn,)),
    ("screenings", (screenings.ScreeningOut,), (screenings.ScreeningUpdate,)),
    ("dose_plans", (plan_records.PlanSummary, plan_records.PlanOut), (plans.SoftReasonsIn,)),
    (
        "treatment_courses",
        (courses.CourseOut, courses.CourseDetail),
        (courses.SeriesEndIn, courses.DiscontinuationIn),
    ),
    (
        "appointments",
        (appointment_records.AppointmentOut,),
        (appointment_changes.MoveIn, appointment_changes.EndIn),
    ),
    ("clinic_calendar", (clinic_calendar.CalendarOut,), (clinic_calendar.CalendarIn,)),
]


def test_the_versioned_tables_are_exactly_the_editable_records() -> None:
    load_all()
    versioned = {
        str(mapper.persist_selectable.description)
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, Versioned)
    }
    assert versioned == {table for table, _out, _in in EDITABLE}


@pytest.mark.parametrize(("table", "outputs", "inputs"), EDITABLE, ids=[e[0] for e in EDITABLE])
def test_each_output_carries_the_version_and_each_edit_requires_it(
    table: str, outputs: tuple[type[pydantic.BaseModel], ...], inputs: tuple[type[pydantic.BaseModel], ...]
) -> None:
    for model in outputs:
        assert model.model_fields["version"].annotation is int, model.__name__
    for model in inputs:
        field = model.model_fields["version"]
        assert field.is_required(), model.__name__
        with pytest.raises(pydantic.ValidationError):
            model.model_validate({"version": 0})
