"""What the synthetic clinic's sessions charted, and its courses with their answers (see cohort_rows)."""

from __future__ import annotations

import numpy as np
from cohort_rows import (
    AE_KINDS,
    CHECK,
    DAY,
    DISCONTINUED,
    EARLIER_SESSIONS,
    FOLLOWUP_WEEKS,
    LOINC,
    Array,
    Block,
    Plans,
    Sessions,
    day,
    nulls,
    patients_rows,
    plans_rows,
    screenings_rows,
    sessions_rows,
    ts,
)


def write_block(b: Block) -> None:
    """Every table's rows for the block's patients, ids continuing from the previous block."""
    patients_rows(b)
    screenings_rows(b)
    plans = plans_rows(b)
    sessions = sessions_rows(b, plans)
    _charting(b, sessions)
    _courses_and_answers(b, plans, sessions)


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
            "started_at": ts(seg_t),
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
            "charted_at": ts(seg_t + 30),
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
            "given_at": ts(med_t[order]),
            "check_json": "{}",
            "reason": "",
            "note": "",
            "charted_by": "nurse",
            "charted_at": ts(med_t[order] + 60),
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
            "onset_at": ts(onset),
            "cp_at_onset_ng_ml": np.round(rng.uniform(100, 400, int(ae.sum())), 1),
            "cp_weight_kg": 70.0,
            "cp_model_key": "domino1984",
            "action": "observed",
            "outcome": "resolved",
            "note": "",
            "charted_by": "nurse",
            "charted_at": ts(onset + 120),
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
            "observed_at": ts(at),
            "phase": np.where(k == 0, "baseline", "infusion"),
            "values_json": b.pools["vitals"][pick],
            "interpretation_json": b.pools["interpretation"][pick % b.pools["interpretation"].size],
            "loinc_json": LOINC,
            "charted_by": "nurse",
            "charted_at": ts(at + 20),
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
                [plans.id[plans.earlier], np.where(b.of(c.no_plan), nulls(n), plans.latest.astype(object))]
            ),
            "started_on": np.concatenate([day(earlier_start), day(first)]),
            "series_end": np.concatenate(
                [day(earlier_start + 5 * DAY), np.where(running, nulls(n), day(last).astype(object))]
            ),
            "sessions_planned": np.concatenate(
                [
                    np.full(e, EARLIER_SESSIONS),
                    np.where(b.of(c.earlier), c.per_patient - EARLIER_SESSIONS, c.per_patient),
                ]
            ),
            "endpoint_weeks": np.concatenate([nulls(e), np.where(rng.random(n) < 0.1, 12, nulls(n))]),
            "discontinued": np.concatenate([np.full(e, "none"), reason]),
            "created_at": ts(np.concatenate([earlier_start, first]) - DAY),
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
    week = np.concatenate([nulls(n + a.size), weeks.astype(object)])
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
            "collected_at": ts(at[order]),
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
