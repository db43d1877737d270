"""The clinic cohort read in SQL by columns equals a straightforward per-patient reading of a random clinic.

The reference below walks each patient's rows in Python, one patient at a time, and applies every rule
as written in plain code (latest course, primary diagnosis, baseline, newest answer per week, endpoint,
sustained relief, evaluable, sessions, mg from rate segments x durations, boluses, adverse events).
A mistake in the SQL shows as a difference in some column or in the analysis.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import InputError
from ketaclinic.outcomes import Cohort, CohortRecord, analyse_cohort, sustained_relief_weeks
from ketaclinic.outcomes.definitions import DISCONTINUATION_REASONS
from ketaclinic.screening.diagnoses import PainMechanism, list_diagnoses
from ketaclinic.services.outcomes.facts import baselines, clinic_cohort, course_facts
from ketaclinic.services.outcomes.session_totals import dose_total
from ketaclinic.store.db import Database
from ketaclinic.store.tables.outcomes import ProResponse, TreatmentCourse
from ketaclinic.store.tables.patients import Patient, PatientDiagnosis
from ketaclinic.store.tables.plans import DosePlanRow
from ketaclinic.store.tables.screening import Screening
from ketaclinic.store.tables.sessions import (
    InfusionSession,
    RateSegment,
    SessionAdverseEvent,
    SessionMedication,
)

TODAY = date(2026, 6, 1)
T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
CODES = [d.code for d in list_diagnoses()]
MECHANISMS = [m.value for m in PainMechanism]
AE_KINDS = ["nausea", "dissociation", "hypertension", "headache"]
WEEKS = [0, 1, 2, 4, 8, 12, 16, 26]
SCHEDULE_END_WEEKS = 12


# --- a random clinic, written row by row -------------------------------------------------------------


# Baselines and answers exactly 20 % apart (4 -> 3.2, 8 -> 6.4, 6 -> 4.8): the relief margin's edge, where
# the reduction computes a few ulps below 20 and only the tolerance keeps it relieved.
EDGE_BASELINES = [4, 8, 6]
EDGE_ANSWERS = [3.2, 6.4, 4.8]


def _nrs(rng: random.Random) -> float:
    return rng.choice([float(rng.randint(0, 10)), round(rng.uniform(0, 10), 1), rng.choice(EDGE_ANSWERS)])


def _intake(rng: random.Random) -> str:
    value: Any = rng.choice(
        [
            rng.randint(0, 10),
            round(rng.uniform(0, 10), 1),
            rng.choice(EDGE_BASELINES),
            None,
            True,
            "7",
            "absent",
        ]
    )
    intake: dict[str, Any] = {"pain_duration_months": rng.randint(3, 200), "notes": "x" * rng.randint(0, 40)}
    if value != "absent":
        intake["baseline_nrs"] = value
    if rng.random() < 0.1:
        intake["blood_pressure"] = {"baseline_nrs": 5}  # a key of the same name deeper down does not count
    return json.dumps(intake, sort_keys=True)


def _plan(session: Session, patient_id: int, n: int) -> DosePlanRow:
    plan = DosePlanRow(
        patient_id=patient_id,
        protocol_id="p",
        context_id="c",
        drug="ketamine",
        status="approved",
        verdict="ok",
        dosing_weight_kg=70,
        concentration_mg_ml=1,
        start_date=T0.date(),
        session_count=n,
        series_total_mg=0,
        inputs_json="{}",
        plan_json="{}",
        created_by="t",
        created_at=T0,
    )
    session.add(plan)
    session.flush()
    return plan


def _sessions(session: Session, rng: random.Random, patient_id: int, plan: DosePlanRow) -> None:
    for number in range(1, plan.session_count + 1):
        start = T0 + timedelta(days=rng.randint(0, 300), minutes=rng.randint(0, 600))
        state = rng.choice(["ended", "ended", "ended", "running", "scheduled"])
        ended = start + timedelta(seconds=rng.randint(30, 240) * 60) if state == "ended" else None
        row = InfusionSession(
            plan_id=plan.id,
            session_number=number,
            patient_id=patient_id,
            state="signed" if ended else state,
            scheduled_on=start.date(),
            drug="ketamine",
            model_key="m",
            context_id="c",
            concentration_mg_ml=1,
            dosing_weight_kg=70,
            cadence="c",
            created_by="t",
            created_at=T0,
            started_at=None if state == "scheduled" else start,
            ended_at=ended,
        )
        session.add(row)
        session.flush()
        if state == "scheduled":
            continue
        # Whole minutes and rates to 0.1 mg/h, as charted, often add up to exactly x.x5 mg.
        minutes = rng.random() < 0.5
        offsets = sorted(
            rng.randint(0, 160) * 60 if minutes else rng.randint(0, 10_000) for _ in range(rng.randint(0, 4))
        )
        if offsets and rng.random() < 0.3:
            offsets.append(offsets[-1])  # two segments charted at the same second
        for offset in offsets:
            rate = round(rng.uniform(0, 60), 1 if minutes else 3) if rng.random() < 0.85 else 0.0
            session.add(
                RateSegment(
                    session_id=row.id,
                    kind="change",
                    started_at=start + timedelta(seconds=offset),
                    pump_ml_h=rate,
                    concentration_mg_ml=1,
                    rate_mg_h=rate,
                    rate_mg_kg_h=rate / 70,
                    weight_kg=70,
                    entered_as="mg_h",
                    verdict="ok",
                    charted_by="t",
                    charted_at=start,
                )
            )
        for _ in range(rng.choice([0, 0, 1, 2])):
            session.add(
                SessionMedication(
                    session_id=row.id,
                    purpose=rng.choice(["bolus", "rescue"]),
                    medication=rng.choice(["ketamine", "Ketamine", "midazolam"]),
                    dose=round(rng.uniform(1, 30), 2),
                    unit=rng.choice(["mg", "mg", "mcg"]),
                    route="iv",
                    given_at=start,
                    charted_by="t",
                    charted_at=start,
                )
            )
        for _ in range(rng.choice([0, 0, 0, 1, 2])):
            session.add(
                SessionAdverseEvent(
                    session_id=row.id,
                    kind=rng.choice(AE_KINDS),
                    severity="mild",
                    onset_at=start,
                    cp_at_onset_ng_ml=100,
                    action="watched",
                    outcome="resolved",
                    charted_by="t",
                    charted_at=start,
                )
            )


def _answers(session: Session, rng: random.Random, patient_id: int, course_id: int | None) -> None:
    for _ in range(rng.randint(0, 9)):
        timepoint = rng.choice(["baseline", "after_series", "after_series", "after_series", "unscheduled"])
        week = rng.choice([*WEEKS, None]) if timepoint == "after_series" else None
        session.add(
            ProResponse(
                patient_id=patient_id,
                course_id=course_id,
                timepoint=timepoint,
                weeks_after_series=week,
                # Whole days apart at most: equal times are ordered by id.
                collected_at=T0 + timedelta(days=rng.randint(0, 20)),
                via="staff",
                pain_nrs=None if rng.random() < 0.1 else _nrs(rng),
                answers_json="{}",
            )
        )


def random_clinic(db: Database, seed: int, n: int = 40) -> None:
    """`n` patients with every variation the cohort's rules distinguish, drawn from `seed`."""
    rng = random.Random(seed)
    synthetic = rng.random() < 0.5
    with db.transaction() as session:
        for i in range(n):
            patient = Patient(
                mrn=f"R{seed}-{i}",
                pseudonym=f"P{seed:02d}{i:04d}",
                family_name="Doe",
                given_name="Jane",
                birth_date=date(1960 + rng.randint(0, 40), rng.randint(1, 12), 1),
                sex=rng.choice(["female", "male"]),
                pain_mechanism=None if rng.random() < 0.1 else rng.choice(MECHANISMS),
                synthetic=synthetic or rng.random() < 0.1,
                created_at=T0,
            )
            session.add(patient)
            session.flush()
            for code in rng.sample(CODES, rng.choice([0, 1, 1, 2, 3])):
                session.add(PatientDiagnosis(patient_id=patient.id, code=code, primary=rng.random() < 0.5))
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                session.add(
                    Screening(
                        patient_id=patient.id,
                        status="signed",
                        intake_version="1",
                        intake_json=_intake(rng),
                        result_json="{}",
                        verdict="eligible",
                        rules_version="1",
                        created_at=T0,
                        created_by="t",
                        updated_at=T0,
                    )
                )
            plans = [_plan(session, patient.id, rng.randint(0, 4)) for _ in range(rng.choice([0, 1, 1, 2]))]
            for plan in plans:
                _sessions(session, rng, patient.id, plan)
            for _ in range(rng.choice([0, 1, 1, 1, 2])):
                end = TODAY - timedelta(weeks=rng.randint(-2, 30))
                course = TreatmentCourse(
                    patient_id=patient.id,
                    plan_id=rng.choice([None, *(p.id for p in plans)]),
                    started_on=end - timedelta(days=14),
                    series_end=None if rng.random() < 0.2 else end,
                    sessions_planned=rng.choice([None, 1, 3, 6]),
                    endpoint_weeks=rng.choice([None, None, 0, 4, 8, 12]),
                    discontinued=rng.choice(["none", "none", "none", *DISCONTINUATION_REASONS]),
                    created_at=T0,
                    synthetic=synthetic,
                )
                session.add(course)
                session.flush()
                _answers(session, rng, patient.id, course.id)
            _answers(session, rng, patient.id, None)


# --- the reference: one patient at a time, in plain Python -----------------------------------------------


@dataclass(frozen=True)
class Reference:
    """What the rules give for one patient's latest course."""

    patient_id: int
    evaluable: bool
    baseline: float | None
    baseline_from: str | None
    record: CohortRecord


def _number(intake_json: str) -> float | None:
    value = json.loads(intake_json).get("baseline_nrs")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def reference_baseline(session: Session, patient_id: int) -> tuple[float, str] | None:
    """The newest screening intake's numeric NRS, else the latest course's first baseline answer."""
    screenings = session.scalars(select(Screening).where(Screening.patient_id == patient_id)).all()
    for screening in sorted(screenings, key=lambda s: -s.id):
        if (value := _number(screening.intake_json)) is not None:
            return value, "screening intake"
    courses = session.scalars(select(TreatmentCourse).where(TreatmentCourse.patient_id == patient_id)).all()
    if not courses:
        return None
    latest = max(courses, key=lambda c: c.id)
    answers = session.scalars(select(ProResponse).where(ProResponse.course_id == latest.id)).all()
    first = sorted(
        (a for a in answers if a.timepoint == "baseline" and a.pain_nrs is not None),
        key=lambda a: (a.collected_at, a.id),
    )
    return (first[0].pain_nrs, "baseline questionnaire") if first and first[0].pain_nrs is not None else None


def _infused_mg(session: Session, row: InfusionSession) -> tuple[float, bool]:
    segments = session.scalars(select(RateSegment).where(RateSegment.session_id == row.id)).all()
    ordered = sorted(segments, key=lambda s: (s.started_at, s.id))
    mg, any_span = 0.0, False
    for i, segment in enumerate(ordered):
        end = ordered[i + 1].started_at if i + 1 < len(ordered) else row.ended_at
        if end is None:
            continue
        any_span = True
        mg += segment.rate_mg_h * (end - segment.started_at).total_seconds() / 3600
    return mg, any_span


def reference(session: Session, patient: Patient, today: date = TODAY) -> Reference | None:
    """The rules applied to one patient, or None when the patient has no course or is uncoded."""
    courses = session.scalars(select(TreatmentCourse).where(TreatmentCourse.patient_id == patient.id)).all()
    diagnoses = sorted(patient.diagnoses, key=lambda d: (not d.primary, -d.id))
    if not courses or not diagnoses or patient.pain_mechanism is None:
        return None
    course = max(courses, key=lambda c: c.id)
    found = reference_baseline(session, patient.id)
    baseline = found[0] if found else None
    answers = session.scalars(select(ProResponse).where(ProResponse.course_id == course.id)).all()
    series: dict[int, float] = {}
    for a in sorted(answers, key=lambda a: (a.collected_at, a.id)):
        if a.timepoint == "after_series" and a.weeks_after_series is not None and a.pain_nrs is not None:
            series[a.weeks_after_series] = a.pain_nrs
    if course.endpoint_weeks is not None:
        followup = series.get(course.endpoint_weeks)
    else:
        within = [w for w in series if w <= SCHEDULE_END_WEEKS]
        followup = series[max(within)] if within else None
    relief: tuple[float | None, bool | None] = (None, None)
    if baseline is not None and 0 < baseline <= 10 and series:
        weeks = sorted(series)
        relief = sustained_relief_weeks(baseline, weeks, [series[w] for w in weeks])
    evaluable = course.discontinued != "none" or followup is not None
    if course.series_end is not None:
        due = course.series_end + timedelta(weeks=course.endpoint_weeks or SCHEDULE_END_WEEKS)
        evaluable = evaluable or due < today
    rows = session.scalars(select(InfusionSession).where(InfusionSession.patient_id == patient.id)).all()
    mine = [s for s in rows if course.plan_id is None or s.plan_id == course.plan_id]
    given = sum(1 for s in mine if s.started_at is not None and s.ended_at is not None)
    infused, bolus, charted, events = 0.0, 0.0, False, []
    for row in mine:
        mg, spanned = _infused_mg(session, row)
        infused, charted = infused + mg, charted or spanned
        meds = session.scalars(select(SessionMedication).where(SessionMedication.session_id == row.id)).all()
        for med in meds:
            if med.medication.lower() == "ketamine" and med.unit == "mg":
                bolus, charted = bolus + med.dose, True
        found_events = session.scalars(
            select(SessionAdverseEvent).where(SessionAdverseEvent.session_id == row.id)
        ).all()
        events += [e.kind for e in found_events]
    completed = given or None
    planned = course.sessions_planned
    if planned is not None and completed is not None:
        planned = max(planned, completed)
    record = CohortRecord(
        patient_id=patient.pseudonym,
        diagnosis=diagnoses[0].code,
        pain_mechanism=patient.pain_mechanism,
        baseline_nrs=baseline,
        followup_nrs=followup,
        discontinued=course.discontinued,
        relief_weeks=relief[0],
        relief_ongoing=relief[1],
        sessions_planned=planned,
        sessions_completed=completed,
        total_dose_mg=dose_total(infused + bolus) if charted else None,
        adverse_events=tuple(sorted(events)),
    )
    return Reference(patient.id, evaluable, baseline, found[1] if found else None, record)


def references(session: Session, today: date = TODAY) -> Iterator[Reference]:
    for patient in session.scalars(select(Patient).order_by(Patient.id)).all():
        if (found := reference(session, patient, today)) is not None:
            yield found


# --- the comparison ------------------------------------------------------------------------------------

SEEDS = [1, 2, 3, 4]
COLUMNS = [
    "patient_id",
    "diagnosis",
    "pain_mechanism",
    "discontinued",
    "baseline_nrs",
    "followup_nrs",
    "relief_weeks",
    "relief_ongoing",
    "sessions_planned",
    "sessions_completed",
    "total_dose_mg",
]


@pytest.mark.parametrize("seed", SEEDS)
def test_sql_reader_equals_the_per_patient_reference(db: Database, seed: int) -> None:
    random_clinic(db, seed)
    with db.transaction() as session:
        expected = list(references(session))
        facts = course_facts(session, today=TODAY)
        everyone = session.scalars(select(Patient.id)).all()
        read_baselines = baselines(session, everyone)
        wanted_baselines = {
            pid: found for pid in everyone if (found := reference_baseline(session, pid)) is not None
        }
        try:
            cohort: Cohort | None = clinic_cohort(session, today=TODAY)
        except InputError:
            cohort = None
    assert {pid: (b.nrs, b.recorded_in) for pid, b in read_baselines.items()} == wanted_baselines
    assert [f.patient_id for f in facts] == [r.patient_id for r in expected]
    for fact, ref in zip(facts, expected, strict=True):
        r = ref.record
        assert (fact.pseudonym, fact.diagnosis, fact.pain_mechanism) == (
            r.patient_id,
            r.diagnosis,
            r.pain_mechanism,
        )
        assert (fact.baseline_nrs, fact.followup_nrs, fact.discontinued, fact.evaluable) == (
            r.baseline_nrs,
            r.followup_nrs,
            r.discontinued,
            ref.evaluable,
        ), fact.pseudonym
        assert (fact.relief_weeks, fact.relief_ongoing) == (r.relief_weeks, r.relief_ongoing), fact.pseudonym
    evaluable = [ref.record for ref in expected if ref.evaluable]
    if not evaluable:
        assert cohort is None
        return
    assert cohort is not None
    assert_same_cohort(cohort, evaluable)
    assert cohort.metadata["synthetic"] == all(
        p.synthetic for p in _patients(db, [ref.patient_id for ref in expected if ref.evaluable])
    )


def assert_same_cohort(cohort: Cohort, records: list[CohortRecord]) -> None:
    """Every column and the whole analysis (and a diagnosis comparison) equal the records'."""
    wanted = Cohort(records=tuple(records), metadata=dict(cohort.metadata))
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(cohort, name), getattr(wanted, name), err_msg=name)
    assert [tuple(sorted(e)) for e in cohort.adverse_events] == list(wanted.adverse_events)
    assert _same(analyse_cohort(cohort), analyse_cohort(wanted))
    comparison = ("diagnosis", sorted(set(cohort.diagnosis.tolist()))[:2])
    if len(comparison[1]) == 2:
        assert _same(analyse_cohort(cohort, compare=comparison), analyse_cohort(wanted, compare=comparison))


def _patients(db: Database, ids: list[int]) -> list[Patient]:
    with db.transaction() as session:
        return list(session.scalars(select(Patient).where(Patient.id.in_(ids))).all())


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN (the analysis reports NaN where a statistic cannot be computed)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return _same(np.asarray(a).tolist(), np.asarray(b).tolist())
    return bool(a == b)
