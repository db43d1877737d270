"""Shared set-up for the session tests: a patient with an approved dose plan and a session of it."""

from __future__ import annotations

from datetime import date

from sqlalchemy import update

from ketaclinic.services import patients
from ketaclinic.services.permissions import Actor
from ketaclinic.services.plans import lifecycle as plans
from ketaclinic.services.sessions.lifecycle import CheckInIn, SessionCreate, check_in, create_session
from ketaclinic.store.db import Database
from ketaclinic.store.tables.plans import DosePlanRow

CHECK_IN = {
    "weight_kg": 70.0,
    "sbp": 128,
    "dbp": 78,
    "hr": 72,
    "spo2": 98,
    "nrs": 7,
    "premedication_none": True,
    "pregnancy_check": "negative_test",
}


def approved_plan(
    db: Database,
    staff: dict[str, Actor],
    *,
    mrn: str = "S-1",
    protocol_id: str = "schwartzman2009",
    weight_kg: float = 70.0,
    sex: str = "female",
) -> int:
    """A patient and an approved plan; approval is set directly (its prerequisites are the plans' tests)."""
    patient = patients.register_patient(
        db,
        staff["nurse"],
        patients.PatientCreate(
            mrn=mrn,
            family_name="Chart",
            given_name="Test",
            birth_date=date(1970, 1, 2),
            sex=sex,
            weight_kg=weight_kg,
            height_cm=170,
        ),
    )
    plan = plans.create_plan(db, staff["physician"], patient.id, plans.PlanCreate(protocol_id=protocol_id))
    with db.transaction() as session:
        session.execute(
            update(DosePlanRow)
            .where(DosePlanRow.id == plan.id)
            .values(status="approved", approved_by="physician")
        )
    return plan.id


def checked_in_session(db: Database, staff: dict[str, Actor], **kwargs: object) -> int:
    """A session of an approved plan, checked in with a normal baseline."""
    plan_id = approved_plan(db, staff, **kwargs)  # type: ignore[arg-type]
    created = create_session(db, staff["nurse"], SessionCreate(plan_id=plan_id, session_number=1))
    check_in(db, staff["nurse"], created.id, CheckInIn.model_validate(CHECK_IN))
    return created.id
