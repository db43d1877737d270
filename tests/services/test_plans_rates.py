"""Plans with the physician's choices and programmed pump rates, through the service on both backends."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from ketaclinic.errors import InputError
from ketaclinic.services.permissions import Actor
from ketaclinic.services.plans import contract
from ketaclinic.services.plans import lifecycle as plans
from ketaclinic.services.plans.records import list_plans
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from tests import factories

SERIES = "cohen2018-series"


def _patient(db: Database, staff: dict[str, Actor]) -> int:
    return factories.make_patient(db, staff["physician"], mrn="RS-1", sex="male", family_name="Series")


def test_chosen_series_is_stored_rechecked_on_approval_and_audited(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = _patient(db, staff)
    factories.make_treatable(db, staff, pid, SERIES)
    choices = {"dose_mg_kg": 0.8, "duration_min": 180, "sessions": 6}
    plan = plans.create_plan(
        db, staff["physician"], pid, plans.PlanCreate(protocol_id=SERIES, choices=choices), config=None
    )
    assert plan.soft_breaches == [] and plan.session_count == 6 and plan.inputs["choices"] == choices
    approved = plans.approve_plan(
        db, staff["physician"], plan.id, config=None
    )  # recomputed with the same choices
    assert approved.status == "approved"
    with db.transaction() as session:
        planned = contract.planned_session(session, plan.id, 6)
        # 0.8 mg/kg x 70 kg over 3 h = 18.67 mg/h: set as 18.6 mL/h, and that is the rate charted against
        assert planned.segments[0].pump_ml_h == 18.6 and planned.segments[0].rate_mg_h == 18.6
        create = session.scalars(select(AuditEvent).where(AuditEvent.action == "create")).all()
        assert any('"choices"' in e.changes_json for e in create)


def test_a_choice_outside_the_range_needs_a_reason_and_a_cosignature(
    db: Database, staff: dict[str, Actor]
) -> None:
    pid = _patient(db, staff)
    factories.make_treatable(db, staff, pid, SERIES)
    plan = plans.create_plan(
        db,
        staff["physician"],
        pid,
        plans.PlanCreate(protocol_id=SERIES, choices={"sessions": 8}),
        config=None,
    )
    (breach,) = plan.soft_breaches
    assert breach.quantity == "sessions" and breach.limit == 6
    plans.give_soft_reasons(
        db,
        staff["physician"],
        plan.id,
        plans.SoftReasonsIn(
            version=plan.version, reasons=[{"check": 0, "reason": "8 sessions agreed at the pain MDT"}]
        ),
    )
    assert plans.approve_plan(db, staff["physician"], plan.id, config=None).status == "awaiting_cosign"
    assert plans.cosign_plan(db, staff["nurse"], plan.id).status == "approved"


def test_bad_choices_store_nothing(db: Database, staff: dict[str, Actor]) -> None:
    pid = _patient(db, staff)
    with pytest.raises(InputError) as bad:
        plans.create_plan(
            db,
            staff["physician"],
            pid,
            plans.PlanCreate(protocol_id=SERIES, choices={"sessions": 0}),
            config=None,
        )
    assert bad.value.field == "choices.sessions"
    assert list_plans(db, staff["physician"], patient_id=pid) == []
    with db.transaction() as session:
        stored = session.scalars(select(AuditEvent).where(AuditEvent.entity == "dose_plan")).all()
        assert [json.loads(e.changes_json) for e in stored] == []
