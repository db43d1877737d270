"""Demo clinic: charted past sessions of the approved demo plans and one running today (synthetic)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from ketaclinic.monitoring import AlertAction
from ketaclinic.services.demo import ledger
from ketaclinic.services.demo.context import DemoContext
from ketaclinic.services.permissions import Actor
from ketaclinic.services.plans.contract import planned_session
from ketaclinic.services.sessions import alerts
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.services.sessions.events import (
    AdverseEventIn,
    MedicationIn,
    chart_adverse_event,
    chart_medication,
)
from ketaclinic.services.sessions.flowsheet import chart_observation
from ketaclinic.services.sessions.infusion_rates import RateIn
from ketaclinic.services.sessions.lifecycle import CheckInIn, EndIn, check_in, end_infusion, start
from ketaclinic.services.sessions.signing import DischargeIn, discharge, sign
from ketaclinic.store.db import Database
from ketaclinic.store.tables.plans import DosePlanRow
from ketaclinic.store.tables.sessions import SessionAlert

PAST_SESSIONS_PER_PLAN = 2
MAX_CHARTED_PLANS = 6  # keeps the whole demo fast
OBS_EVERY_MIN = 15
RECOVERY_MIN = 30
ANSWERS = {"able_to_walk": True, "escort_present": True}


def _plans(db: Database) -> list[tuple[int, int]]:
    """(plan id, session count) of approved outpatient demo plans."""
    with db.transaction() as session:
        rows = session.execute(
            select(DosePlanRow.id, DosePlanRow.session_count).where(DosePlanRow.status == "approved")
        ).all()
        out = []
        for plan_id, count in rows:
            first = planned_session(session, plan_id, 1)
            if first.cadence == "outpatient":
                out.append((plan_id, count))
        return out


def _reading(context: DemoContext, base: Mapping[str, float], t: float, *, abnormal: bool) -> dict[str, Any]:
    rng = context.rng
    rise = 1.0 + (0.5 if abnormal else 0.08) * min(t, 60) / 60
    values: dict[str, Any] = {
        "sbp": round(base["sbp"] * rise + rng.gauss(0, 3)),
        "dbp": round(base["dbp"] * (1 + (rise - 1) * 0.6) + rng.gauss(0, 2)),
        "hr": round(base["hr"] * (1 + (rise - 1) * 0.5) + rng.gauss(0, 3)),
        "spo2": min(100, round(97 + rng.random() * 2)),
        "rr": 14 + rng.randint(-2, 2),
        "rass": 0 if t < 20 or rng.random() < 0.6 else -1,
        "dissociation": 0 if t < 15 else rng.randint(0, 2),
        "nrs": max(0, int(base["nrs"]) - int(t // 45)),
    }
    return values


def _chart_session(
    db: Database, context: DemoContext, nurse: Actor, plan_id: int, number: int, day: date, *, running: bool
) -> None:
    rng = context.rng
    made = create_session(db, nurse, SessionCreate(plan_id=plan_id, session_number=number))
    with db.transaction() as session:
        planned = planned_session(session, plan_id, number)
    end_min = max(s.end_min for s in planned.segments)
    now = datetime.now(UTC)
    t0 = now - timedelta(minutes=40) if running else datetime.combine(day, time(9, 0), tzinfo=UTC)
    base = {
        "sbp": rng.randint(112, 138),
        "dbp": rng.randint(68, 86),
        "hr": rng.randint(62, 84),
        "nrs": rng.randint(6, 9),
    }
    premeds = [{"medication": "ondansetron", "dose": 4, "route": "PO"}] if rng.random() < 0.5 else []
    facts = CheckInIn.model_validate(
        {
            "weight_kg": planned.actual_weight_kg,
            "spo2": 98,
            "premedication": premeds,
            "premedication_none": not premeds,
            "pregnancy_check": "declared_not_pregnant",
            "at": t0 - timedelta(minutes=20),
        }
        | base
    )
    check_in(db, nurse, made.id, facts, config=context.config)
    ledger.prepare_bag(db, context, made.id, planned.total_mg)
    first = planned.segments[0]
    start(db, nurse, made.id, RateIn(pump_ml_h=round(first.pump_ml_h, 1), at=t0), config=context.config)
    abnormal = running or rng.random() < 0.35
    last_t = 40 if running else end_min + RECOVERY_MIN
    t = float(OBS_EVERY_MIN)
    ae_done = False
    while t <= last_t:
        at = t0 + timedelta(minutes=t)
        if not running and t > end_min and t - OBS_EVERY_MIN <= end_min:
            end_infusion(
                db,
                nurse,
                made.id,
                EndIn(at=t0 + timedelta(minutes=end_min)),
                stopped=False,
                config=context.config,
            )
        values = _reading(
            context,
            base,
            t if t <= end_min else max(0.0, end_min + 20 - t),
            abnormal=abnormal and t <= end_min,
        )
        if t > end_min:
            values.update(
                sbp=base["sbp"] + rng.randint(-4, 4),
                dbp=base["dbp"] + rng.randint(-3, 3),
                hr=base["hr"] + rng.randint(-4, 4),
                rass=0,
            )
        chart_observation(db, nurse, made.id, values | {"at": at.isoformat()}, config=context.config)
        if abnormal and not ae_done and t >= 30 and t <= end_min:
            ae_done = True
            ae = chart_adverse_event(
                db,
                nurse,
                made.id,
                AdverseEventIn(
                    kind="hypertension",
                    severity="mild",
                    onset_at=at,
                    action="rate reduced by a third",
                    outcome="BP back under 150/95 within 20 min",
                    note="synthetic demo",
                ),
            )
            chart_medication(
                db,
                nurse,
                made.id,
                MedicationIn(
                    purpose="rescue", medication="labetalol", dose=10, given_at=at, adverse_event_id=ae.id
                ),
                config=context.config,
            )
        t += OBS_EVERY_MIN
    with db.transaction() as session:
        open_ids = list(
            session.execute(
                select(SessionAlert.id).where(
                    SessionAlert.session_id == made.id, SessionAlert.state == "open"
                )
            ).scalars()
        )
    for alert_id in open_ids[: 1 if running else len(open_ids)]:
        alerts.acknowledge_alert(
            db, nurse, made.id, alert_id, alerts.AckIn(action=AlertAction.REDUCE_RATE, note="BP rechecked")
        )
        if not running:
            alerts.resolve_alert(
                db, nurse, made.id, alert_id, alerts.ResolveIn(resolution="settled on recheck")
            )
    if running:
        return
    discharge(
        db,
        nurse,
        made.id,
        DischargeIn(answers=ANSWERS, at=t0 + timedelta(minutes=last_t + 5)),
        config=context.config,
    )
    ledger.waste_rest(db, context, made.id)
    sign(db, nurse, made.id, config=context.config)


def seed(db: Database, context: DemoContext) -> None:
    """Signed past sessions of approved outpatient plans, each on its planned date, and one running today.

    Given on their planned dates, the demo sessions never need a reason for starting out of schedule.
    """
    running: tuple[int, int] | None = None
    for plan_id, count in _plans(db)[:MAX_CHARTED_PLANS]:
        with db.transaction() as session:
            days = [planned_session(session, plan_id, n).date for n in range(1, count + 1)]
        past = [n for n, day in enumerate(days, start=1) if day < context.today][:PAST_SESSIONS_PER_PLAN]
        for number in past:
            _chart_session(db, context, context.nurse, plan_id, number, days[number - 1], running=False)
        after = len(past) + 1
        if running is None and after <= count and days[after - 1] == context.today:
            running = (plan_id, after)
    if running is not None:
        _chart_session(db, context, context.nurse, running[0], running[1], context.today, running=True)
