"""Reading the audit trail is audited; identifying values are masked for roles that may not see patients."""

from __future__ import annotations

import json

from sqlalchemy import select

from ketaclinic.services import audit as audit_service
from ketaclinic.services.permissions import IDENTIFYING_FIELDS, SYSTEM, Actor
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from tests.factories import make_patient


def test_the_admin_sees_changes_masked_and_the_reading_is_audited(
    db: Database, staff: dict[str, Actor]
) -> None:
    patient_id = make_patient(db, staff["nurse"], family_name="Zebedee", given_name="Quill", mrn="MRN-777")
    rows = audit_service.list_events(
        db, staff["admin"], entity="patient", entity_id=str(patient_id), limit=10
    )
    [created] = [r for r in rows if r.action == "create"]
    assert "Zebedee" not in created.changes_json and "MRN-777" not in created.changes_json
    assert "1970-01-02" not in created.changes_json
    changes = json.loads(created.changes_json)
    assert changes["family_name"] == {"old": None, "new": audit_service.MASK}
    assert changes["sex"]["new"] == "female"  # not identifying: shown
    with db.read() as session:
        [viewed] = session.execute(select(AuditEvent).where(AuditEvent.action == "audit_view")).scalars()
    assert (viewed.actor, viewed.entity) == ("admin", "audit")
    assert json.loads(viewed.changes_json)["filter"]["new"] == {
        "entity": "patient",
        "entity_id": str(patient_id),
        "limit": 10,
        "identities_shown": False,
    }


def test_an_actor_who_may_see_patients_sees_the_values(db: Database, staff: dict[str, Actor]) -> None:
    make_patient(db, staff["nurse"], family_name="Zebedee")
    rows = audit_service.list_events(db, SYSTEM, entity="patient")
    assert any("Zebedee" in r.changes_json for r in rows)


def test_masking_keeps_the_shape_of_nested_changes() -> None:
    raw = json.dumps(
        {"contact_email": {"old": None, "new": "a@b.org"}, "items": [{"given_name": "X"}], "mrn": None}
    )
    masked = json.loads(audit_service.mask_identities(raw))
    assert masked == {
        "contact_email": {"old": None, "new": audit_service.MASK},
        "items": [{"given_name": audit_service.MASK}],
        "mrn": None,
    }
    assert audit_service.mask_identities("not json") == audit_service.MASK
    assert {"mrn", "family_name", "given_name", "birth_date", "contact_phone"} <= IDENTIFYING_FIELDS
