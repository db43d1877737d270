"""Demo step: courses, weeks of follow-up PROs, discontinuations, due items and an imported cohort."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.services.demo.context import DemoContext
from ketaclinic.services.outcomes.courses import (
    CourseIn,
    DiscontinuationIn,
    record_discontinuation,
    start_course,
)
from ketaclinic.services.outcomes.pros import ProIn, record_pro
from ketaclinic.services.patients.records import get_patient_row
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database

# --- demo ---------------------------------------------------------------------------------------------

DEMO_COHORT_FILE = "cohorts/valle2024_reconstructed.toml"
# Chance of a favourable response per diagnosis group in the synthetic clinic, in the spirit of the
# published aggregates (trigeminal neuralgia mostly responds, atypical facial pain mostly not, CRPS mixed).
_DEMO_RESPONSE = {"G50.0": 0.9, "G50.1": 0.2, "G90.50": 0.55, "M79.7": 0.45, "B02.23": 0.5, "E11.42": 0.55}
_DEMO_DEFAULT_RESPONSE = 0.45
_DEMO_SERIES_AGO_DAYS = (150, 130, 120, 110, 100, 95, 90, 85, 70, 56, 42, 30, 21, 14, 8, 7)


def _demo_treated(session: Session, context: DemoContext) -> list[int]:
    from ketaclinic.store.tables.screening import Consent

    consented = {
        pid for (pid,) in session.execute(select(Consent.patient_id).where(Consent.status == "signed"))
    }
    chosen = [pid for pid in context.patient_ids if pid in consented]
    return chosen or context.patient_ids[: max(1, len(context.patient_ids) * 3 // 4)]


def _demo_nrs(baseline: float, week: int, responder: bool, relapse_week: int | None, rng: Any) -> float:
    if responder and (relapse_week is None or week < relapse_week):
        value = baseline * rng.uniform(0.2, 0.45)
    elif responder:
        value = baseline * rng.uniform(0.85, 1.0)
    else:
        value = baseline * rng.uniform(0.7, 1.0)
    return float(round(min(10.0, max(0.0, value))))


def seed(db: Database, context: DemoContext) -> None:
    """Courses, 12 weeks of follow-up PROs (some missing), discontinuations, due items, an imported cohort."""
    from ketaclinic.data import load_toml
    from ketaclinic.outcomes import read_cohort_csv
    from ketaclinic.services.outcomes.cohort import import_cohort
    from ketaclinic.services.outcomes.facts import screening_baselines

    rng, nurse, today = context.rng, context.nurse, context.today
    with db.transaction() as session:
        treated = _demo_treated(session, context)
        baselines = screening_baselines(session, treated)
        codes = {
            p.id: p.diagnoses[0].code if p.diagnoses else ""
            for p in (get_patient_row(session, pid) for pid in treated)
        }
    stopped = {"G50.1": "lack_of_effect", "M79.7": "lack_of_effect", "E11.42": "adverse_event"}
    seen: dict[str, int] = defaultdict(int)
    responders = 0
    for index, pid in enumerate(treated):
        end = today - timedelta(days=_DEMO_SERIES_AGO_DAYS[index % len(_DEMO_SERIES_AGO_DAYS)])
        sessions = [end - timedelta(days=7 * k) for k in (2, 1, 0)]
        course = start_course(
            db,
            nurse,
            pid,
            CourseIn(started_on=sessions[0], series_end=end, sessions_planned=3, session_dates=sessions),
            synthetic=True,
        )
        baseline = baselines.get(pid)
        if baseline is None:
            baseline = float(rng.randint(6, 9))
            at = datetime.combine(sessions[0] - timedelta(days=3), datetime.min.time(), UTC)
            record_pro(
                db,
                nurse,
                pid,
                ProIn(course_id=course.id, timepoint="baseline", collected_at=at, nrs={"average": baseline}),
                synthetic=True,
            )
        code = codes[pid]
        # Deterministic share of responders per diagnosis, so the small demo shows the intended pattern.
        rank, count = seen[code], sum(1 for c in codes.values() if c == code)
        seen[code] += 1
        responder = (rank + 0.5) / count < _DEMO_RESPONSE.get(code, _DEMO_DEFAULT_RESPONSE)
        responders += responder
        relapse = 12 if responder and responders % 5 == 0 else None
        reason = stopped.pop(code, None) if not responder or code == "E11.42" else None
        for item in course.followups:
            if item.due_on > today or rng.random() < 0.12:
                continue  # not yet due, or the patient never answered (left due/overdue)
            week = item.weeks_after_series or 0
            nrs = _demo_nrs(baseline, week, responder, relapse, rng)
            # Answered at 10:00 on the due day, or just now when that is still ahead (a demo made early).
            at = min(datetime.combine(item.due_on, datetime.min.time(), UTC) + timedelta(hours=10), utcnow())
            answers: dict[str, Any] = {"nrs": {"average": nrs, "worst": min(10.0, nrs + 2)}}
            if item.kind == "after_series":
                phq9 = [rng.randint(0, 2) for _ in range(9)]
                # Item 9 (thoughts of self-harm) stays 0: above 0 it raises a critical alert, and the
                # demo clinic would open with dozens of them. Drawn anyway so the random sequence holds.
                phq9[8] = 0
                answers |= {
                    "pgic": 2 if responder else rng.choice([3, 4]),
                    "phq9": phq9,
                    "gad7": [rng.randint(0, 2) for _ in range(7)],
                }
            record_pro(
                db, nurse, pid, ProIn(followup_item_id=item.id, collected_at=at, **answers), synthetic=True
            )
            if reason and week >= 2:
                break  # stopped: no later follow-up
        if reason:
            record_discontinuation(
                db,
                context.physician,
                course.id,
                DiscontinuationIn(
                    version=course.version, discontinued=reason, reason="Synthetic demo: series stopped."
                ),
            )
    shipped = load_toml(DEMO_COHORT_FILE)
    cohort = read_cohort_csv(shipped["csv"].lstrip())
    cohort.metadata.update(synthetic=True, title="Vallé 2024 (synthetic reconstruction)")
    import_cohort(db, context.researcher, cohort, name=shipped["name"])
