"""Demo appointments: the remaining series of a few approved plans booked on the clinic's chairs."""

from __future__ import annotations

from sqlalchemy import select

from ketaclinic.errors import ConflictError
from ketaclinic.services.demo.context import DemoContext
from ketaclinic.services.scheduling.booking import BookSeriesIn, book_series
from ketaclinic.store.db import Database
from ketaclinic.store.tables.plans import DosePlanRow

DEMO_SERIES = 3  # how many approved plans get their remaining series booked


def seed(db: Database, context: DemoContext) -> None:
    """Book the remaining series of the first approved plans that still have sessions to give."""
    with db.read() as session:
        plan_ids = list(
            session.execute(
                select(DosePlanRow.id).where(DosePlanRow.status == "approved").order_by(DosePlanRow.id)
            ).scalars()
        )
    booked = 0
    for plan_id in plan_ids:
        if booked == DEMO_SERIES:
            return
        try:
            book_series(db, context.nurse, BookSeriesIn(plan_id=plan_id), context.config)
        except ConflictError:
            continue  # every session given or booked, or no chair free: the next plan
        booked += 1
