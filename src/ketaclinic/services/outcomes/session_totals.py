"""What each course's sessions gave: sessions run, ketamine infused and bolused, adverse events by kind.

Each total is aggregated in SQL per (patient, plan) with two queries (read_session_rows) and handed
over as plain tuples; NumPy then adds the totals of the course's plan, or of every plan of the patient
when the course names none (session_totals).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, Float, Subquery, and_, case, func, literal, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ketaclinic.services.outcomes.facts_queries import for_aggregates
from ketaclinic.store.tables.sessions import (
    InfusionSession,
    RateSegment,
    SessionAdverseEvent,
    SessionMedication,
)

NO_PLAN = -1  # a course that names no plan collects every plan of its patient
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


def _hours(start: Any, end: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 24.0
    return func.date_part("epoch", end - start) / literal(3600.0, Float)  # double precision, as Python's


def _infused_per_session(dialect: str) -> Subquery:
    """Per session with rate segments: mg of every segment followed by another, and the last segment.

    Each segment runs at its mg/h until the next segment of its session; the last one until the
    session's end. The next segment is the next row of one window over all segments in session and
    time order (ix_session_rate_segments_spans' order): a window per session costs a partition each.
    """
    seg = RateSegment
    in_order = (seg.session_id, seg.started_at, seg.id)  # one window: both leads read the same rows
    spans = select(
        seg.session_id,
        seg.rate_mg_h,
        seg.started_at.label("t0"),
        func.lead(seg.started_at).over(order_by=in_order).label("next_start"),
        func.lead(seg.session_id).over(order_by=in_order).label("next_session"),
    ).subquery("spans")
    followed = spans.c.next_session == spans.c.session_id  # NULL (not followed) for the very last segment
    last = func.coalesce(followed, False).is_(False)
    mg = spans.c.rate_mg_h * _hours(spans.c.t0, spans.c.next_start, dialect)
    return (
        select(
            spans.c.session_id,
            func.sum(case((followed, mg))).label("inner_mg"),
            func.max(case((last, spans.c.rate_mg_h))).label("last_rate_mg_h"),
            func.max(case((last, spans.c.t0))).label("last_start"),
        )
        .group_by(spans.c.session_id)
        .subquery("infused")
    )


def _bolus_per_session() -> Subquery:
    med = SessionMedication
    return (
        select(med.session_id, func.sum(med.dose).label("mg"))
        .where(func.lower(med.medication) == "ketamine", med.unit == "mg")
        .group_by(med.session_id)
        .subquery("bolus")
    )


def _given(session: Session | Connection, dialect: str) -> list[Any]:
    """Per (patient, plan): sessions run, ketamine infused (NULL: no segment with an end) and bolused."""
    s, infused, bolus = InfusionSession, _infused_per_session(dialect), _bolus_per_session()
    ran = and_(s.started_at.is_not(None), s.ended_at.is_not(None))
    last_mg = case(
        (
            s.ended_at.is_not(None),
            infused.c.last_rate_mg_h * _hours(infused.c.last_start, s.ended_at, dialect),
        )
    )
    zero = literal(0.0, Float)
    session_mg = func.coalesce(infused.c.inner_mg, zero) + func.coalesce(last_mg, zero)
    spanned = or_(
        infused.c.inner_mg.is_not(None), and_(infused.c.session_id.is_not(None), s.ended_at.is_not(None))
    )
    return list(
        session.execute(
            select(
                s.patient_id,
                s.plan_id,
                func.count(case((ran, 1))),
                func.sum(case((spanned, session_mg))),
                func.sum(bolus.c.mg),
            )
            .outerjoin(infused, infused.c.session_id == s.id)
            .outerjoin(bolus, bolus.c.session_id == s.id)
            .group_by(s.patient_id, s.plan_id)
        )
    )


def _adverse_events(session: Session | Connection) -> list[Any]:
    s, ae = InfusionSession, SessionAdverseEvent
    return list(
        session.execute(
            select(s.patient_id, s.plan_id, ae.kind, func.count())
            .join(s, s.id == ae.session_id)
            .group_by(s.patient_id, s.plan_id, ae.kind)
        )
    )


@dataclass(frozen=True, slots=True)
class _Courses:
    """The courses totals are added to: patients in ascending order, one course each."""

    patient_id: Ints
    plan_id: Ints  # NO_PLAN where the course names none

    def slots(self, patient_ids: Sequence[int], plan_ids: Sequence[int]) -> tuple[Ints, Bools]:
        """For (patient, plan) totals: the index of the course each belongs to, and whether it belongs."""
        pid = np.asarray(patient_ids, dtype=np.int64)
        plan = np.asarray(plan_ids, dtype=np.int64)
        n = self.patient_id.size
        index = np.minimum(np.searchsorted(self.patient_id, pid), max(n - 1, 0))
        if n == 0:
            return index, np.zeros(pid.size, dtype=np.bool_)
        course_plan = self.plan_id[index]
        belongs = (self.patient_id[index] == pid) & ((course_plan == NO_PLAN) | (course_plan == plan))
        return index, belongs

    def add(self, index: Ints, belongs: Bools, values: Floats) -> tuple[Floats, Bools]:
        """Each course's sum of the values (NaN: none) that belong to it, and whether any did."""
        n = self.patient_id.size
        chosen = belongs & ~np.isnan(values)
        total = np.bincount(index[chosen], weights=values[chosen], minlength=n)
        return np.asarray(total, dtype=np.float64), np.bincount(index[chosen], minlength=n) > 0


def dose_total(mg: float) -> float:
    """A course's total mg as reported: to 0.1 mg (Python's round), from the sum taken to 1e-6 mg first.

    SQL leaves the order of a sum open and floating-point addition depends on it (in the last bits);
    charted rates, minutes and boluses often add up to exactly x.x5 mg, where those bits would decide
    the 0.1 mg. Rounding to 1e-6 mg first removes them, so every order gives the same total.
    """
    return round(round(mg, 6), 1)


@dataclass(frozen=True, slots=True)
class SessionRows:
    """What the session tables give per (patient, plan): the totals row, and adverse events by kind."""

    totals: list[Any]  # (patient_id, plan_id, sessions run, mg infused or None, mg bolused or None)
    events: list[Any]  # (patient_id, plan_id, kind, count)


def read_session_rows(connection: Session | Connection, dialect: str) -> SessionRows:
    """The two aggregated queries over the session tables, on `connection` (plain tuples)."""
    for_aggregates(connection, dialect)
    return SessionRows(_given(connection, dialect), _adverse_events(connection))


@dataclass(frozen=True, slots=True)
class SessionTotals:
    """Per course, in the order given: sessions run, mg given (NaN where nothing was charted), events."""

    sessions_completed: Floats  # NaN: no session run
    total_dose_mg: Floats  # infused + bolus, rounded to 0.1 mg; NaN: no dose charted
    adverse_event_counts: dict[str, Ints]


def session_totals(
    rows: SessionRows, patient_ids: Sequence[int], plan_ids: Sequence[int | None]
) -> SessionTotals:
    """The totals of each course, given as its patient (ascending, one course each) and plan (or None)."""
    courses = _Courses(
        np.asarray(patient_ids, dtype=np.int64),
        np.asarray([NO_PLAN if p is None else p for p in plan_ids], dtype=np.int64),
    )
    n = courses.patient_id.size
    columns: list[tuple[Any, ...]] = list(zip(*rows.totals, strict=True)) if rows.totals else [()] * 5
    index, belongs = courses.slots(columns[0], columns[1])
    ran_count = np.asarray(columns[2], dtype=np.float64)
    given, ran = courses.add(index, belongs, np.where(ran_count > 0, ran_count, np.nan))
    infused, any_infused = courses.add(index, belongs, np.asarray(columns[3], dtype=np.float64))
    bolus, any_bolus = courses.add(index, belongs, np.asarray(columns[4], dtype=np.float64))
    charted = any_infused | any_bolus
    dose = np.full(n, np.nan)
    dose[charted] = [dose_total(mg) for mg in (infused[charted] + bolus[charted]).tolist()]
    counts: dict[str, Ints] = {}
    if rows.events:
        pids, plans, kinds, numbers = zip(*rows.events, strict=True)
        index, belongs = courses.slots(pids, plans)
        kind = np.asarray(kinds, dtype=object)
        number = np.asarray(numbers, dtype=np.float64)
        for name in sorted(set(kinds)):
            chosen = belongs & (kind == name)
            counts[name] = np.bincount(index[chosen], weights=number[chosen], minlength=n).astype(np.int64)
    return SessionTotals(
        sessions_completed=np.where(ran, given, np.nan),
        total_dose_mg=dose,
        adverse_event_counts=counts,
    )
