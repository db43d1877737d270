"""The synthetic demo clinic: logins and patients, then each capability's demo records, in order.

The steps are an explicit list: each later step builds on the records of the earlier ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from ketaclinic.services.demo import clinic, ledger, outcomes, plans, scheduling, screening, sessions
from ketaclinic.services.demo.clinic import DEMO_LOGINS
from ketaclinic.services.demo.context import DemoContext
from ketaclinic.settings import Settings
from ketaclinic.store.db import Database
from ketaclinic.store.tables.patients import Patient

__all__ = ["DEMO_LOGINS", "DemoContext", "is_seeded", "seed_demo"]

STEPS: tuple[Callable[[Database, DemoContext], None], ...] = (
    screening.seed,
    plans.seed,
    ledger.seed,
    sessions.seed,
    outcomes.seed,
    scheduling.seed,  # future appointments for a few approved plans
)


def is_seeded(db: Database) -> bool:
    """True when the demo clinic is already there."""
    with db.transaction() as session:
        return bool(
            session.execute(
                select(func.count()).select_from(Patient).where(Patient.synthetic.is_(True))
            ).scalar_one()
        )


def seed_demo(
    db: Database, *, config: Settings | Path | None, patient_count: int = 28, seed: int = 20240101
) -> DemoContext:
    """Create the synthetic clinic (idempotent: does nothing to an already seeded database)."""
    actors = clinic.ensure_logins(db)
    context = DemoContext(
        rng=random.Random(seed),
        physician=actors["drsmith"],
        second_physician=actors["drjones"],
        nurse=actors["nurse"],
        researcher=actors["researcher"],
        config=config,
    )
    if is_seeded(db):
        return context
    clinic.seed_patients(db, context, patient_count)
    for step in STEPS:
        step(db, context)
    return context
