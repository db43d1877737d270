"""`audit verify --records`: a row edited or inserted in SQL behind the application's back is named."""

from __future__ import annotations

from typing import Any

import pytest

from ketaclinic.services.audit_records import check_records
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions.flowsheet import chart_observation
from ketaclinic.services.sessions.infusion_rates import RateIn
from ketaclinic.services.sessions.lifecycle import start
from ketaclinic.store.db import Database
from tests.audit_support import behind_the_apps_back
from tests.services.sessions_support import checked_in_session


@pytest.fixture
def charted(db: Database, staff: dict[str, Actor]) -> dict[str, Any]:
    """A patient through screening, consent, an approved plan and a running, charted session."""
    session_id = checked_in_session(db, staff)
    start(db, staff["nurse"], session_id, RateIn(rate_mg_kg_h=0.35), config=None)
    reading = chart_observation(db, staff["nurse"], session_id, {"hr": 80, "spo2": 97}, config=None)
    return {"session_id": session_id, "reading_id": reading.id}


def test_records_written_through_the_app_all_match(db: Database, charted: dict[str, Any]) -> None:
    assert check_records(db) == []


@pytest.mark.parametrize(
    ("sql", "entity", "field"),
    [
        ("UPDATE patients SET family_name = 'Forged'", "patient", "family_name"),
        ("UPDATE patients SET birth_date = '1999-09-09'", "patient", "birth_date"),
        ("UPDATE screenings SET verdict = 'eligible_x'", "screening", "verdict"),
        ("UPDATE consents SET witness = 'Nobody'", "consent", "witness"),
        ("UPDATE dose_plans SET status = 'draft'", "dose_plan", "status"),
        ("UPDATE infusion_sessions SET state = 'scheduled'", "infusion_session", "state"),
        ('UPDATE session_observations SET values_json = \'{"hr": 40.0, "spo2": 97.0}\'', "reading", "hr"),
    ],
)
def test_a_record_edited_in_sql_is_named(
    db: Database, charted: dict[str, Any], sql: str, entity: str, field: str
) -> None:
    behind_the_apps_back(db, sql)
    named = {(m.entity, m.field) for m in check_records(db)}
    assert (entity, field) in named
    assert {e for e, _f in named} == {entity}, named


def test_a_record_inserted_in_sql_is_named(db: Database, charted: dict[str, Any]) -> None:
    behind_the_apps_back(
        db,
        "INSERT INTO patients (mrn, pseudonym, family_name, given_name, birth_date, sex, notes, synthetic,"
        " created_at) VALUES ('X-9', 'PXXXX9', 'Ghost', 'G', '1980-01-01', 'male', '', false, '2026-01-01')",
    )
    mismatches = check_records(db)
    assert [(m.entity, m.field) for m in mismatches] == [("patient", "record")]
    assert "no audit event" in str(mismatches[0])
