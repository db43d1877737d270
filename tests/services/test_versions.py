"""Edits that never overwrite each other (patient record): a stale version is refused, nothing is written,
and the refusal names each field changed since with its stored value, who changed it and when."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pydantic import ValidationError

from ketaclinic.errors import InputError, StaleVersionError
from ketaclinic.services.patients import registry
from ketaclinic.services.patients.records import PatientOut
from ketaclinic.services.permissions import Actor
from ketaclinic.store.audit import count_events
from ketaclinic.store.db import Database
from tests.audit_support import latest_event


def _patient(db: Database, actor: Actor) -> PatientOut:
    return registry.register_patient(
        db,
        actor,
        registry.PatientCreate.model_validate(
            {
                "mrn": "V-1",
                "family_name": "Doe",
                "given_name": "Jane",
                "birth_date": "1970-05-01",
                "sex": "female",
                "diagnoses": ["G50.0"],
                "notes": "no known allergies",
            }
        ),
        config=None,
    )


def _edit(version: int, **fields: Any) -> registry.PatientUpdate:
    return registry.PatientUpdate.model_validate({"version": version, "reason": "update", **fields})


def _audit_count(db: Database) -> int:
    with db.read() as session:
        return count_events(session)


def test_a_new_patient_is_version_1_and_an_edit_moves_it_on(db: Database, staff: dict[str, Actor]) -> None:
    created = _patient(db, staff["nurse"])
    assert created.version == 1
    edited = registry.update_patient(db, staff["physician"], created.id, _edit(1, notes="penicillin allergy"))
    assert edited.version == 2
    changes = latest_event(db, "patient")
    assert '"version":{"new":2,"old":1}' in changes.changes_json


def test_an_edit_that_changes_nothing_keeps_the_version(db: Database, staff: dict[str, Actor]) -> None:
    created = _patient(db, staff["nurse"])
    again = registry.update_patient(db, staff["nurse"], created.id, _edit(1, notes="no known allergies"))
    assert again.version == 1


def test_changing_only_the_diagnoses_moves_the_version(db: Database, staff: dict[str, Actor]) -> None:
    created = _patient(db, staff["nurse"])
    edited = registry.update_patient(db, staff["nurse"], created.id, _edit(1, diagnoses=["G50.0", "G50.1"]))
    assert edited.version == 2


def test_a_stale_edit_is_refused_names_what_changed_and_writes_nothing(
    db: Database, staff: dict[str, Actor]
) -> None:
    created = _patient(db, staff["nurse"])
    registry.update_patient(db, staff["physician"], created.id, _edit(1, notes="penicillin allergy"))
    registry.update_patient(db, staff["nurse"], created.id, _edit(2, given_name="Janet"))
    events = _audit_count(db)
    with pytest.raises(StaleVersionError) as stale:
        registry.update_patient(db, staff["nurse"], created.id, _edit(1, notes="latex allergy", sex="other"))
    error = stale.value
    assert (error.field, error.read_version, error.current_version) == ("version", 1, 3)
    changed = {c.field: c for c in error.changes}
    assert set(changed) == {"notes", "given_name"}
    assert (changed["notes"].value, changed["notes"].changed_by) == ("penicillin allergy", "physician")
    assert (changed["given_name"].value, changed["given_name"].changed_by) == ("Janet", "nurse")
    assert changed["notes"].changed_at is not None
    stored = registry.view_patient(db, staff["nurse"], created.id)
    assert (stored.notes, stored.sex, stored.version) == ("penicillin allergy", "female", 3)
    assert _audit_count(db) == events + 1  # only the view just now


def test_only_changes_after_the_version_read_are_named(db: Database, staff: dict[str, Actor]) -> None:
    created = _patient(db, staff["nurse"])
    registry.update_patient(db, staff["physician"], created.id, _edit(1, notes="penicillin allergy"))
    registry.update_patient(db, staff["nurse"], created.id, _edit(2, given_name="Janet"))
    with pytest.raises(StaleVersionError) as stale:
        registry.update_patient(db, staff["nurse"], created.id, _edit(2, notes="latex allergy"))
    assert [c.field for c in stale.value.changes] == ["given_name"]


def test_a_version_that_never_existed_is_bad_input(db: Database, staff: dict[str, Actor]) -> None:
    created = _patient(db, staff["nurse"])
    with pytest.raises(InputError) as bad:
        registry.update_patient(db, staff["nurse"], created.id, _edit(7, notes="x"))
    assert bad.value.field == "version"


def test_an_edit_without_a_version_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError) as missing:
        registry.PatientUpdate.model_validate({"reason": "r", "notes": "x"})
    assert [e["loc"] for e in missing.value.errors()] == [("version",)]


def test_two_concurrent_editors_of_version_1_exactly_one_wins(db: Database, staff: dict[str, Actor]) -> None:
    created = _patient(db, staff["nurse"])
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def edit(who: str) -> None:
        start.wait()
        try:
            registry.update_patient(db, staff[who], created.id, _edit(1, notes=f"{who}'s note"))
            outcomes[who] = "saved"
        except StaleVersionError:
            outcomes[who] = "stale"

    threads = [threading.Thread(target=edit, args=(who,)) for who in ("nurse", "physician")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["saved", "stale"]
    winner = next(who for who, outcome in outcomes.items() if outcome == "saved")
    stored = registry.view_patient(db, staff["nurse"], created.id)
    assert (stored.notes, stored.version) == (f"{winner}'s note", 2)
