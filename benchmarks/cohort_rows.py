"""The rows of a synthetic clinic, block by block of patients, as NumPy columns in the clinic's tables."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

DIAGNOSES = np.array(["G50.0", "G50.1", "G90.50", "M79.7", "B02.23", "E11.42", "G89.4"])
MECHANISM = np.array(
    ["neuropathic", "nociplastic", "nociplastic", "nociplastic", "neuropathic", "neuropathic", "nociceptive"]
)
RESPONSE = np.array([0.8, 0.25, 0.5, 0.4, 0.55, 0.5, 0.35])  # synthetic chance of relief per diagnosis
DISCONTINUED = np.array(["none", "lack_of_effect", "adverse_event", "other"])
AE_KINDS = np.array(["nausea", "dissociation", "hypertension", "headache"])
FOLLOWUP_WEEKS = np.array([1, 2, 4, 8, 12])
EARLIER_SESSIONS = 3  # sessions of an earlier course, out of the patient's share
EPOCH = np.datetime64("2023-01-02T00:00:00", "s")
DAY = 86_400
Array = npt.NDArray[Any]
Copy = Callable[[str, dict[str, Any]], None]


def _ts(seconds: Array) -> Array:
    """Seconds after EPOCH as ISO UTC timestamps (COPY text)."""
    return np.datetime_as_string(EPOCH + seconds.astype("timedelta64[s]"), unit="s", timezone="UTC")


def _day(seconds: Array) -> Array:
    return np.datetime_as_string((EPOCH + seconds.astype("timedelta64[s]")).astype("datetime64[D]"))


def _nulls(n: int) -> Array:
    return np.full(n, None, dtype=object)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _vitals(rng: np.random.Generator) -> dict[str, Any]:
    low_high = {"sbp": (105, 165), "dbp": (60, 100), "hr": (55, 110), "spo2": (93, 100), "rr": (10, 20)}
    values: dict[str, Any] = {k: int(rng.integers(lo, hi)) for k, (lo, hi) in low_high.items()}
    return {**values, "rass": int(rng.integers(-2, 1)), "nausea": bool(rng.random() < 0.1)}


def _intake(baseline: int | None, code: str, mechanism: str, rng: np.random.Generator) -> str:
    intake: dict[str, Any] = {
        "age_y": int(rng.integers(25, 80)),
        "blood_pressure": {"diastolic": int(rng.integers(65, 90)), "systolic": int(rng.integers(110, 150))},
        "breastfeeding": False,
        "conditions": [],
        "diagnoses": [code],
        "gad7": None,
        "intake_version": "1",
        "pain_duration_months": float(rng.integers(6, 240)),
        "pain_mechanism": mechanism,
        "phq9": int(rng.integers(0, 15)),
        "pregnant": False,
        "prior_treatments": [{"name": "carbamazepine", "outcome": "ineffective"}],
        "sex": "female",
        "weight_kg": 70.0,
    }
    if baseline is not None:
        intake["baseline_nrs"] = baseline
    return _json(intake)


def text_pools(rng: np.random.Generator) -> dict[str, Array]:
    """JSON texts drawn once; rows pick from them (the report reads none but the intake's NRS)."""
    flags = ["normal"] * 6 + ["high", "low"]
    kinds = ("sbp", "dbp", "hr", "spo2", "rr", "rass", "nausea")
    pairs = list(zip(DIAGNOSES, MECHANISM, strict=True))
    return {
        "intake": np.array([_intake(b, str(c), str(m), rng) for b in range(5, 11) for c, m in pairs]),
        "intake_no_nrs": np.array([_intake(None, "G50.0", "neuropathic", rng)]),
        "vitals": np.array([_json(_vitals(rng)) for _ in range(4096)]),
        "interpretation": np.array([_json({k: str(rng.choice(flags)) for k in kinds}) for _ in range(512)]),
        "answers": np.array([_json({"nrs": {"average": v, "recall": "24h"}}) for v in range(11)]),
    }


LOINC = _json({"sbp": ["8480-6"], "dbp": ["8462-4"], "hr": ["8867-4"], "spo2": ["2708-6", "59408-5"]})
RESULT = _json({"verdict": "eligible", "findings": [{"rule": "indication", "ok": True}] * 6})
PLAN = _json({"sessions": [{"rate_mg_kg_h": 0.5, "hours": 4}] * 10})
CHECKIN = _json({"consent": True, "fasting": True, "escort": True, "weight_kg": 70.0})
DISCHARGE = _json({"aldrete": 10, "escort": True, "pain_nrs": 3})
CHECK = _json({"verdict": "ok", "limits": {"soft": 1.0, "hard": 2.0}})


@dataclass(frozen=True)
class Clinic:
    """Per-patient draws for the whole clinic (a few MB at 100,000 patients)."""

    n: int
    per_patient: int  # sessions per patient, over their courses
    dx: Array
    baseline: Array
    discontinued: Array
    completed: Array  # sessions run of the latest plan
    earlier: Array  # an earlier course on an earlier plan
    no_plan: Array  # the latest course names no plan
    start_s: Array  # first session, seconds after EPOCH
    relief_weeks: Array
    lost_to_followup: Array

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, per_patient: int) -> Clinic:
        dx = rng.integers(0, DIAGNOSES.size, n)
        responder = rng.random(n) < RESPONSE[dx]
        stop = rng.random(n)
        discontinued = np.where(stop < 0.05, np.where(responder, 3, 1), np.where(stop < 0.08, 2, 0))
        earlier = rng.random(n) < 0.05
        latest = np.where(earlier, per_patient - EARLIER_SESSIONS, per_patient)
        stopped_after = rng.integers(1, np.maximum(latest, 2))
        return cls(
            n=n,
            per_patient=per_patient,
            dx=dx,
            baseline=rng.integers(5, 11, n),
            discontinued=discontinued,
            completed=np.minimum(np.where(discontinued > 0, stopped_after, latest), latest),
            earlier=earlier,
            no_plan=rng.random(n) < 0.03,
            start_s=rng.integers(0, 3 * 365 * DAY, n),
            relief_weeks=np.where(responder, rng.gamma(4.0, 6.0, n), rng.uniform(0, 1.0, n)),
            lost_to_followup=rng.random(n) < 0.08,
        )

    def sessions_run(self) -> Array:
        """The 0-based ids of the sessions run (ids follow patients, each patient's earlier plan first)."""
        j = np.tile(np.arange(self.per_patient), self.n)
        patient = np.repeat(np.arange(self.n), self.per_patient)
        earlier = np.where(self.earlier, EARLIER_SESSIONS, 0)[patient]
        return np.flatnonzero((j < earlier) | (j - earlier < self.completed[patient]))


@dataclass(frozen=True)
class Block:
    """Patients lo..hi-1 (0-based) being written: their draws, the id counters, the random stream."""

    clinic: Clinic
    lo: int
    hi: int
    ids: Callable[[str, int], Array]
    copy: Copy
    rng: np.random.Generator
    pools: dict[str, Array]
    observations: Array  # observations per session id - 1

    @property
    def n(self) -> int:
        return self.hi - self.lo

    @property
    def pid(self) -> Array:
        return np.arange(self.lo + 1, self.hi + 1, dtype=np.int64)

    def of(self, values: Array) -> Array:
        """This block's slice of a per-patient array."""
        return values[self.lo : self.hi]


@dataclass(frozen=True)
class Plans:
    id: Array
    patient: Array
    earlier: Array
    sessions: Array
    start_s: Array
    latest: Array  # the latest plan of each patient, in patient order


@dataclass(frozen=True)
class Sessions:
    id: Array
    patient: Array
    earlier: Array
    ran: Array
    t0: Array
    t_end: Array
    minutes: Array


def write_block(b: Block) -> None:
    """Every table's rows for the block's patients, ids continuing from the previous block."""
    _patients(b)
    _screenings(b)
    plans = _plans(b)
    sessions = _sessions(b, plans)
    _charting(b, sessions)
    _courses_and_answers(b, plans, sessions)


def _patients(b: Block) -> None:
    n, rng, pid, dx = b.n, b.rng, b.pid, b.of(b.clinic.dx)
    mechanism = MECHANISM[dx].astype(object)
    mechanism[rng.random(n) < 0.02] = None  # uncoded: not in the cohort
    b.copy(
        "patients",
        {
            "id": pid,
            "mrn": [f"M{i:08d}" for i in pid],
            "pseudonym": [f"P{i:08d}" for i in pid],
            "family_name": "Synthetic",
            "given_name": "Patient",
            "birth_date": _day(rng.integers(-60, -20, n) * 365 * DAY),
            "sex": np.where(rng.random(n) < 0.6, "female", "male"),
            "pain_mechanism": mechanism,
            "pain_duration_months": rng.integers(6, 240, n),
            "notes": "",
            "synthetic": True,
            "created_at": _ts(b.of(b.clinic.start_s) - 30 * DAY),
            "version": 1,
        },
    )
    # Diagnoses: the primary one, and for some a secondary one entered before it.
    second, coded = rng.random(n) < 0.3, rng.random(n) >= 0.01
    both = second & coded
    patient = np.concatenate([pid[both], pid[coded]])
    code = np.concatenate([DIAGNOSES[(dx[both] + 3) % DIAGNOSES.size], DIAGNOSES[dx[coded]]])
    primary = np.concatenate([np.zeros(int(both.sum()), bool), np.ones(int(coded.sum()), bool)])
    order = np.argsort(patient, kind="stable")
    b.copy(
        "patient_diagnoses",
        {
            "id": b.ids("patient_diagnoses", order.size),
            "patient_id": patient[order],
            "code": code[order],
            "primary": primary[order],
        },
    )


def _screenings(b: Block) -> None:
    """The newest intake records the baseline NRS; some patients have an older one (another NRS)."""
    n, rng, pid, dx, base = b.n, b.rng, b.pid, b.of(b.clinic.dx), b.of(b.clinic.baseline)
    start = b.of(b.clinic.start_s)
    older = rng.random(n) < 0.1
    patient = np.concatenate([pid[older], pid])
    order = np.argsort(patient, kind="stable")
    nrs = np.concatenate([np.minimum(base[older] + 1, 10), base])[order]
    text = b.pools["intake"][(nrs - 5) * DIAGNOSES.size + np.concatenate([dx[older], dx])[order]]
    # An intake without it (an older intake version): the baseline questionnaire counts instead.
    text = np.where(rng.random(order.size) < 0.03, b.pools["intake_no_nrs"][0], text)
    when = _ts(np.concatenate([start[older] - 200 * DAY, start - 20 * DAY])[order])
    b.copy(
        "screenings",
        {
            "id": b.ids("screenings", order.size),
            "patient_id": patient[order],
            "status": "signed",
            "intake_version": "1",
            "intake_json": text,
            "result_json": RESULT,
            "verdict": "eligible",
            "rules_version": "2026.1",
            "created_at": when,
            "created_by": "nurse",
            "updated_at": when,
            "signed_at": when,
            "signed_by": "physician",
            "version": 1,
        },
    )


def _plans(b: Block) -> Plans:
    """The latest plan of each patient; an earlier one first for patients with an earlier course."""
    c, pid = b.clinic, b.pid
    earlier_pid = pid[b.of(c.earlier)]
    order = np.argsort(np.concatenate([earlier_pid, pid]), kind="stable")
    patient = np.concatenate([earlier_pid, pid])[order]
    earlier = np.concatenate([np.ones(earlier_pid.size, bool), np.zeros(b.n, bool)])[order]
    latest_sessions = np.where(c.earlier, c.per_patient - EARLIER_SESSIONS, c.per_patient)[patient - 1]
    sessions = np.where(earlier, EARLIER_SESSIONS, latest_sessions)
    start = c.start_s[patient - 1] - np.where(earlier, 365 * DAY, 0)
    ids = b.ids("dose_plans", order.size)
    b.copy(
        "dose_plans",
        {
            "id": ids,
            "patient_id": patient,
            "protocol_id": "cohen2018-3x",
            "context_id": "chronic_pain",
            "drug": "ketamine",
            "status": "approved",
            "verdict": "ok",
            "model_key": "domino1984",
            "dosing_weight_kg": 70.0,
            "concentration_mg_ml": 1.0,
            "start_date": _day(start),
            "session_count": sessions,
            "series_total_mg": 0.0,
            "inputs_json": "{}",
            "plan_json": PLAN,
            "soft_reasons_json": "{}",
            "created_by": "physician",
            "created_at": _ts(start - DAY),
            "approved_by": "physician",
            "approved_at": _ts(start - DAY),
            "version": 1,
        },
    )
    return Plans(ids, patient, earlier, sessions, start, ids[~earlier])


def _sessions(b: Block, plans: Plans) -> Sessions:
    """Sessions two days apart from each plan's start; the latest plan's run until discontinued."""
    rng, k = b.rng, plans.sessions
    number = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k) + 1
    patient = np.repeat(plans.patient, k)
    earlier = np.repeat(plans.earlier, k)
    ran = earlier | (number <= b.clinic.completed[patient - 1])
    t0 = (
        np.repeat(plans.start_s, k)
        + (number - 1) * 2 * DAY
        + 8 * 3600
        + rng.integers(0, 6 * 3600, number.size)
    )
    minutes = rng.integers(150, 300, number.size)
    t_end = t0 + minutes * 60
    ids = b.ids("infusion_sessions", number.size)
    none = _nulls(number.size)

    def when_run(values: Any) -> Array:
        return np.where(ran, values, none)

    b.copy(
        "infusion_sessions",
        {
            "id": ids,
            "plan_id": np.repeat(plans.id, k),
            "session_number": number,
            "patient_id": patient,
            "state": np.where(ran, "signed", "scheduled"),
            "scheduled_on": _day(t0),
            "drug": "ketamine",
            "model_key": "domino1984",
            "context_id": "chronic_pain",
            "concentration_mg_ml": 1.0,
            "dosing_weight_kg": 70.0,
            "cadence": "standard",
            "checkin_json": CHECKIN,
            "discharge_json": np.where(ran, DISCHARGE, "{}"),
            "end_state": when_run("completed"),
            "created_by": "nurse",
            "created_at": _ts(t0 - 7 * DAY),
            "checked_in_at": when_run(_ts(t0 - 900)),
            "started_at": when_run(_ts(t0)),
            "ended_at": when_run(_ts(t_end)),
            "discharged_at": when_run(_ts(t_end + 3600)),
            "signed_at": when_run(_ts(t_end + 4000)),
            "signed_by": when_run("physician"),
        },
    )
    return Sessions(ids, patient, earlier, ran, t0, t_end, minutes)


def _charting(b: Block, s: Sessions) -> None:
    """Rate segments, medications, adverse events and observations of the sessions run."""
    rng = b.rng
    sid, t0, t_end, minutes = s.id[s.ran], s.t0[s.ran], s.t_end[s.ran], s.minutes[s.ran]
    m = sid.size
    rate = np.round(rng.normal(35, 8, m).clip(10, 70), 1)
    # Segments: start; a change 30-60 min in; for some a second change; stop at the end.
    two = rng.random(m) < 0.2
    change = t0 + rng.integers(30, 60, m) * 60
    seg_sid = np.concatenate([sid, sid, sid[two], sid])
    seg_t = np.concatenate([t0, change, (change + (minutes // 3) * 60)[two], t_end])
    seg_rate = np.concatenate([rate, np.round(rate * 1.3, 1), np.round(rate[two] * 1.5, 1), np.zeros(m)])
    kind = np.repeat(["start", "change", "change", "stop"], [m, m, int(two.sum()), m])
    order = np.lexsort((seg_t, seg_sid))
    seg_rate, seg_t = seg_rate[order], seg_t[order]
    b.copy(
        "session_rate_segments",
        {
            "id": b.ids("session_rate_segments", order.size),
            "session_id": seg_sid[order],
            "kind": kind[order],
            "started_at": _ts(seg_t),
            "pump_ml_h": seg_rate,
            "concentration_mg_ml": 1.0,
            "rate_mg_h": seg_rate,
            "rate_mg_kg_h": np.round(seg_rate / 70.0, 4),
            "weight_kg": 70.0,
            "entered_as": "mg_kg_h",
            "verdict": "ok",
            "check_json": CHECK,
            "limit_reason": "",
            "planned_rate_mg_h": seg_rate,
            "deviation": False,
            "deviation_reason": "",
            "charted_by": "nurse",
            "charted_at": _ts(seg_t + 30),
        },
    )
    # Medications: a ketamine bolus in some sessions, ondansetron before others.
    bolus, anti = rng.random(m) < 0.15, rng.random(m) < 0.2
    nb, na = int(bolus.sum()), int(anti.sum())
    med_t = np.concatenate([t0[bolus] + 1200, t0[anti] - 600])
    order = np.lexsort((med_t, np.concatenate([sid[bolus], sid[anti]])))
    name = np.concatenate(
        [np.where(rng.random(nb) < 0.9, "ketamine", "Ketamine"), np.full(na, "ondansetron")]
    )
    b.copy(
        "session_medications",
        {
            "id": b.ids("session_medications", order.size),
            "session_id": np.concatenate([sid[bolus], sid[anti]])[order],
            "purpose": np.repeat(["bolus", "premedication"], [nb, na])[order],
            "medication": name[order],
            "dose": np.concatenate([np.round(rng.uniform(5, 25, nb), 1), np.full(na, 4.0)])[order],
            "unit": "mg",
            "route": "iv",
            "given_at": _ts(med_t[order]),
            "check_json": "{}",
            "reason": "",
            "note": "",
            "charted_by": "nurse",
            "charted_at": _ts(med_t[order] + 60),
        },
    )
    ae = rng.random(m) < 0.06
    onset = t0[ae] + 3600
    b.copy(
        "session_adverse_events",
        {
            "id": b.ids("session_adverse_events", int(ae.sum())),
            "session_id": sid[ae],
            "kind": AE_KINDS[rng.integers(0, AE_KINDS.size, int(ae.sum()))],
            "severity": "mild",
            "onset_at": _ts(onset),
            "cp_at_onset_ng_ml": np.round(rng.uniform(100, 400, int(ae.sum())), 1),
            "cp_weight_kg": 70.0,
            "cp_model_key": "domino1984",
            "action": "observed",
            "outcome": "resolved",
            "note": "",
            "charted_by": "nurse",
            "charted_at": _ts(onset + 120),
        },
    )
    _observations(b, sid, t0, minutes)


def _observations(b: Block, sid: Array, t0: Array, minutes: Array) -> None:
    """The charted vital signs, evenly spaced over each session run."""
    counts = b.observations[sid - 1]
    o_sid = np.repeat(sid, counts)
    k = np.arange(o_sid.size) - np.repeat(np.cumsum(counts) - counts, counts)
    at = np.repeat(t0, counts) + k * np.repeat(minutes * 60 // np.maximum(counts, 1), counts)
    pick = b.rng.integers(0, b.pools["vitals"].size, o_sid.size)
    b.copy(
        "session_observations",
        {
            "id": b.ids("session_observations", o_sid.size),
            "session_id": o_sid,
            "observed_at": _ts(at),
            "phase": np.where(k == 0, "baseline", "infusion"),
            "values_json": b.pools["vitals"][pick],
            "interpretation_json": b.pools["interpretation"][pick % b.pools["interpretation"].size],
            "loinc_json": LOINC,
            "charted_by": "nurse",
            "charted_at": _ts(at + 20),
        },
    )


def _courses_and_answers(b: Block, plans: Plans, s: Sessions) -> None:
    """Treatment courses (an earlier one for some) and the PRO answers of each patient's latest."""
    c, n, rng, pid = b.clinic, b.n, b.rng, b.pid
    latest = ~s.earlier & s.ran
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.zeros(n, dtype=np.int64)
    np.minimum.at(first, s.patient[latest] - 1 - b.lo, s.t0[latest])
    np.maximum.at(last, s.patient[latest] - 1 - b.lo, s.t_end[latest])
    reason = DISCONTINUED[b.of(c.discontinued)]
    running = (rng.random(n) < 0.02) & (reason == "none")
    earlier_pid = plans.patient[plans.earlier]
    earlier_start = c.start_s[earlier_pid - 1] - 365 * DAY
    e = earlier_pid.size
    # Earlier courses first: a patient's latest course has the higher id.
    ids = b.ids("treatment_courses", e + n)
    b.copy(
        "treatment_courses",
        {
            "id": ids,
            "patient_id": np.concatenate([earlier_pid, pid]),
            "plan_id": np.concatenate(
                [plans.id[plans.earlier], np.where(b.of(c.no_plan), _nulls(n), plans.latest.astype(object))]
            ),
            "started_on": np.concatenate([_day(earlier_start), _day(first)]),
            "series_end": np.concatenate(
                [_day(earlier_start + 5 * DAY), np.where(running, _nulls(n), _day(last).astype(object))]
            ),
            "sessions_planned": np.concatenate(
                [
                    np.full(e, EARLIER_SESSIONS),
                    np.where(b.of(c.earlier), c.per_patient - EARLIER_SESSIONS, c.per_patient),
                ]
            ),
            "endpoint_weeks": np.concatenate([_nulls(e), np.where(rng.random(n) < 0.1, 12, _nulls(n))]),
            "discontinued": np.concatenate([np.full(e, "none"), reason]),
            "created_at": _ts(np.concatenate([earlier_start, first]) - DAY),
            "synthetic": True,
            "version": 1,
        },
    )
    course = ids[e:]
    base = b.of(c.baseline).astype(np.float64)
    # After-series follow-ups at the schedule's weeks (some missing, a few answered twice: the newer counts).
    f = np.repeat(np.arange(n), FOLLOWUP_WEEKS.size)
    weeks = np.tile(FOLLOWUP_WEEKS, n)
    keep = (~b.of(c.lost_to_followup) & ~running)[f] & (rng.random(f.size) < 0.93)
    f, weeks = f[keep], weeks[keep]
    twice = rng.random(f.size) < 0.03
    f, weeks = np.concatenate([f, f[twice]]), np.concatenate([weeks, weeks[twice]])
    relieved = weeks < b.of(c.relief_weeks)[f]
    level = np.where(relieved, base[f] * 0.35, base[f] * 0.92)
    f_nrs = np.rint((level + rng.normal(0, 0.6, f.size)).clip(0, 10))
    later = np.concatenate([np.zeros(int(keep.sum()), np.int64), np.full(int(twice.sum()), DAY)])
    f_at = last[f] + weeks * 7 * DAY + later
    # After-session checks for half the sessions run, and a baseline questionnaire per course.
    checked = np.flatnonzero(latest & (rng.random(s.ran.size) < 0.5))
    a = s.patient[checked] - 1 - b.lo
    a_nrs = np.rint((base[a] * 0.6 + rng.normal(0, 1.0, a.size)).clip(0, 10))
    who = np.concatenate([np.arange(n), a, f])
    nrs = np.concatenate([np.clip(base + rng.integers(-1, 2, n), 0, 10), a_nrs, f_nrs])
    timepoint = np.repeat(["baseline", "after_session", "after_series"], [n, a.size, f.size])
    week = np.concatenate([_nulls(n + a.size), weeks.astype(object)])
    at = np.concatenate([first - 3 * DAY, s.t_end[checked] + DAY, f_at])
    order = np.lexsort((at, who))
    nrs = nrs[order]
    b.copy(
        "pro_responses",
        {
            "id": b.ids("pro_responses", order.size),
            "patient_id": pid[who[order]],
            "course_id": course[who[order]],
            "timepoint": timepoint[order],
            "weeks_after_series": week[order],
            "collected_at": _ts(at[order]),
            "via": np.where(rng.random(order.size) < 0.7, "link", "staff"),
            "nrs_recall": "24h",
            "nrs_now": nrs,
            "nrs_average": nrs,
            "nrs_worst": np.minimum(nrs + 1, 10),
            "pain_nrs": nrs,
            "answers_json": b.pools["answers"][nrs.astype(np.int64)],
            "synthetic": True,
        },
    )
