"""The SQL behind the clinic cohort's facts: one row per patient's latest course, aggregated in the database.

Each rule here is the one the cohort has always used, written once as SQL so that 100,000 patients
cost a fixed number of queries: the latest course is the highest course id; the primary diagnosis
is the newest one marked primary, else the newest; the baseline NRS is the newest screening intake
that records one as a number, else the latest course's first baseline answer; an after-series week
keeps its newest answer. Picks by a highest id are aggregates (the planner then knows how many rows
they give); the picks by time are window functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Float,
    Select,
    String,
    Subquery,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ketaclinic.outcomes.definitions import reduction_floor_pct, relief_margin_pct
from ketaclinic.outcomes.schedule import DEFAULT_OFFSETS_WEEKS
from ketaclinic.store.tables.outcomes import ProResponse, TreatmentCourse
from ketaclinic.store.tables.patients import Patient, PatientDiagnosis
from ketaclinic.store.tables.screening import Screening

# The endpoint of a course without a configured week: its last follow-up within the schedule.
SCHEDULE_WEEKS = max(DEFAULT_OFFSETS_WEEKS)
BASELINE_KEY = "baseline_nrs"


def for_aggregates(connection: Session | Connection, dialect: str) -> None:
    """Planner settings for this transaction's cohort aggregates (PostgreSQL; nothing on SQLite).

    No JIT: its compile time grows with the estimated cost (seconds for 100,000 patients, more than the
    queries take). Work memory for the hash aggregates over every course, which would spill to disk.
    """
    if dialect == "postgresql":
        connection.execute(text("SET LOCAL jit = off"))
        connection.execute(text("SET LOCAL work_mem = '32MB'"))


def latest_courses(patient_ids: Sequence[int] | None = None) -> Subquery:
    """Each patient's latest treatment course (later courses replace earlier ones): patient_id, course_id."""
    stmt = select(TreatmentCourse.patient_id, func.max(TreatmentCourse.id).label("course_id"))
    if patient_ids is not None:
        stmt = stmt.where(TreatmentCourse.patient_id.in_(patient_ids))
    return stmt.group_by(TreatmentCourse.patient_id).subquery("latest")


def _intakes(dialect: str, patient_ids: Sequence[int] | None) -> Select[Any]:
    """Every screening intake's patient_id, id and baseline NRS (NULL unless the JSON holds a number).

    Each intake's JSON is parsed once: the value under the key is taken in a materialized CTE, then
    checked and converted there on PostgreSQL (json, not jsonb: validating is cheaper than building).
    """
    s = Screening
    if dialect == "postgresql":
        taken = select(s.patient_id, s.id, cast(s.intake_json, postgresql.JSON)[BASELINE_KEY].label("value"))
    else:
        path = f"$.{BASELINE_KEY}"
        number = func.json_type(s.intake_json, path).in_(("integer", "real"))
        taken = select(
            s.patient_id,
            s.id,
            case((number, cast(func.json_extract(s.intake_json, path), Float))).label("value"),
        )
    if patient_ids is not None:
        taken = taken.where(s.patient_id.in_(patient_ids))
    values = taken.cte("intake_values").prefix_with("MATERIALIZED")
    nrs: ColumnElement[Any] = values.c.value
    if dialect == "postgresql":
        nrs = case((func.json_typeof(values.c.value) == "number", cast(cast(values.c.value, Text), Float)))
    return select(values.c.patient_id, values.c.id, nrs.label("nrs"))


def newest_intake_nrs(dialect: str, patient_ids: Sequence[int] | None = None) -> Subquery:
    """Each patient's NRS from their newest screening intake that records one: patient_id, nrs."""
    intakes = _intakes(dialect, patient_ids)  # one CTE, read twice
    found, again = intakes.subquery("intakes"), intakes.subquery("intakes_newest")
    newest = (
        select(func.max(found.c.id).label("id"))
        .where(found.c.nrs.is_not(None))
        .group_by(found.c.patient_id)
        .subquery("newest_intakes")
    )
    return (
        select(again.c.patient_id, again.c.nrs).join(newest, newest.c.id == again.c.id).subquery("intake_nrs")
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
        .where(pr.course_id.is_not(None), pr.timepoint == _inline("baseline"), pr.pain_nrs.is_not(None))
        .subquery("ranked_baseline_answers")
    )
    return (
        select(ranked.c.course_id, ranked.c.pain_nrs.label("nrs"))
        .where(ranked.c.rank == 1)
        .subquery("baseline_answers")
    )


def baseline_rows(dialect: str, people: Subquery, patient_ids: Sequence[int] | None = None) -> Select[Any]:
    """Each row of `people` (patient_id, course_id or NULL, ...) with its baseline: nrs, from_screening."""
    intake = newest_intake_nrs(dialect, patient_ids)
    answers = _first_baseline_answers()
    return (
        select(
            *people.c,
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
    chosen = (
        select(func.coalesce(func.max(d.id).filter(d.primary.is_(True)), func.max(d.id)).label("id"))
        .group_by(d.patient_id)
        .subquery("chosen_diagnoses")
    )
    return select(d.patient_id, d.code).join(chosen, chosen.c.id == d.id).subquery("diagnoses")


def _after_series_answers() -> Subquery:
    """After-series NRS answers with their week and the week of the course's next answer.

    One window, reading the answers in ix_pro_responses_after_series_answers' order (week, then
    oldest first), so nothing is sorted: an answer is its week's newest when the next is of another week.
    """
    pr, week = ProResponse, ProResponse.weeks_after_series
    following = func.lead(week).over(partition_by=pr.course_id, order_by=(week, pr.collected_at, pr.id))
    return (
        select(pr.course_id, week.label("week"), pr.pain_nrs.label("nrs"), following.label("next_week"))
        .where(
            pr.course_id.is_not(None),
            pr.timepoint == _inline("after_series"),
            week.is_not(None),
            pr.pain_nrs.is_not(None),
        )
        .subquery("after_series")
    )


def _inline(value: str) -> ColumnElement[str]:
    """A constant written into the SQL, so that a partial index's WHERE is seen to hold."""
    return literal(value, String, literal_execute=True)


def _followup(courses: CTE) -> Subquery:
    """Per course: the endpoint NRS, the first week relief was lost and the last week answered.

    Only each week's newest answer counts. The endpoint is the configured week's answer, else the
    last answer within the schedule (the one followed by none, or by a week past the schedule).
    Relief is lost at the first answer whose reduction from baseline falls below the margin, computed
    as `sustained_relief_weeks` does: (baseline - nrs) / baseline * 100 against the same floor.
    """
    answers = _after_series_answers()
    week, following = answers.c.week, answers.c.next_week
    newest = or_(following.is_(None), following != week)
    last_within = and_(week <= SCHEDULE_WEEKS, or_(following.is_(None), following > SCHEDULE_WEEKS))
    endpoint = courses.c.endpoint_weeks
    at_endpoint = or_(and_(endpoint.is_(None), last_within), week == endpoint)
    base = cast(courses.c.nrs, Float)
    reduction = (base - answers.c.nrs) / base * literal(100.0, Float)
    floor = literal(reduction_floor_pct(relief_margin_pct().value), Float)
    # Nested CASE: the division is only evaluated for a positive baseline.
    lost = case((base > 0, case((reduction < floor, week))))
    return (
        select(
            answers.c.course_id,
            func.max(case((at_endpoint, answers.c.nrs))).label("endpoint_nrs"),
            func.min(lost).label("lost_week"),
            func.max(week).label("last_week"),
        )
        .join(courses, courses.c.course_id == answers.c.course_id)
        .where(newest)
        .group_by(answers.c.course_id)
        .subquery("followup")
    )


def _latest_course_rows() -> Subquery:
    """Each patient's latest course with the columns the cohort reads."""
    latest, tc = latest_courses(), TreatmentCourse
    return (
        select(
            latest.c.patient_id,
            latest.c.course_id,
            tc.discontinued,
            tc.sessions_planned,
            tc.plan_id,
            tc.series_end,
            tc.endpoint_weeks,
        )
        .join(tc, tc.id == latest.c.course_id)
        .subquery("courses")
    )


def course_rows(dialect: str) -> Select[Any]:
    """One row per coded patient's latest course, in patient order (see facts.COURSE_COLUMNS)."""
    courses = baseline_rows(dialect, _latest_course_rows()).cte("courses_with_baseline")
    p, diagnoses, followup = Patient, _primary_diagnoses(), _followup(courses)
    return (
        select(
            p.id,
            courses.c.course_id,
            p.pseudonym,
            diagnoses.c.code,
            p.pain_mechanism,
            p.synthetic,
            courses.c.nrs,
            followup.c.endpoint_nrs,
            courses.c.discontinued,
            followup.c.lost_week,
            followup.c.last_week,
            courses.c.sessions_planned,
            courses.c.plan_id,
            courses.c.series_end,
            courses.c.endpoint_weeks,
        )
        .select_from(courses)
        .join(p, p.id == courses.c.patient_id)
        # An uncoded patient cannot enter a cohort analysed by diagnosis and mechanism.
        .join(diagnoses, diagnoses.c.patient_id == courses.c.patient_id)
        .outerjoin(followup, followup.c.course_id == courses.c.course_id)
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
