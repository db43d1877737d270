"""Cohort services: the clinic cohort with SQL session aggregates, imported cohorts, reports and exports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from ketaclinic.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from ketaclinic.outcomes import Cohort, analyse_cohort, read_cohort_csv
from ketaclinic.services.outcomes import cohort as svc
from ketaclinic.services.outcomes.facts import clinic_cohort
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.tables.plans import DosePlanRow
from ketaclinic.store.tables.sessions import (
    InfusionSession,
    RateSegment,
    SessionAdverseEvent,
    SessionMedication,
)
from tests.services.test_outcomes_service import treated

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cohorts" / "valle2024_reconstructed.csv"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _charted(db: Database, patient_id: int, *, sessions: int, ended: int, rate_mg_h: float) -> int:
    """A plan with `sessions` sessions, `ended` of them run for 2 h at `rate_mg_h` with a 10 mg bolus."""
    with db.transaction() as session:
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
            session_count=sessions,
            series_total_mg=0,
            inputs_json="{}",
            plan_json="{}",
            created_by="t",
            created_at=T0,
        )
        session.add(plan)
        session.flush()
        for number in range(1, sessions + 1):
            start = T0 + timedelta(days=7 * number)
            done = number <= ended
            row = InfusionSession(
                plan_id=plan.id,
                session_number=number,
                patient_id=patient_id,
                state="signed" if done else "scheduled",
                scheduled_on=start.date(),
                drug="ketamine",
                model_key="m",
                context_id="c",
                concentration_mg_ml=1,
                dosing_weight_kg=70,
                cadence="c",
                created_by="t",
                created_at=T0,
                started_at=start if done else None,
                ended_at=start + timedelta(hours=2) if done else None,
            )
            session.add(row)
            session.flush()
            if not done:
                continue
            # one hour at the rate, a change to twice the rate for an hour, then stop at the end
            for offset_h, rate in ((0, rate_mg_h), (1, 2 * rate_mg_h), (2, 0.0)):
                session.add(
                    RateSegment(
                        session_id=row.id,
                        kind="start",
                        started_at=start + timedelta(hours=offset_h),
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
            session.add(
                SessionMedication(
                    session_id=row.id,
                    purpose="bolus",
                    medication="ketamine",
                    dose=10,
                    unit="mg",
                    route="iv",
                    given_at=start,
                    charted_by="t",
                    charted_at=start,
                )
            )
            if number == 1:
                session.add(
                    SessionAdverseEvent(
                        session_id=row.id,
                        kind="nausea",
                        severity="mild",
                        onset_at=start,
                        cp_at_onset_ng_ml=100,
                        action="ondansetron",
                        outcome="resolved",
                        charted_by="t",
                        charted_at=start,
                    )
                )
        return plan.id


def test_clinic_cohort_aggregates_sessions_in_sql(db: Database, staff: dict[str, Actor]) -> None:
    nurse = staff["nurse"]
    a = treated(db, nurse, "C1", 8, {1: 2, 12: 3})
    b = treated(db, nurse, "C2", 8, {12: 7}, code="G50.1", mechanism="nociplastic")
    _charted(db, a.patient_id, sessions=3, ended=3, rate_mg_h=20)
    _charted(db, b.patient_id, sessions=3, ended=1, rate_mg_h=30)
    with db.transaction() as session:
        cohort = clinic_cohort(session)
    assert cohort.records == ()  # built by columns: one index per patient
    tn, afp = (int(np.flatnonzero(cohort.diagnosis == code)[0]) for code in ("G50.0", "G50.1"))
    assert (cohort.sessions_completed[tn], cohort.sessions_completed[afp]) == (3, 1)
    # per session: 1 h x 20 + 1 h x 40 + 10 mg bolus = 70 mg
    assert cohort.total_dose_mg[tn] == pytest.approx(210.0)
    assert cohort.total_dose_mg[afp] == pytest.approx(100.0)
    assert cohort.adverse_events[tn] == ("nausea",) and cohort.adverse_events[afp] == ("nausea",)
    assert (cohort.baseline_nrs[tn], cohort.followup_nrs[tn], cohort.relief_ongoing[tn]) == (8, 3, 1.0)
    assert "Jane" not in repr(cohort.patient_id.tolist()) and cohort.patient_id[tn].startswith("P")
    result = analyse_cohort(cohort)
    assert result["responders"] == 1 and result["completion"]["completed_all"] == 1
    assert result["synthetic"] is False


def test_no_evaluable_course_is_a_clear_error(db: Database, staff: dict[str, Actor]) -> None:
    with pytest.raises(InputError, match="no evaluable"):
        svc.load_clinic_cohort(db)


def test_import_all_or_nothing_audited(db: Database, staff: dict[str, Actor]) -> None:
    cohort = read_cohort_csv(FIXTURE)
    info = svc.import_cohort(db, staff["researcher"], cohort, name="valle")
    assert (info.n, info.synthetic) == (45, True)
    loaded = svc.load_clinic_cohort(db, source="valle")
    assert loaded.n == 45 and loaded.synthetic
    assert analyse_cohort(loaded)["responders"] == analyse_cohort(cohort)["responders"] == 23
    with pytest.raises(ConflictError):
        svc.import_cohort(db, staff["researcher"], cohort, name="valle")
    with pytest.raises(InputError):
        svc.import_cohort(db, staff["researcher"], cohort, name="clinic")
    with pytest.raises(PermissionDeniedError):
        svc.import_cohort(db, staff["nurse"], cohort, name="other")
    with pytest.raises(NotFoundError):
        svc.load_clinic_cohort(db, source="nope")
    report = svc.cohort_report(db, staff["researcher"], source="valle", export="csv")
    assert report["n"] == 45
    with db.transaction() as session:
        actions = [(e.action, e.entity) for e in session.execute(select(AuditEvent)).scalars()]
    assert ("import", "cohort") in actions and ("export", "cohort") in actions
    assert [c.name for c in svc.list_cohorts(db, staff["physician"])] == ["valle"]


def test_import_keeps_adverse_events_not_recorded_and_daily_nrs(
    db: Database, staff: dict[str, Actor]
) -> None:
    text = (
        "patient_id,diagnosis,pain_mechanism,baseline_nrs,followup_nrs,discontinued,relief_weeks,"
        "relief_ongoing,nrs_day_0,nrs_day_2,nrs_day_5\n"
        "P1,G50.0,neuropathic,8,3,none,2,0,8,5.5,3.3\n"
        "P2,G50.1,nociplastic,7,6,none,1,0,7,,6\n"
    )
    cohort = read_cohort_csv(text)
    svc.import_cohort(db, staff["researcher"], cohort, name="daily")
    loaded = svc.load_clinic_cohort(db, source="daily")
    assert loaded.adverse_events_recorded is False
    assert [r.daily_nrs for r in loaded.records] == [r.daily_nrs for r in cohort.records]
    assert loaded.records[0].daily_nrs == ((0, 8.0), (2, 5.5), (5, 3.3))
    report = svc.cohort_report(db, staff["researcher"], source="daily")
    assert report["adverse_events"]["recorded"] is False
    assert report["nrs_change"]["daily_auc"] == analyse_cohort(cohort)["nrs_change"]["daily_auc"]
    assert report["nrs_change"]["daily_auc"]["n"] == 2


def test_from_columns_matches_records() -> None:
    cohort = read_cohort_csv(FIXTURE)
    names = sorted({e for events in cohort.adverse_events for e in events})
    counts = {k: np.array([events.count(k) for events in cohort.adverse_events]) for k in names}
    columns = Cohort.from_columns(
        patient_id=cohort.patient_id,
        diagnosis=cohort.diagnosis,
        pain_mechanism=cohort.pain_mechanism,
        baseline_nrs=cohort.baseline_nrs,
        followup_nrs=cohort.followup_nrs,
        discontinued=cohort.discontinued,
        relief_weeks=cohort.relief_weeks,
        relief_ongoing=cohort.relief_ongoing,
        sessions_planned=cohort.sessions_planned,
        sessions_completed=cohort.sessions_completed,
        total_dose_mg=cohort.total_dose_mg,
        adverse_event_counts=counts,
        metadata=cohort.metadata,
    )
    assert columns.n == cohort.n
    assert analyse_cohort(columns) == analyse_cohort(cohort)
    with pytest.raises(InputError):
        Cohort.from_columns(
            patient_id=np.array(["a", "a"]),
            diagnosis=np.array(["G50.0"] * 2),
            pain_mechanism=np.array(["neuropathic"] * 2),
            baseline_nrs=np.array([8.0, 8.0]),
            followup_nrs=np.array([2.0, 3.0]),
            discontinued=np.array(["none"] * 2),
            relief_weeks=np.full(2, np.nan),
            relief_ongoing=np.full(2, np.nan),
            sessions_planned=np.full(2, np.nan),
            sessions_completed=np.full(2, np.nan),
            total_dose_mg=np.full(2, np.nan),
        )


def test_every_cohort_record_field_is_stored_and_read_back() -> None:
    import dataclasses

    from ketaclinic.outcomes import CohortRecord
    from ketaclinic.store.tables.outcomes import CohortRow

    mapped_by_hand = {"patient_id", "adverse_events", "daily_nrs"}
    fields = {f.name for f in dataclasses.fields(CohortRecord)}
    assert fields - mapped_by_hand == set(svc.SHARED_COLUMNS)
    assert set(svc.SHARED_COLUMNS) <= set(CohortRow.__table__.columns.keys())
