"""The SQL behind the clinic cohort's facts: one row per patient's latest course, aggregated in the database.

Each rule here is the one the cohort has always used, written once as SQL so that 100,000 patients
cost a fixed number of queries: the latest course is the highest course id; the primary diagnosis
is the newest one marked primary, else the newest; the baseline NRS is the newest screening intake
that records one as a number, else the latest course's first baseline answer; an after-series week
keeps its newest answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Float,
    Select,
    Subquery,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql

from ketaclinic.outcomes.definitions import reduction_floor_pct, relief_margin_pct
from ketaclinic.outcomes.schedule import DEFAULT_OFFSETS_WEEKS
from ketaclinic.store.tables.outcomes import ProResponse, TreatmentCourse
from ketaclinic.store.tables.patients import Patient, PatientDiagnosis
from ketaclinic.store.tables.screening import Screening

# The endpoint of a course without a configured week: its last follow-up within the schedule.
SCHEDULE_WEEKS = max(DEFAULT_OFFSETS_WEEKS)
BASELINE_KEY = "baseline_nrs"


def latest_courses(patient_ids: Sequence[int] | None = None) -> Subquery:
    """Each patient's latest treatment course (later courses replace earlier ones): patient_id, course_id."""
    stmt = select(TreatmentCourse.patient_id, func.max(TreatmentCourse.id).label("course_id"))
    if patient_ids is not None:
        stmt = stmt.where(TreatmentCourse.patient_id.in_(patient_ids))
    return stmt.group_by(TreatmentCourse.patient_id).subquery("latest")


def _intake_nrs(dialect: str) -> ColumnElement[Any]:
    """The intake's baseline NRS when the JSON holds a number there (not a boolean, text or null)."""
    if dialect == "postgresql":
        value = cast(Screening.intake_json, postgresql.JSONB)[BASELINE_KEY]
        return case((func.jsonb_typeof(value) == "number", cast(value, Float)))
    path = f"$.{BASELINE_KEY}"
    return case(
        (
            func.json_type(Screening.intake_json, path).in_(("integer", "real")),
            cast(func.json_extract(Screening.intake_json, path), Float),
        )
    )


def newest_intake_nrs(dialect: str, patient_ids: Sequence[int] | None = None) -> Subquery:
    """Each patient's NRS from their newest screening intake that records one: patient_id, nrs."""
    intakes = select(Screening.patient_id, Screening.id, _intake_nrs(dialect).label("nrs"))
    if patient_ids is not None:
        intakes = intakes.where(Screening.patient_id.in_(patient_ids))
    found = intakes.subquery("intakes")
    ranked = select(
        found.c.patient_id,
        found.c.nrs,
        func.row_number()
        .over(partition_by=found.c.patient_id, order_by=(found.c.nrs.is_(None), found.c.id.desc()))
        .label("rank"),
    ).subquery("ranked_intakes")
    return (
        select(ranked.c.patient_id, ranked.c.nrs)
        .where(ranked.c.rank == 1, ranked.c.nrs.is_not(None))
        .subquery("intake_nrs")
    )


def _first_baseline_answers() -> Subquery:
    """Each course's first baseline questionnaire with an NRS: course_id, nrs."""
    pr = ProResponse
    ranked = (
        select(
            pr.course_id,
            pr.pain_nrs,
            func.row_number()
            .over(partition_by=pr.course_id, order_by=(pr.collected_at, pr.id))
            .label("rank"),
        )
        .where(pr.course_id.is_not(None), pr.timepoint == "baseline", pr.pain_nrs.is_not(None))
        .subquery("ranked_baseline_answers")
    )
    return (
        select(ranked.c.course_id, ranked.c.pain_nrs.label("nrs"))
        .where(ranked.c.rank == 1)
        .subquery("baseline_answers")
    )


def baseline_rows(dialect: str, people: Subquery, patient_ids: Sequence[int] | None = None) -> Select[Any]:
    """Each row of `people` (patient_id, course_id or NULL) with its baseline: nrs, from_screening."""
    intake = newest_intake_nrs(dialect, patient_ids)
    answers = _first_baseline_answers()
    return (
        select(
            people.c.patient_id,
            people.c.course_id,
            func.coalesce(intake.c.nrs, answers.c.nrs).label("nrs"),
            intake.c.nrs.is_not(None).label("from_screening"),
        )
        .select_from(people)
        .outerjoin(intake, intake.c.patient_id == people.c.patient_id)
        .outerjoin(answers, answers.c.course_id == people.c.course_id)
    )


def _primary_diagnoses() -> Subquery:
    """Each patient's primary diagnosis: the newest marked primary, else the newest (patient_id, code)."""
    d = PatientDiagnosis
    ranked = select(
        d.patient_id,
        d.code,
        func.row_number()
        .over(partition_by=d.patient_id, order_by=(d.primary.desc(), d.id.desc()))
        .label("rank"),
    ).subquery("ranked_diagnoses")
    return select(ranked.c.patient_id, ranked.c.code).where(ranked.c.rank == 1).subquery("diagnoses")


def _after_series_answers() -> Subquery:
    """After-series NRS answers with their week, ranked newest first within (course, week).

    `within_week` is the course's last answered week within the follow-up schedule.
    """
    pr, week = ProResponse, ProResponse.weeks_after_series
    return (
        select(
            pr.course_id,
            week.label("week"),
            pr.pain_nrs.label("nrs"),
            func.row_number()
            .over(partition_by=(pr.course_id, week), order_by=(pr.collected_at.desc(), pr.id.desc()))
            .label("rank"),
            func.max(case((week <= SCHEDULE_WEEKS, week)))
            .over(partition_by=pr.course_id)
            .label("within_week"),
        )
        .where(
            pr.course_id.is_not(None),
            pr.timepoint == "after_series",
            week.is_not(None),
            pr.pain_nrs.is_not(None),
        )
        .subquery("after_series")
    )


def _followup(baseline: CTE) -> Subquery:
    """Per course: the endpoint NRS, the first week relief was lost and the last week answered.

    Relief is lost at the first answer whose reduction from baseline falls below the margin, computed
    as `sustained_relief_weeks` does: (baseline - nrs) / baseline * 100 against the same floor.
    """
    answers, tc = _after_series_answers(), TreatmentCourse
    base = cast(baseline.c.nrs, Float)
    reduction = (base - answers.c.nrs) / base * literal(100.0, Float)
    floor = literal(reduction_floor_pct(relief_margin_pct().value), Float)
    # Nested CASE: the division is only evaluated for a positive baseline.
    lost = case((base > 0, case((reduction < floor, answers.c.week))))
    endpoint_week = func.coalesce(tc.endpoint_weeks, answers.c.within_week)
    return (
        select(
            answers.c.course_id,
            func.max(case((answers.c.week == endpoint_week, answers.c.nrs))).label("endpoint_nrs"),
            func.min(lost).label("lost_week"),
            func.max(answers.c.week).label("last_week"),
        )
        .join(tc, tc.id == answers.c.course_id)
        .join(baseline, baseline.c.course_id == answers.c.course_id)
        .where(answers.c.rank == 1)
        .group_by(answers.c.course_id)
        .subquery("followup")
    )


def course_rows(dialect: str) -> Select[Any]:
    """One row per coded patient's latest course, in patient order (see facts.COURSE_COLUMNS)."""
    latest, tc, p = latest_courses(), TreatmentCourse, Patient
    baseline = baseline_rows(dialect, latest).cte("baseline")
    diagnoses, followup = _primary_diagnoses(), _followup(baseline)
    return (
        select(
            p.id,
            tc.id,
            p.pseudonym,
            diagnoses.c.code,
            p.pain_mechanism,
            p.synthetic,
            p.sex,
            p.birth_date,
            baseline.c.nrs,
            followup.c.endpoint_nrs,
            tc.discontinued,
            followup.c.lost_week,
            followup.c.last_week,
            tc.sessions_planned,
            tc.plan_id,
            tc.series_end,
            tc.endpoint_weeks,
        )
        .select_from(latest)
        .join(tc, tc.id == latest.c.course_id)
        .join(p, p.id == latest.c.patient_id)
        # An uncoded patient cannot enter a cohort analysed by diagnosis and mechanism.
        .join(diagnoses, diagnoses.c.patient_id == p.id)
        .outerjoin(baseline, baseline.c.course_id == tc.id)
        .outerjoin(followup, followup.c.course_id == tc.id)
        .where(p.pain_mechanism.is_not(None))
        .order_by(p.id)
    )


def people_with_latest_course(patient_ids: Sequence[int]) -> Subquery:
    """The given patients with their latest course id (NULL for a patient with no course)."""
    latest = latest_courses(patient_ids)
    return (
        select(Patient.id.label("patient_id"), latest.c.course_id)
        .outerjoin(latest, latest.c.patient_id == Patient.id)
        .where(Patient.id.in_(patient_ids))
        .subquery("people")
    )
