"""Record versions in the store: compare-and-set on every write, so of two writers who read one version
exactly one wins, on every backend."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ketaclinic.errors import StaleVersionError
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Patient, PatientDiagnosis
from ketaclinic.store.versioning import bump


def _patient(db: Database) -> int:
    with db.transaction() as session:
        row = Patient(
            mrn="V-1",
            pseudonym="PV1",
            family_name="Doe",
            given_name="Jane",
            birth_date=date(1970, 5, 1),
            sex="female",
            notes="",
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        assert row.version == 1
        return row.id


def _read(db: Database, patient_id: int) -> Patient:
    with db.transaction() as session:
        row = session.get(Patient, patient_id)
        assert row is not None
        return row


def test_a_new_record_is_version_1_and_each_write_moves_it_on_by_one(db: Database) -> None:
    patient_id = _patient(db)
    for expected in (2, 3):
        with db.transaction() as session:
            row = session.get(Patient, patient_id)
            assert row is not None
            row.notes = f"note {expected}"
        assert _read(db, patient_id).version == expected


def test_a_write_that_changes_nothing_keeps_the_version(db: Database) -> None:
    patient_id = _patient(db)
    with db.transaction() as session:
        row = session.get(Patient, patient_id)
        assert row is not None
        row.notes = row.notes
    assert _read(db, patient_id).version == 1


def test_a_bump_counts_a_change_of_child_rows_only(db: Database) -> None:
    patient_id = _patient(db)
    with db.transaction() as session:
        row = session.get(Patient, patient_id)
        assert row is not None
        row.diagnoses.append(PatientDiagnosis(code="G50.0", primary=True))
        bump(row)
        bump(row)  # once per flush, however often it is asked
    assert _read(db, patient_id).version == 2


def test_two_sessions_read_version_1_both_write_exactly_one_wins(db: Database) -> None:
    patient_id = _patient(db)
    # Both sessions hold the row as read at version 1 (the read transactions have ended; the objects stay).
    a_session = Session(db.engine, expire_on_commit=False)
    b_session = Session(db.engine, expire_on_commit=False)
    try:
        with a_session.begin():
            a = a_session.get(Patient, patient_id)
        with b_session.begin():
            b = b_session.get(Patient, patient_id)
        assert a is not None and b is not None and a.version == b.version == 1
        with a_session.begin():
            a.notes = "A's note"
        with pytest.raises(StaleDataError), b_session.begin():
            b.notes = "B's note"
    finally:
        a_session.close()
        b_session.close()
    stored = _read(db, patient_id)
    assert (stored.notes, stored.version) == ("A's note", 2)


def test_a_transaction_whose_compare_and_set_fails_answers_stale_version(db: Database) -> None:
    patient_id = _patient(db)
    held = _read(db, patient_id)  # read at version 1
    with db.transaction() as session:
        row = session.get(Patient, patient_id)
        assert row is not None
        row.notes = "the other writer"
    with pytest.raises(StaleVersionError) as stale, db.transaction() as session:
        mine = session.merge(held, load=False)  # the row as this writer read it: version 1
        mine.notes = "mine"
    assert stale.value.field == "version"
    assert _read(db, patient_id).notes == "the other writer"
