"""Registry weights: a doubtful weight needs a confirmation with reason; a wrong one is struck out."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ketaclinic.errors import ConflictError, NotFoundError, StaleVersionError
from ketaclinic.services.patients import measurements, records, registry
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent

_MRNS = itertools.count(1)


def _patient(db: Database, nurse: Actor, weight_kg: float = 63.3, mrn: str = "W-1") -> records.PatientOut:
    return registry.register_patient(
        db,
        nurse,
        registry.PatientCreate(
            mrn=mrn,
            family_name="Doe",
            given_name="Jo",
            birth_date=date(1980, 1, 1),
            sex="male",
            weight_kg=weight_kg,
        ),
        config=None,
    )


def _weigh(weight_kg: float, reason: str = "", on: date | None = None) -> measurements.MeasurementIn:
    return measurements.MeasurementIn(
        measured_on=on or date.today(), weight_kg=weight_kg, confirm_reason=reason
    )


def test_a_dropped_digit_is_a_409_on_weight_kg_and_writes_nothing(
    db: Database, staff: dict[str, Actor]
) -> None:
    patient = _patient(db, staff["nurse"])
    with pytest.raises(ConflictError) as refused:
        measurements.add_measurement(db, staff["nurse"], patient.id, _weigh(6.3), config=None)
    assert refused.value.field == "weight_kg"
    assert "63.3 kg" in refused.value.message
    assert "30-300 kg" in refused.value.message
    assert "confirm_reason" in refused.value.message
    assert registry.view_patient(db, staff["nurse"], patient.id).weight_kg == 63.3


def test_a_confirmed_change_is_recorded_with_its_reason(db: Database, staff: dict[str, Actor]) -> None:
    patient = _patient(db, staff["nurse"])
    out = measurements.add_measurement(
        db, staff["nurse"], patient.id, _weigh(52.0, "lost weight on chemotherapy"), config=None
    )
    assert out.weight_kg == 52.0
    assert out.measurements[-1].confirm_reason == "lost weight on chemotherapy"
    with db.transaction() as session:
        event = (
            session.execute(
                select(AuditEvent).where(AuditEvent.entity == "measurement").order_by(AuditEvent.seq.desc())
            )
            .scalars()
            .first()
        )
        assert event is not None
        assert event.reason == "lost weight on chemotherapy"


def test_an_ordinary_change_needs_no_reason(db: Database, staff: dict[str, Actor]) -> None:
    patient = _patient(db, staff["nurse"])
    out = measurements.add_measurement(db, staff["nurse"], patient.id, _weigh(66.0), config=None)
    assert out.weight_kg == 66.0
    assert out.measurements[-1].confirm_reason is None


def test_an_implausible_first_weight_needs_confirming(db: Database, staff: dict[str, Actor]) -> None:
    patient = registry.register_patient(
        db,
        staff["nurse"],
        registry.PatientCreate(
            mrn="W-2", family_name="Roe", given_name="Al", birth_date=date(1970, 1, 1), sex="male"
        ),
        config=None,
    )
    with pytest.raises(ConflictError, match="plausible range for age"):
        measurements.add_measurement(db, staff["nurse"], patient.id, _weigh(8.0), config=None)


def test_striking_out_puts_the_previous_weight_back_on_record(db: Database, staff: dict[str, Actor]) -> None:
    patient = _patient(db, staff["nurse"])
    wrong = measurements.add_measurement(
        db, staff["nurse"], patient.id, _weigh(6.3, "scale said so"), config=None
    )
    assert wrong.weight_kg == 6.3
    entered = wrong.measurements[-1]
    out = measurements.strike_out_measurement(
        db,
        staff["physician"],
        patient.id,
        entered.id,
        measurements.StrikeOutIn(version=1, reason="typo: 63.3 kg"),
    )
    assert out.weight_kg == 63.3
    struck = next(m for m in out.measurements if m.id == entered.id)
    assert (struck.weight_kg, struck.struck_out_by, struck.strike_reason) == (
        6.3,
        "physician",
        "typo: 63.3 kg",
    )
    with pytest.raises(StaleVersionError) as stale:
        measurements.strike_out_measurement(
            db, staff["nurse"], patient.id, entered.id, measurements.StrikeOutIn(version=1, reason="again")
        )
    assert [(c.field, c.value, c.changed_by) for c in stale.value.changes] == [
        ("struck_out", "typo: 63.3 kg", "physician")
    ]
    with pytest.raises(ConflictError) as twice:
        measurements.strike_out_measurement(
            db,
            staff["physician"],
            patient.id,
            entered.id,
            measurements.StrikeOutIn(version=2, reason="again"),
        )
    assert twice.value.field == "measurement_id"
    with pytest.raises(NotFoundError):
        measurements.strike_out_measurement(
            db,
            staff["physician"],
            patient.id,
            999_999,
            measurements.StrikeOutIn(version=1, reason="none such"),
        )
    with db.transaction() as session:
        actions = list(
            session.execute(
                select(AuditEvent.action).where(AuditEvent.entity == "measurement").order_by(AuditEvent.seq)
            ).scalars()
        )
    assert actions == ["create", "strike_out"]


def test_a_struck_out_weight_is_not_what_the_next_is_compared_with(
    db: Database, staff: dict[str, Actor]
) -> None:
    patient = _patient(db, staff["nurse"])
    wrong = measurements.add_measurement(
        db, staff["nurse"], patient.id, _weigh(6.3, "scale said so"), config=None
    )
    measurements.strike_out_measurement(
        db,
        staff["nurse"],
        patient.id,
        wrong.measurements[-1].id,
        measurements.StrikeOutIn(version=1, reason="typo"),
    )
    assert (
        measurements.add_measurement(db, staff["nurse"], patient.id, _weigh(64.0), config=None).weight_kg
        == 64.0
    )


def test_a_backdated_weight_is_compared_with_its_neighbour(db: Database, staff: dict[str, Actor]) -> None:
    patient = _patient(db, staff["nurse"])
    long_ago = date.today() - timedelta(days=400)
    with pytest.raises(ConflictError):
        measurements.add_measurement(db, staff["nurse"], patient.id, _weigh(90.0, on=long_ago), config=None)
    out = measurements.add_measurement(db, staff["nurse"], patient.id, _weigh(62.0, on=long_ago), config=None)
    assert out.weight_kg == 63.3


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(new=st.floats(min_value=30.0, max_value=300.0))
def test_unconfirmed_weights_are_taken_exactly_when_within_the_fraction(
    db: Database, staff: dict[str, Actor], new: float
) -> None:
    mrn = f"H-{next(_MRNS)}"
    patient = _patient(db, staff["nurse"], weight_kg=80.0, mrn=mrn)
    within = abs(new - 80.0) / 80.0 <= 0.10 + 1e-9
    if within:
        assert (
            measurements.add_measurement(db, staff["nurse"], patient.id, _weigh(new), config=None).weight_kg
            == new
        )
    else:
        with pytest.raises(ConflictError):
            measurements.add_measurement(db, staff["nurse"], patient.id, _weigh(new), config=None)
        assert registry.view_patient(db, staff["nurse"], patient.id).weight_kg == 80.0


def test_registering_with_a_weight_implausible_for_the_age_needs_a_confirmation(
    db: Database, staff: dict[str, Actor]
) -> None:
    new = {
        "mrn": "W-R",
        "family_name": "Doe",
        "given_name": "Jo",
        "birth_date": date(1980, 1, 1),
        "sex": "male",
    }
    with pytest.raises(ConflictError) as refused:
        registry.register_patient(
            db, staff["nurse"], registry.PatientCreate(**new, weight_kg=6.3), config=None
        )
    assert refused.value.field == "weight_kg" and "weight_confirm_reason" in refused.value.message
    out = registry.register_patient(
        db,
        staff["nurse"],
        registry.PatientCreate(**new, weight_kg=6.3, weight_confirm_reason="cachexia, weighed twice"),
        config=None,
    )
    assert out.measurements[0].confirm_reason == "cachexia, weighed twice"
