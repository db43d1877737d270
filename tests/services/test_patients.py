"""The patient registry: validation, uniqueness, audited edits and views, de-identification."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from ketaclinic.errors import ConflictError, NotFoundError, PermissionDeniedError
from ketaclinic.services.patients import measurements, registry
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.tables.patients import Patient


def _new(**overrides: object) -> registry.PatientCreate:
    values: dict[str, object] = {
        "mrn": "MRN-1",
        "family_name": "Doe",
        "given_name": "Jane",
        "birth_date": "1970-05-01",
        "sex": "female",
        "weight_kg": 70,
        "height_cm": 165,
        "diagnoses": ["g50.0"],
        "pain_mechanism": "neuropathic",
        "pain_duration_months": 36,
        "prior_treatments": [{"name": "carbamazepine", "outcome": "failed"}],
    }
    values.update(overrides)
    return registry.PatientCreate.model_validate(values)


def _events(db: Database) -> list[AuditEvent]:
    with db.transaction() as session:
        return list(session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars())


def test_register_and_view(db: Database, staff: dict[str, Actor]) -> None:
    created = registry.register_patient(db, staff["nurse"], _new(), config=None)
    assert created.diagnoses[0].code == "G50.0"
    assert created.diagnoses[0].snomed == "31681005"
    assert created.weight_kg == 70
    seen = registry.view_patient(db, staff["physician"], created.id)
    assert seen.mrn == "MRN-1"
    actions = [(e.action, e.entity, e.actor) for e in _events(db) if e.entity == "patient"]
    assert actions == [("create", "patient", "nurse"), ("view", "patient", "physician")]


def test_duplicate_mrn_is_a_conflict_and_writes_nothing(db: Database, staff: dict[str, Actor]) -> None:
    registry.register_patient(db, staff["nurse"], _new(), config=None)
    before = len(_events(db))
    with pytest.raises(ConflictError) as conflict:
        registry.register_patient(db, staff["nurse"], _new(family_name="Other"), config=None)
    assert conflict.value.field == "mrn"
    assert len(_events(db)) == before
    with db.transaction() as session:
        assert len(session.execute(select(Patient)).all()) == 1


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("diagnoses", ["Z99.9"], "diagnoses"),
        ("weight_kg", 0, "weight_kg"),
        ("weight_kg", 401, "weight_kg"),
        ("birth_date", (date.today() + timedelta(days=1)).isoformat(), "birth_date"),
        ("sex", "unknown-value", "sex"),
        ("pain_mechanism", "psychogenic", "pain_mechanism"),
        ("mrn", "has space", "mrn"),
    ],
)
def test_bad_input_names_the_field(field: str, value: object, where: str) -> None:
    with pytest.raises(ValidationError) as error:
        _new(**{field: value})
    assert error.value.errors()[0]["loc"][0] == where


def test_missing_field_is_reported() -> None:
    with pytest.raises(ValidationError) as error:
        registry.PatientCreate.model_validate({"mrn": "A"})
    assert {e["loc"][0] for e in error.value.errors()} >= {"family_name", "given_name", "birth_date", "sex"}


def test_update_audits_old_new_and_reason(db: Database, staff: dict[str, Actor]) -> None:
    created = registry.register_patient(db, staff["nurse"], _new(), config=None)
    registry.update_patient(
        db,
        staff["physician"],
        created.id,
        registry.PatientUpdate(
            version=created.version, reason="typo in name", family_name="Dough", diagnoses=["G50.0", "G50.1"]
        ),
    )
    event = [e for e in _events(db) if e.action == "update"][-1]
    changes = json.loads(event.changes_json)
    assert changes["family_name"] == {"old": "Doe", "new": "Dough"}
    assert changes["diagnoses"] == {"old": ["G50.0"], "new": ["G50.0", "G50.1"]}
    assert event.reason == "typo in name"
    assert event.actor == "physician"


def test_update_needs_a_reason() -> None:
    with pytest.raises(ValidationError):
        registry.PatientUpdate.model_validate({"family_name": "X"})


def test_measurements_are_dated_history(db: Database, staff: dict[str, Actor]) -> None:
    created = registry.register_patient(db, staff["nurse"], _new(), config=None)
    updated = measurements.add_measurement(
        db,
        staff["nurse"],
        created.id,
        measurements.MeasurementIn(measured_on=date(2020, 1, 1), weight_kg=74),
        config=None,
    )
    assert [m.weight_kg for m in updated.measurements] == [74, 70]
    assert updated.weight_kg == 70


def test_researcher_sees_no_identities(db: Database, staff: dict[str, Actor]) -> None:
    registry.register_patient(db, staff["nurse"], _new(notes="lives at 1 Main St"), config=None)
    rows, total = registry.list_patients(db, staff["researcher"])
    assert total == 1
    dumped = json.dumps([r.model_dump(mode="json") for r in rows])
    for secret in ("Doe", "Jane", "MRN-1", "1970-05-01", "Main St"):
        assert secret not in dumped
    with pytest.raises(PermissionDeniedError):
        registry.view_patient(db, staff["researcher"], 1)


def test_search_by_name_and_mrn(db: Database, staff: dict[str, Actor]) -> None:
    registry.register_patient(db, staff["nurse"], _new(), config=None)
    registry.register_patient(db, staff["nurse"], _new(mrn="MRN-2", family_name="Smith"), config=None)
    assert registry.list_patients(db, staff["nurse"], query="smi")[1] == 1
    assert registry.list_patients(db, staff["nurse"], query="mrn-")[1] == 2
    assert registry.list_patients(db, staff["researcher"], query="smi")[1] == 0


def test_admin_cannot_see_patients(db: Database, staff: dict[str, Actor]) -> None:
    with pytest.raises(PermissionDeniedError):
        registry.list_patients(db, staff["admin"])


def test_unknown_patient(db: Database, staff: dict[str, Actor]) -> None:
    with pytest.raises(NotFoundError):
        registry.view_patient(db, staff["nurse"], 999)
