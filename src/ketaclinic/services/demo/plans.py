"""Demo step: dose plans in every state, from drafts to co-signed approvals."""

from __future__ import annotations

from datetime import timedelta

from ketaclinic.errors import InputError
from ketaclinic.services import eligibility
from ketaclinic.services.demo.context import DemoContext
from ketaclinic.services.plans.lifecycle import (
    PlanCreate,
    SoftReasonsIn,
    approve_plan,
    cosign_plan,
    create_plan,
    give_soft_reasons,
)
from ketaclinic.store.db import Database

# ---------------------------------------------------------------- demo clinic


def seed(db: Database, context: DemoContext) -> None:
    """Approved plans for the eligible, consented demo patients (soft ones co-signed with reasons); drafts."""
    with db.transaction() as session:
        consented = eligibility.consented_protocols(session)
    physician, second, nurse = context.physician, context.second_physician, context.nurse
    for n, (patient_id, protocol_id) in enumerate(sorted(consented.items())):
        start = context.today - timedelta(days=context.rng.randint(0, 40)) if n % 3 else context.today
        try:
            plan = create_plan(
                db,
                physician,
                patient_id,
                PlanCreate(protocol_id=protocol_id, start_date=start),
                config=context.config,
            )
        except InputError:
            continue  # a demo patient outside the library for this protocol: no plan
        if plan.soft_breaches:
            give_soft_reasons(
                db,
                physician,
                plan.id,
                SoftReasonsIn(
                    version=plan.version,
                    reasons=[
                        {
                            "check": b.index,
                            "reason": "Per protocol; reviewed with the pain team (synthetic demo)",
                        }
                        for b in plan.soft_breaches
                    ],
                ),
            )
        approve_plan(db, physician, plan.id, config=context.config)
        if plan.soft_breaches:
            cosign_plan(db, nurse if n % 2 else second, plan.id)
    drafts = [pid for pid in context.patient_ids if pid not in consented][:3]
    for patient_id, protocol_id in zip(
        drafts, ("cohen2018-test", "valle2024", "schwartzman2009"), strict=False
    ):
        try:
            create_plan(
                db,
                physician,
                patient_id,
                PlanCreate(protocol_id=protocol_id, start_date=context.today),
                config=context.config,
            )
        except InputError:
            continue
