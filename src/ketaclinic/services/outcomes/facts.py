"""The clinic's cohort from its own records: one row of facts per treatment course."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ketaclinic.errors import InputError
from ketaclinic.outcomes import Cohort, CohortRecord, sustained_relief_weeks
from ketaclinic.outcomes.schedule import DEFAULT_OFFSETS_WEEKS
from ketaclinic.screening.diagnoses import get_diagnosis
from ketaclinic.store.tables.outcomes import ProResponse, TreatmentCourse
from ketaclinic.store.tables.patients import Patient, PatientDiagnosis
from ketaclinic.store.tables.screening import Screening
from ketaclinic.store.tables.sessions import (
    InfusionSession,
    RateSegment,
    SessionAdverseEvent,
    SessionMedication,
)


@dataclass(frozen=True, slots=True)
class CourseFacts:
    """What the responder definitions need about one patient's latest treatment course."""

    patient_id: int
    course_id: int
    pseudonym: str
    diagnosis: str
    pain_mechanism: str
    synthetic: bool
    sex: str
    birth_date: date
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


def _latest_courses(session: Session) -> dict[int, TreatmentCourse]:
    courses = session.execute(select(TreatmentCourse).order_by(TreatmentCourse.id)).scalars()
    return {c.patient_id: c for c in courses}  # later courses replace earlier ones


def _primary_diagnoses(session: Session, patient_ids: list[int]) -> dict[int, str]:
    rows = session.execute(
        select(PatientDiagnosis.patient_id, PatientDiagnosis.code)
        .where(PatientDiagnosis.patient_id.in_(patient_ids))
        .order_by(PatientDiagnosis.primary.desc(), PatientDiagnosis.id.desc())
    )
    out: dict[int, str] = {}
    for pid, code in rows:
        out.setdefault(pid, code)
    return out


def screening_baselines(session: Session, patient_ids: list[int]) -> dict[int, float]:
    """Baseline NRS from each patient's newest screening intake that records one."""
    rows = session.execute(
        select(Screening.patient_id, Screening.intake_json)
        .where(Screening.patient_id.in_(patient_ids))
        .order_by(Screening.id)
    )
    out: dict[int, float] = {}
    for pid, intake_json in rows:
        value = json.loads(intake_json).get("baseline_nrs")
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[pid] = float(value)
    return out


@dataclass(frozen=True, slots=True)
class BaselineNrs:
    """The NRS a patient's later answers are compared with, and where it was recorded."""

    nrs: float
    recorded_in: str  # "screening intake" | "baseline questionnaire"


def baselines(session: Session, latest_course: Mapping[int, int | None]) -> dict[int, BaselineNrs]:
    """Each patient's baseline: the newest screening intake's NRS, else their latest course's first answer."""
    screened = screening_baselines(session, list(latest_course))
    out = {pid: BaselineNrs(nrs, "screening intake") for pid, nrs in screened.items()}
    course_ids = [c for pid, c in latest_course.items() if c is not None and pid not in out]
    answers = session.execute(
        select(ProResponse.patient_id, ProResponse.pain_nrs)
        .where(
            ProResponse.course_id.in_(course_ids),
            ProResponse.timepoint == "baseline",
            ProResponse.pain_nrs.is_not(None),
        )
        .order_by(ProResponse.collected_at, ProResponse.id)
    )
    for pid, nrs in answers:
        if pid not in out and nrs is not None:
            out[pid] = BaselineNrs(nrs, "baseline questionnaire")
    return out


def _endpoint(course: TreatmentCourse, series: dict[int, float]) -> float | None:
    """The endpoint NRS: at the configured week, else the last follow-up within the schedule."""
    if course.endpoint_weeks is not None:
        return series.get(course.endpoint_weeks)
    within = [w for w in series if w <= max(DEFAULT_OFFSETS_WEEKS)]
    return series[max(within)] if within else None


def _relief(baseline: float | None, series: dict[int, float]) -> tuple[float | None, bool | None]:
    if baseline is None or not 0 < baseline <= 10 or not series:
        return None, None
    weeks = sorted(series)
    return sustained_relief_weeks(baseline, weeks, [series[w] for w in weeks])


def course_facts(session: Session, *, today: date | None = None) -> list[CourseFacts]:
    """Facts of every patient's latest course, from a fixed number of queries (no per-patient queries)."""
    today = today or date.today()
    courses = _latest_courses(session)
    if not courses:
        return []
    ids = sorted(courses)
    patients = {
        p.id: p
        for p in session.execute(
            select(
                Patient.id,
                Patient.pseudonym,
                Patient.pain_mechanism,
                Patient.synthetic,
                Patient.sex,
                Patient.birth_date,
            ).where(Patient.id.in_(ids))
        )
    }
    diagnoses = _primary_diagnoses(session, ids)
    baseline_of = baselines(session, {pid: courses[pid].id for pid in ids})
    course_ids = [c.id for c in courses.values()]
    series: dict[int, dict[int, float]] = defaultdict(dict)
    pros = session.execute(
        select(
            ProResponse.course_id, ProResponse.timepoint, ProResponse.weeks_after_series, ProResponse.pain_nrs
        )
        .where(ProResponse.course_id.in_(course_ids), ProResponse.pain_nrs.is_not(None))
        .order_by(ProResponse.collected_at, ProResponse.id)
    )
    for course_id, timepoint, week, nrs in pros:
        if course_id is None or nrs is None:
            continue  # excluded by the query; narrows the types
        if timepoint == "after_series" and week is not None:
            series[course_id][week] = nrs  # a repeated week keeps the newest answer
    horizon = timedelta(weeks=max(DEFAULT_OFFSETS_WEEKS))
    out = []
    for pid in ids:
        course, patient = courses[pid], patients[pid]
        code = diagnoses.get(pid)
        if code is None or patient.pain_mechanism is None:
            continue  # an uncoded patient cannot enter a cohort analysed by diagnosis and mechanism
        found = baseline_of.get(pid)
        baseline = found.nrs if found is not None else None
        weeks = series.get(course.id, {})
        followup = _endpoint(course, weeks)
        relief_weeks, ongoing = _relief(baseline, weeks)
        endpoint_due = None
        if course.series_end is not None:
            endpoint_due = course.series_end + (
                timedelta(weeks=course.endpoint_weeks) if course.endpoint_weeks else horizon
            )
        evaluable = (
            course.discontinued != "none"
            or followup is not None
            or (endpoint_due is not None and endpoint_due < today)
        )
        out.append(
            CourseFacts(
                patient_id=pid,
                course_id=course.id,
                pseudonym=patient.pseudonym,
                diagnosis=code,
                pain_mechanism=patient.pain_mechanism,
                synthetic=patient.synthetic,
                sex=patient.sex,
                birth_date=patient.birth_date,
                baseline_nrs=baseline,
                followup_nrs=followup,
                discontinued=course.discontinued,
                relief_weeks=relief_weeks,
                relief_ongoing=ongoing,
                sessions_planned=course.sessions_planned,
                plan_id=course.plan_id,
                evaluable=evaluable,
            )
        )
    return out


PatientPlan = tuple[int, int]


def _hours(start: ColumnElement[Any], end: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 24.0
    return func.extract("epoch", end - start) / 3600.0


def _sessions_given(session: Session) -> dict[PatientPlan, int]:
    s = InfusionSession
    rows = session.execute(
        select(s.patient_id, s.plan_id, func.count())
        .where(s.started_at.is_not(None), s.ended_at.is_not(None))
        .group_by(s.patient_id, s.plan_id)
    )
    return {(pid, plan): int(n) for pid, plan, n in rows}


def _infused_mg(session: Session, dialect: str) -> dict[PatientPlan, float]:
    """Ketamine infused: each rate segment's mg/h times its duration (until the next segment or the end)."""
    s, seg = InfusionSession, RateSegment
    following = func.lead(seg.started_at).over(partition_by=seg.session_id, order_by=(seg.started_at, seg.id))
    spans = (
        select(
            s.patient_id,
            s.plan_id,
            seg.rate_mg_h,
            seg.started_at.label("t0"),
            func.coalesce(following, s.ended_at).label("t1"),
        )
        .join(s, s.id == seg.session_id)
        .subquery()
    )
    rows = session.execute(
        select(
            spans.c.patient_id,
            spans.c.plan_id,
            func.sum(spans.c.rate_mg_h * _hours(spans.c.t0, spans.c.t1, dialect)),
        )
        .where(spans.c.t1.is_not(None))
        .group_by(spans.c.patient_id, spans.c.plan_id)
    )
    return {(pid, plan): float(mg or 0.0) for pid, plan, mg in rows}


def _bolus_mg(session: Session) -> dict[PatientPlan, float]:
    s, med = InfusionSession, SessionMedication
    rows = session.execute(
        select(s.patient_id, s.plan_id, func.sum(med.dose))
        .join(s, s.id == med.session_id)
        .where(func.lower(med.medication) == "ketamine", med.unit == "mg")
        .group_by(s.patient_id, s.plan_id)
    )
    return {(pid, plan): float(mg or 0.0) for pid, plan, mg in rows}


def _adverse_events(session: Session) -> dict[PatientPlan, list[tuple[str, int]]]:
    s, ae = InfusionSession, SessionAdverseEvent
    rows = session.execute(
        select(s.patient_id, s.plan_id, ae.kind, func.count())
        .join(s, s.id == ae.session_id)
        .group_by(s.patient_id, s.plan_id, ae.kind)
        .order_by(s.patient_id, ae.kind)
    )
    out: dict[PatientPlan, list[tuple[str, int]]] = defaultdict(list)
    for pid, plan, kind, n in rows:
        out[(pid, plan)].append((kind, int(n)))
    return out


def _for_course(values: dict[PatientPlan, Any], fact: CourseFacts) -> list[Any]:
    """The aggregates of the course's plan, or of every plan of the patient when the course names none."""
    return [v for (pid, plan), v in values.items() if pid == fact.patient_id and fact.plan_id in (None, plan)]


def _index(values: dict[PatientPlan, Any]) -> dict[int, dict[PatientPlan, Any]]:
    by_patient: dict[int, dict[PatientPlan, Any]] = defaultdict(dict)
    for key, value in values.items():
        by_patient[key[0]][key] = value
    return by_patient


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def clinic_cohort(session: Session, *, today: date | None = None) -> Cohort:
    """The clinic's own evaluable courses as an outcomes.Cohort (InputError when there are none)."""
    today = today or date.today()
    facts = [f for f in course_facts(session, today=today) if f.evaluable]
    if not facts:
        raise InputError("the clinic has no evaluable treatment courses yet", field="cohort")
    dialect = session.get_bind().dialect.name
    given, infused, bolus, events = (
        _index(_sessions_given(session)),
        _index(_infused_mg(session, dialect)),
        _index(_bolus_mg(session)),
        _index(_adverse_events(session)),
    )
    records = []
    for f in facts:
        sessions = _for_course(given.get(f.patient_id, {}), f)
        doses = _for_course(infused.get(f.patient_id, {}), f) + _for_course(bolus.get(f.patient_id, {}), f)
        kinds = [
            kind
            for pairs in _for_course(events.get(f.patient_id, {}), f)
            for kind, n in pairs
            for _ in range(n)
        ]
        completed = sum(sessions) if sessions else None
        planned = f.sessions_planned
        if planned is not None and completed is not None:
            planned = max(planned, completed)  # extra sessions given beyond the plan still count as completed
        records.append(
            CohortRecord(
                patient_id=f.pseudonym,
                diagnosis=f.diagnosis,
                pain_mechanism=f.pain_mechanism,
                baseline_nrs=f.baseline_nrs,
                followup_nrs=f.followup_nrs,
                discontinued=f.discontinued,
                relief_weeks=f.relief_weeks,
                relief_ongoing=f.relief_ongoing,
                age=float(_age(f.birth_date, today)),
                sex=f.sex,
                sessions_planned=planned,
                sessions_completed=completed,
                total_dose_mg=round(sum(doses), 1) if doses else None,
                adverse_events=tuple(kinds),
            )
        )
    synthetic = all(f.synthetic for f in facts)
    metadata: dict[str, Any] = {"synthetic": synthetic, "source": "clinic database", "title": "Clinic cohort"}
    if synthetic:
        metadata["note"] = "synthetic demo data"
    return Cohort(records=tuple(records), metadata=metadata)
