"""The clinic's cohort from its own records: the facts of each patient's latest course, read by columns.

The per-patient quantities are aggregated in SQL (facts_queries, session_totals) with a fixed number of
queries; the cohort is built from the column arrays (Cohort.from_columns), never row by row.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ketaclinic.errors import InputError
from ketaclinic.outcomes import Cohort
from ketaclinic.screening.diagnoses import get_diagnosis
from ketaclinic.services.outcomes.facts_queries import (
    SCHEDULE_WEEKS,
    baseline_rows,
    course_rows,
    for_aggregates,
    newest_intake_nrs,
    people_with_latest_course,
)
from ketaclinic.services.outcomes.session_totals import SessionRows, read_session_rows, session_totals

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Texts = npt.NDArray[np.str_]


@dataclass(frozen=True, slots=True)
class CourseFacts:
    """What the responder definitions need about one patient's latest treatment course."""

    patient_id: int
    course_id: int
    pseudonym: str
    diagnosis: str
    pain_mechanism: str
    synthetic: bool
    baseline_nrs: float | None
    followup_nrs: float | None
    discontinued: str
    relief_weeks: float | None
    relief_ongoing: bool | None
    sessions_planned: int | None
    plan_id: int | None
    evaluable: bool

    @property
    def group(self) -> str:
        """The diagnosis group (screening.diagnoses)."""
        return get_diagnosis(self.diagnosis).group


@dataclass(frozen=True, slots=True)
class BaselineNrs:
    """The NRS a patient's later answers are compared with, and where it was recorded."""

    nrs: float
    recorded_in: str  # "screening intake" | "baseline questionnaire"


def screening_baselines(session: Session, patient_ids: Sequence[int]) -> dict[int, float]:
    """Baseline NRS from each patient's newest screening intake that records one."""
    found = newest_intake_nrs(_dialect(session), patient_ids)
    return {pid: float(nrs) for pid, nrs in session.execute(select(found.c.patient_id, found.c.nrs))}


def baselines(session: Session, patient_ids: Sequence[int]) -> dict[int, BaselineNrs]:
    """Each patient's baseline: the newest screening intake's NRS, else their latest course's first answer."""
    rows = baseline_rows(_dialect(session), people_with_latest_course(patient_ids), patient_ids)
    return {
        pid: BaselineNrs(float(nrs), "screening intake" if screened else "baseline questionnaire")
        for pid, _course, nrs, screened in session.execute(rows)
        if nrs is not None
    }


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


@dataclass(frozen=True, slots=True)
class CourseColumns:
    """The facts of every coded patient's latest course as columns, in patient order (NaN = missing)."""

    patient_id: Ints
    course_id: Ints
    pseudonym: Texts
    diagnosis: Texts
    pain_mechanism: Texts
    synthetic: Bools
    baseline_nrs: Floats
    followup_nrs: Floats
    discontinued: Texts
    relief_weeks: Floats
    relief_ongoing: Floats  # 1.0 still relieved at the last answer, 0.0 relief lost
    sessions_planned: Floats
    plan_id: list[int | None]
    evaluable: Bools


def _floats(values: Sequence[Any]) -> Floats:
    return np.asarray(values, dtype=np.float64)  # None becomes NaN


def _evaluable(
    discontinued: Texts,
    followup: Floats,
    series_end: Sequence[date | None],
    endpoint_weeks: Floats,
    today: date,
) -> Bools:
    """Evaluable: discontinued, or an endpoint answer, or its endpoint (or the schedule's end) has passed."""
    ends = np.asarray(series_end, dtype="datetime64[D]")  # None becomes NaT
    weeks = np.where(np.isnan(endpoint_weeks) | (endpoint_weeks == 0), SCHEDULE_WEEKS, endpoint_weeks)
    due = ends + (weeks * 7).astype("timedelta64[D]")
    passed = ~np.isnat(ends) & (due < np.datetime64(today, "D"))
    return np.asarray((discontinued != "none") | ~np.isnan(followup) | passed, dtype=np.bool_)


# The columns course_rows selects, in order.
COURSE_COLUMNS = (
    "patient_id", "course_id", "pseudonym", "diagnosis", "pain_mechanism", "synthetic",
    "baseline_nrs", "endpoint_nrs", "discontinued", "lost_week", "last_week", "sessions_planned", "plan_id",
    "series_end", "endpoint_weeks",
)  # fmt: skip


def course_columns(session: Session, *, today: date | None = None) -> CourseColumns:
    """The facts of every coded patient's latest course, from one query (no per-patient queries)."""
    today = today or date.today()
    for_aggregates(session, _dialect(session))
    rows = session.connection().execute(course_rows(_dialect(session))).all()
    columns = zip(*rows, strict=True) if rows else [()] * len(COURSE_COLUMNS)
    col: dict[str, tuple[Any, ...]] = dict(zip(COURSE_COLUMNS, columns, strict=True))
    base, lost, last = _floats(col["baseline_nrs"]), _floats(col["lost_week"]), _floats(col["last_week"])
    # Relief as sustained_relief_weeks gives it: the first week lost, else the last week still relieved.
    relieved = (base > 0) & (base <= 10) & ~np.isnan(last)
    follow, reasons = _floats(col["endpoint_nrs"]), np.asarray(col["discontinued"], dtype=str)
    return CourseColumns(
        patient_id=np.asarray(col["patient_id"], dtype=np.int64),
        course_id=np.asarray(col["course_id"], dtype=np.int64),
        pseudonym=np.asarray(col["pseudonym"], dtype=str),
        diagnosis=np.asarray(col["diagnosis"], dtype=str),
        pain_mechanism=np.asarray(col["pain_mechanism"], dtype=str),
        synthetic=np.asarray(col["synthetic"], dtype=np.bool_),
        baseline_nrs=base,
        followup_nrs=follow,
        discontinued=reasons,
        relief_weeks=np.where(relieved, np.where(np.isnan(lost), last, lost), np.nan),
        relief_ongoing=np.where(relieved, np.isnan(lost).astype(np.float64), np.nan),
        sessions_planned=_floats(col["sessions_planned"]),
        plan_id=list(col["plan_id"]),
        evaluable=_evaluable(reasons, follow, col["series_end"], _floats(col["endpoint_weeks"]), today),
    )


def _optional(value: float) -> float | None:
    return None if math.isnan(value) else value


def course_facts(session: Session, *, today: date | None = None) -> list[CourseFacts]:
    """Facts of every coded patient's latest course, one object each (see course_columns)."""
    c = course_columns(session, today=today)
    return [
        CourseFacts(
            patient_id=int(c.patient_id[i]),
            course_id=int(c.course_id[i]),
            pseudonym=str(c.pseudonym[i]),
            diagnosis=str(c.diagnosis[i]),
            pain_mechanism=str(c.pain_mechanism[i]),
            synthetic=bool(c.synthetic[i]),
            baseline_nrs=_optional(float(c.baseline_nrs[i])),
            followup_nrs=_optional(float(c.followup_nrs[i])),
            discontinued=str(c.discontinued[i]),
            relief_weeks=_optional(float(c.relief_weeks[i])),
            relief_ongoing=None if math.isnan(c.relief_ongoing[i]) else bool(c.relief_ongoing[i]),
            sessions_planned=None if math.isnan(c.sessions_planned[i]) else int(c.sessions_planned[i]),
            plan_id=c.plan_id[i],
            evaluable=bool(c.evaluable[i]),
        )
        for i in range(c.patient_id.size)
    ]


def _session_rows_alongside(session: Session) -> Callable[[], SessionRows]:
    """Start reading the session tables' totals; the call returned waits for them.

    On PostgreSQL they are read on a second connection while this session reads the course facts, so
    the server works on both at once (each query reads the committed state when it starts, as every
    query of this transaction does); on SQLite they are read afterwards in this session.
    """
    dialect = _dialect(session)
    if dialect != "postgresql":
        return lambda: read_session_rows(session, dialect)
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind

    def read() -> SessionRows:
        with engine.connect() as connection:
            try:
                return read_session_rows(connection, dialect)
            finally:
                connection.rollback()

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-totals")
    pending = pool.submit(read)
    pool.shutdown(wait=False)  # its one thread ends with the read
    return pending.result


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: the rows read make no cycles, yet every few hundred new
    objects it would walk all the rows read so far (a third of the reading time at 100,000 patients)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def clinic_cohort(session: Session, *, today: date | None = None) -> Cohort:
    """The clinic's own evaluable courses as an outcomes.Cohort, built by columns (InputError when none)."""
    with _collector_paused():
        return _clinic_cohort(session, today)


def _clinic_cohort(session: Session, today: date | None) -> Cohort:
    session_rows = _session_rows_alongside(session)
    c = course_columns(session, today=today)
    rows = session_rows()
    keep = np.flatnonzero(c.evaluable)
    if keep.size == 0:
        raise InputError("the clinic has no evaluable treatment courses yet", field="cohort")
    totals = session_totals(rows, c.patient_id[keep].tolist(), [c.plan_id[i] for i in keep])
    planned, completed = c.sessions_planned[keep], totals.sessions_completed
    # Extra sessions given beyond the plan still count as completed.
    planned = np.where(np.isnan(planned) | np.isnan(completed), planned, np.maximum(planned, completed))
    synthetic = bool(c.synthetic[keep].all())
    metadata: dict[str, Any] = {"synthetic": synthetic, "source": "clinic database", "title": "Clinic cohort"}
    if synthetic:
        metadata["note"] = "synthetic demo data"
    return Cohort.from_columns(
        patient_id=c.pseudonym[keep],
        diagnosis=c.diagnosis[keep],
        pain_mechanism=c.pain_mechanism[keep],
        baseline_nrs=c.baseline_nrs[keep],
        followup_nrs=c.followup_nrs[keep],
        discontinued=c.discontinued[keep],
        relief_weeks=c.relief_weeks[keep],
        relief_ongoing=c.relief_ongoing[keep],
        sessions_planned=planned,
        sessions_completed=completed,
        total_dose_mg=totals.total_dose_mg,
        adverse_event_counts=totals.adverse_event_counts,
        metadata=metadata,
        followup_without_baseline=True,
    )
