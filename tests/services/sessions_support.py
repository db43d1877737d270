"""Shared set-up for the session tests: a patient with an approved dose plan and a session of it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import update

from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.services.sessions.lifecycle import CheckInIn, check_in
from ketaclinic.store.db import Database
from ketaclinic.store.tables.sessions import InfusionSession
from tests import factories

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
    staff: Mapping[str, Actor],
    *,
    mrn: str = "S-1",
    protocol_id: str = "schwartzman2009",
    weight_kg: float = 70.0,
    sex: str = "female",
) -> int:
    """A treatable patient and a plan approved through the plan service (co-signed when needed)."""
    return factories.approved_plan(db, staff, mrn=mrn, protocol_id=protocol_id, weight_kg=weight_kg, sex=sex)


# A test that starts an infusion hours ago starts it yesterday when run shortly after midnight,
# before the session's planned date: the reason the clinic would then have to give.
STARTED_YESTERDAY_MAYBE = "charted after the fact: the infusion started before midnight"


def checked_in_session(
    db: Database,
    staff: Mapping[str, Actor],
    *,
    mrn: str = "S-1",
    protocol_id: str = "schwartzman2009",
    weight_kg: float = 70.0,
    sex: str = "female",
) -> int:
    """A session of an approved plan, checked in with a normal baseline."""
    plan_id = approved_plan(db, staff, mrn=mrn, protocol_id=protocol_id, weight_kg=weight_kg, sex=sex)
    created = create_session(db, staff["nurse"], SessionCreate(plan_id=plan_id, session_number=1))
    check_in(db, staff["nurse"], created.id, CheckInIn.model_validate(CHECK_IN), config=None)
    return created.id


def given_today(db: Database, nurse: Actor, plan_id: int) -> None:
    """Session 1 booked through the service and marked given today (its charting has its own tests)."""
    created = create_session(db, nurse, SessionCreate(plan_id=plan_id, session_number=1))
    with db.transaction() as session:
        session.execute(
            update(InfusionSession)
            .where(InfusionSession.id == created.id)
            .values(scheduled_on=date.today(), started_at=datetime.now(UTC), state="completed")
        )


def clinic_ending_policy(config_dir: Path, **values: float | str) -> Path:
    """A clinic config directory whose session_ending.toml sets `values` (e.g. recovery_min=0)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    lines = [f'[{key}]\nvalue = {value!r}\nsource = "test clinic policy"\n' for key, value in values.items()]
    (config_dir / "session_ending.toml").write_text("\n".join(lines).replace("'", '"'), encoding="utf-8")
    return config_dir


def at_once(task: Callable[[], object], times: int) -> list[BaseException]:
    """Run `task` in `times` threads started together; the exceptions they raised."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            task()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
