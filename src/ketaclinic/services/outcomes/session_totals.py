"""What each course's sessions gave: sessions run, ketamine infused and bolused, adverse events by kind.

Each total is aggregated in SQL per (patient, plan) and handed over as plain tuples; NumPy then adds
the totals of the course's plan, or of every plan of the patient when the course names none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ketaclinic.store.tables.sessions import (
    InfusionSession,
    RateSegment,
    SessionAdverseEvent,
    SessionMedication,
)

NO_PLAN = -1  # a course that names no plan collects every plan of its patient
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def _hours(start: ColumnElement[Any], end: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 24.0
    return func.extract("epoch", end - start) / 3600.0


def _sessions_given(session: Session) -> list[Any]:
    s = InfusionSession
    return list(
        session.execute(
            select(s.patient_id, s.plan_id, func.count())
            .where(s.started_at.is_not(None), s.ended_at.is_not(None))
            .group_by(s.patient_id, s.plan_id)
        ).tuples()
    )


def _infused_mg(session: Session, dialect: str) -> list[Any]:
    """Ketamine infused: each rate segment's mg/h times its duration (until the next segment or the end)."""
    s, seg = InfusionSession, RateSegment
    following = func.lead(seg.started_at).over(partition_by=seg.session_id, order_by=(seg.started_at, seg.id))
    segments = select(
        seg.session_id, seg.rate_mg_h, seg.started_at.label("t0"), following.label("next_start")
    ).subquery("segments")
    spans = (
        select(
            s.patient_id,
            s.plan_id,
            segments.c.rate_mg_h,
            segments.c.t0,
            func.coalesce(segments.c.next_start, s.ended_at).label("t1"),
        )
        .join(s, s.id == segments.c.session_id)
        .subquery("spans")
    )
    return list(
        session.execute(
            select(
                spans.c.patient_id,
                spans.c.plan_id,
                func.sum(spans.c.rate_mg_h * _hours(spans.c.t0, spans.c.t1, dialect)),
            )
            .where(spans.c.t1.is_not(None))
            .group_by(spans.c.patient_id, spans.c.plan_id)
        ).tuples()
    )


def _bolus_mg(session: Session) -> list[Any]:
    s, med = InfusionSession, SessionMedication
    return list(
        session.execute(
            select(s.patient_id, s.plan_id, func.sum(med.dose))
            .join(s, s.id == med.session_id)
            .where(func.lower(med.medication) == "ketamine", med.unit == "mg")
            .group_by(s.patient_id, s.plan_id)
        ).tuples()
    )


def _adverse_events(session: Session) -> list[Any]:
    s, ae = InfusionSession, SessionAdverseEvent
    return list(
        session.execute(
            select(s.patient_id, s.plan_id, ae.kind, func.count())
            .join(s, s.id == ae.session_id)
            .group_by(s.patient_id, s.plan_id, ae.kind)
        ).tuples()
    )


@dataclass(frozen=True, slots=True)
class _Courses:
    """The courses totals are added to: patients in ascending order, one course each."""

    patient_id: Ints
    plan_id: Ints  # NO_PLAN where the course names none

    def slots(
        self, patient_ids: Sequence[int], plan_ids: Sequence[int]
    ) -> tuple[Ints, npt.NDArray[np.bool_]]:
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

    def add(self, rows: list[Any]) -> tuple[Floats, npt.NDArray[np.bool_]]:
        """Each course's sum of the (patient, plan, value) rows that belong to it, and whether any did."""
        n = self.patient_id.size
        if not rows:
            return np.zeros(n), np.zeros(n, dtype=np.bool_)
        pid, plan, value = zip(*rows, strict=True)
        index, belongs = self.slots(pid, plan)
        values = np.asarray([0.0 if v is None else float(v) for v in value], dtype=np.float64)
        total = np.asarray(
            np.bincount(index[belongs], weights=values[belongs], minlength=n), dtype=np.float64
        )
        return total, np.bincount(index[belongs], minlength=n) > 0


@dataclass(frozen=True, slots=True)
class SessionTotals:
    """Per course, in the order given: sessions run, mg given (NaN where nothing was charted), events."""

    sessions_completed: Floats  # NaN: no session run
    total_dose_mg: Floats  # infused + bolus, rounded to 0.1 mg; NaN: no dose charted
    adverse_event_counts: dict[str, Ints]


def session_totals(
    session: Session, patient_ids: Sequence[int], plan_ids: Sequence[int | None]
) -> SessionTotals:
    """The totals of each course, given as its patient (ascending, one course each) and plan (or None)."""
    dialect = session.get_bind().dialect.name
    courses = _Courses(
        np.asarray(patient_ids, dtype=np.int64),
        np.asarray([NO_PLAN if p is None else p for p in plan_ids], dtype=np.int64),
    )
    given, ran = courses.add(_sessions_given(session))
    infused, any_infused = courses.add(_infused_mg(session, dialect))
    bolus, any_bolus = courses.add(_bolus_mg(session))
    charted = any_infused | any_bolus
    dose = np.full(courses.patient_id.size, np.nan)
    # Python's round (correctly rounded to 0.1), as a record's total has always been.
    dose[charted] = [round(mg, 1) for mg in (infused[charted] + bolus[charted]).tolist()]
    events = _adverse_events(session)
    counts: dict[str, Ints] = {}
    if events:
        pid, plan, kind, n = zip(*events, strict=True)
        index, belongs = courses.slots(pid, plan)
        kinds = np.asarray(kind, dtype=object)
        numbers = np.asarray(n, dtype=np.int64)
        for name in sorted(set(kind)):
            chosen = belongs & (kinds == name)
            counts[name] = np.bincount(
                index[chosen], weights=numbers[chosen], minlength=courses.patient_id.size
            ).astype(np.int64)
    return SessionTotals(
        sessions_completed=np.where(ran, given, np.nan),
        total_dose_mg=dose,
        adverse_event_counts=counts,
    )
