"""Domain objects for tests, built only through the services (never by SQL), so every gate is passed.

- `make_patient`: a registered patient.
- `make_treatable`: a signed eligible screening and a signed consent to a protocol.
- `treatable_patient`: both of the above.
- `draft_plan`: a treatable patient's plan, as created (draft).
- `approve`: approve a draft through the plan service, with soft-override reasons and the
  second clinician's co-signature when the plan needs them.
- `approved_plan`: all of the above.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

from ketaclinic.screening.consent import current_consent_template
from ketaclinic.services.patients import registry
from ketaclinic.services.patients.records import load_patient
from ketaclinic.services.permissions import Actor
from ketaclinic.services.plans import lifecycle as plans
from ketaclinic.services.plans import records as plan_records
from ketaclinic.services.screening import consent as consent_service
from ketaclinic.services.screening import screenings as screening_service
from ketaclinic.store.db import Database
from tests.screening.screening_samples import eligible_tn

Staff = Mapping[str, Actor]
DEFAULT_PROTOCOL = "schwartzman2009"
SOFT_REASON = "reviewed with the patient: the protocol's published regimen"


def make_patient(
    db: Database,
    actor: Actor,
    *,
    mrn: str = "F-1",
    weight_kg: float | None = 70.0,
    sex: str = "female",
    diagnoses: tuple[str, ...] = ("G50.0",),
    family_name: str = "Chart",
    given_name: str = "Test",
    birth_date: date = date(1970, 1, 2),
    height_cm: float | None = 170,
) -> int:
    """A registered patient; their id."""
    return registry.register_patient(
        db,
        actor,
        registry.PatientCreate(
            mrn=mrn,
            family_name=family_name,
            given_name=given_name,
            birth_date=birth_date,
            sex=sex,
            weight_kg=weight_kg,
            height_cm=height_cm,
            diagnoses=list(diagnoses),
        ),
        config=None,
    ).id


def make_treatable(
    db: Database, staff: Staff, patient_id: int, protocol_id: str, config: Path | None = None
) -> None:
    """A signed eligible screening and a signed consent to the protocol, through the screening services."""
    physician = staff["physician"]
    created = screening_service.create_screening(
        db, physician, patient_id, screening_service.ScreeningIn(intake=eligible_tn())
    )
    screening_service.sign_screening(
        db, physician, created.id, screening_service.SignIn(version=created.version)
    )
    template = current_consent_template()
    with db.transaction() as session:  # read without auditing a view the test did not make
        patient = load_patient(session, patient_id)
        signature = f"{patient.given_name} {patient.family_name}"
    consent_service.record_consent(
        db,
        physician,
        patient_id,
        consent_service.ConsentIn(
            protocol_id=protocol_id,
            risks=[consent_service.RiskDiscussed(code=r.code, discussed=True) for r in template.risks],
            alternatives=[template.alternatives[0].code],
            patient_signature=signature,
            witness="Nurse Witness",
        ),
        config=config,
    )


def treatable_patient(
    db: Database,
    staff: Staff,
    *,
    mrn: str = "F-1",
    protocol_id: str = DEFAULT_PROTOCOL,
    weight_kg: float | None = 70.0,
    sex: str = "female",
    config: Path | None = None,
) -> int:
    """A patient who may be treated under the protocol (signed screening and consent); their id."""
    patient_id = make_patient(db, staff["nurse"], mrn=mrn, weight_kg=weight_kg, sex=sex)
    make_treatable(db, staff, patient_id, protocol_id, config)
    return patient_id


def draft_plan(
    db: Database,
    staff: Staff,
    *,
    mrn: str = "F-1",
    protocol_id: str = DEFAULT_PROTOCOL,
    weight_kg: float = 70.0,
    sex: str = "female",
) -> plan_records.PlanOut:
    """A treatable patient's plan as created: a draft."""
    patient_id = treatable_patient(db, staff, mrn=mrn, protocol_id=protocol_id, weight_kg=weight_kg, sex=sex)
    return plans.create_plan(
        db, staff["physician"], patient_id, plans.PlanCreate(protocol_id=protocol_id), config=None
    )


def approve(db: Database, staff: Staff, plan: plan_records.PlanOut) -> plan_records.PlanOut:
    """Approve a draft as `physician`; soft breaches get a reason and `physician2`'s co-signature."""
    if plan.soft_breaches:
        reasons = [plans.SoftReasonIn(check=b.index, reason=SOFT_REASON) for b in plan.soft_breaches]
        plans.give_soft_reasons(
            db, staff["physician"], plan.id, plans.SoftReasonsIn(version=plan.version, reasons=reasons)
        )
    approved = plans.approve_plan(db, staff["physician"], plan.id, config=None)
    if approved.status == "awaiting_cosign":
        approved = plans.cosign_plan(db, staff["physician2"], plan.id)
    assert approved.status == "approved", approved.status
    return approved


def approved_plan(
    db: Database,
    staff: Staff,
    *,
    mrn: str = "F-1",
    protocol_id: str = DEFAULT_PROTOCOL,
    weight_kg: float = 70.0,
    sex: str = "female",
) -> int:
    """A treatable patient with an approved plan (co-signed when it needs to be); the plan's id."""
    plan = draft_plan(db, staff, mrn=mrn, protocol_id=protocol_id, weight_kg=weight_kg, sex=sex)
    return approve(db, staff, plan).id
