"""The benchmark's clinic (benchmarks/cohort_tables.py, loaded with COPY) reads as the per-patient rules say.

PostgreSQL only: the loader COPYs into the clinic's tables. It checks the loader (every row it writes
fits the schema) and the cohort's SQL on data shaped like a clinic's, with charted rates to 0.1 mg/h
and whole minutes (totals on x.x5 mg are common there).
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

from ketaclinic.services.outcomes.facts import clinic_cohort
from ketaclinic.store.db import Database
from tests.services.test_clinic_cohort_reference import assert_same_cohort, references

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_benchmark_clinic_equals_the_per_patient_reading(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the benchmark loads the clinic's tables with PostgreSQL's COPY")
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from cohort_tables import load_clinic
    finally:
        sys.path.remove(str(BENCHMARKS))
    raw = db.engine.raw_connection()
    try:
        loaded = load_clinic(raw.driver_connection, 150, 10, 20, seed=7)
    finally:
        raw.close()
    assert loaded["rows"]["patients"] == 150 and loaded["rows"]["infusion_sessions"] == 1500
    assert loaded["rows"]["session_observations"] == 150 * 20
    today = date.today()
    with db.transaction() as session:
        expected = [ref.record for ref in references(session, today) if ref.evaluable]
        cohort = clinic_cohort(session, today=today)
    assert cohort.n == len(expected) > 100
    assert_same_cohort(cohort, expected)
