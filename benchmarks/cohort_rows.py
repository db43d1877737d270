"""The rows of a synthetic clinic, block by block of patients: patients, intakes, plans and sessions."""

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


def ts(seconds: Array) -> Array:
    """Seconds after EPOCH as ISO UTC timestamps (COPY text)."""
    return np.datetime_as_string(EPOCH + seconds.astype("timedelta64[s]"), unit="s", timezone="UTC")


def day(seconds: Array) -> Array:
    return np.datetime_as_string((EPOCH + seconds.astype("timedelta64[s]")).astype("datetime64[D]"))


def nulls(n: int) -> Array:
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


def patients_rows(b: Block) -> None:
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
            "birth_date": day(rng.integers(-60, -20, n) * 365 * DAY),
            "sex": np.where(rng.random(n) < 0.6, "female", "male"),
            "pain_mechanism": mechanism,
            "pain_duration_months": rng.integers(6, 240, n),
            "notes": "",
            "synthetic": True,
            "created_at": ts(b.of(b.clinic.start_s) - 30 * DAY),
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


def screenings_rows(b: Block) -> None:
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
    when = ts(np.concatenate([start[older] - 200 * DAY, start - 20 * DAY])[order])
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


def plans_rows(b: Block) -> Plans:
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
            "start_date": day(start),
            "session_count": sessions,
            "series_total_mg": 0.0,
            "inputs_json": "{}",
            "plan_json": PLAN,
            "soft_reasons_json": "{}",
            "created_by": "physician",
            "created_at": ts(start - DAY),
            "approved_by": "physician",
            "approved_at": ts(start - DAY),
            "version": 1,
        },
    )
    return Plans(ids, patient, earlier, sessions, start, ids[~earlier])


def sessions_rows(b: Block, plans: Plans) -> Sessions:
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
    none = nulls(number.size)

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
            "scheduled_on": day(t0),
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
            "created_at": ts(t0 - 7 * DAY),
            "checked_in_at": when_run(ts(t0 - 900)),
            "started_at": when_run(ts(t0)),
            "ended_at": when_run(ts(t_end)),
            "discharged_at": when_run(ts(t_end + 3600)),
            "signed_at": when_run(ts(t_end + 4000)),
            "signed_by": when_run("physician"),
        },
    )
    return Sessions(ids, patient, earlier, ran, t0, t_end, minutes)
