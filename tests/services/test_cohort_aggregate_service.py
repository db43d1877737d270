"""The site's aggregate export from the clinic database: researchers may, nurses may not; audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from ketaclinic.errors import PermissionDeniedError
from ketaclinic.outcomes import read_cohort_csv
from ketaclinic.outcomes.aggregate_export import site_aggregate
from ketaclinic.outcomes.aggregate_pooling import pool_aggregates
from ketaclinic.services.outcomes import cohort as svc
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cohorts" / "valle2024_reconstructed.csv"


def test_researcher_exports_an_audited_aggregate(db: Database, staff: dict[str, Actor]) -> None:
    cohort = read_cohort_csv(FIXTURE)
    svc.import_cohort(db, staff["researcher"], cohort, name="valle")
    doc = svc.cohort_aggregate(db, staff["researcher"], site="Leuven", source="valle", min_cell=0)
    assert doc == json.loads(json.dumps(site_aggregate(cohort, site="Leuven", min_cell=0)))
    assert pool_aggregates([("leuven.json", doc)])["responders"] == 23
    with db.transaction() as session:
        event = session.execute(
            select(AuditEvent).where(AuditEvent.action == "export", AuditEvent.entity == "cohort")
        ).scalar_one()
        changes = json.loads(event.changes_json)
    assert changes["format"]["new"] == "aggregate" and changes["site"]["new"] == "Leuven"
    assert changes["count"]["new"] == 45 and changes["min_cell"]["new"] == 0
    assert changes["suppressed"]["new"] == 0


def test_a_nurse_may_not_export_aggregates(db: Database, staff: dict[str, Actor]) -> None:
    svc.import_cohort(db, staff["researcher"], read_cohort_csv(FIXTURE), name="valle")
    with pytest.raises(PermissionDeniedError):
        svc.cohort_aggregate(db, staff["nurse"], site="A", source="valle")
    with db.transaction() as session:
        assert session.execute(select(AuditEvent).where(AuditEvent.action == "export")).first() is None
