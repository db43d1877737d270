"""The clinic's own cohort (course facts from the database) and imported retrospective cohorts."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.outcomes import sustained_relief_weeks
from ketaclinic.outcomes.schedule import DEFAULT_OFFSETS_WEEKS
from ketaclinic.screening.diagnoses import get_diagnosis
from ketaclinic.store.tables.outcomes import ProResponse, TreatmentCourse
from ketaclinic.store.tables.patients import Patient, PatientDiagnosis
from ketaclinic.store.tables.screening import Screening


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


def _screening_baselines(session: Session, patient_ids: list[int]) -> dict[int, float]:
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
    screened = _screening_baselines(session, ids)
    course_ids = [c.id for c in courses.values()]
    first_pro: dict[int, float] = {}
    series: dict[int, dict[int, float]] = defaultdict(dict)
    pros = session.execute(
        select(
            ProResponse.course_id, ProResponse.timepoint, ProResponse.weeks_after_series, ProResponse.pain_nrs
        )
        .where(ProResponse.course_id.in_(course_ids), ProResponse.pain_nrs.is_not(None))
        .order_by(ProResponse.collected_at, ProResponse.id)
    )
    for course_id, timepoint, weeks, nrs in pros:
        if timepoint == "baseline":
            first_pro.setdefault(course_id, nrs)
        elif timepoint == "after_series" and weeks is not None:
            series[course_id][weeks] = nrs  # a repeated week keeps the newest answer
    horizon = timedelta(weeks=max(DEFAULT_OFFSETS_WEEKS))
    out = []
    for pid in ids:
        course, patient = courses[pid], patients[pid]
        code = diagnoses.get(pid)
        if code is None or patient.pain_mechanism is None:
            continue  # an uncoded patient cannot enter a cohort analysed by diagnosis and mechanism
        baseline = screened.get(pid, first_pro.get(course.id))
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
                evaluable=evaluable,
            )
        )
    return out
