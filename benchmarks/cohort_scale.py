"""Benchmark: the full cohort report on 100,000 patients, 1,000,000 sessions, 20,000,000 observations.

    .venv-bench/bin/python benchmarks/cohort_scale.py [--patients 100000] [--sessions-per-patient 10]
                                                      [--observations-per-patient 200]
    .venv-bench/bin/python benchmarks/cohort_scale.py --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres
                                                      [--database cohort_scale] [--keep | --reuse]
                                                      [--runs 3] [--explain FILE]

Without --db, the columns are generated with NumPy and loaded into an in-memory DuckDB database (no
ORM). The report then runs the way the clinic's own report does, with every per-patient quantity
aggregated in SQL (GROUP BY patient): sessions completed, dose received and adverse events from the
sessions table; the endpoint NRS, weeks of relief and whether relief is ongoing from the observation
table (timed pain ratings after the series). The per-patient arrays go to `Cohort.from_columns` and
`analyse_cohort` (Wilson intervals, Fisher/chi-square, Wilcoxon, Kaplan-Meier, log-rank, logistic
regression). Generation and report times are printed separately.

With --db URL (a PostgreSQL server the URL's role may create databases on), a fresh database
(`--database`, dropped afterwards unless --keep) is migrated with the project's migrations and the
clinic's real tables are filled with COPY (benchmarks/cohort_tables.py): patients, diagnoses,
screening intakes, plans, courses, infusion sessions with rate segments, boluses and adverse events,
the charted observations, the PRO answers. `ketaclinic cohort report --db URL --json` is then timed
as a whole process (best of --runs, peak RSS from /usr/bin/time), beside the DuckDB figure of the
same run. --explain FILE writes EXPLAIN (ANALYZE, BUFFERS) of each query the report runs; --reuse
times again on a database a --keep run left. Try --patients 10000 first: at 100,000 the load takes
minutes and about 10 GB of disk.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ketaclinic.outcomes import Cohort, analyse_cohort
from ketaclinic.outcomes.definitions import relief_margin_pct

DIAGNOSES = np.array(["G50.0", "G50.1", "G90.50", "M79.7", "B02.23", "E11.42", "G89.4"])
MECHANISM_OF = {
    "G50.0": "neuropathic",
    "G50.1": "nociplastic",
    "G90.50": "nociplastic",
    "M79.7": "nociplastic",
    "B02.23": "neuropathic",
    "E11.42": "neuropathic",
    "G89.4": "nociceptive",
}
RESPONSE = np.array([0.8, 0.25, 0.5, 0.4, 0.55, 0.5, 0.35])  # synthetic chance of relief per diagnosis
AE_KINDS = ["nausea", "dissociation", "hypertension", "headache"]
DISCONTINUED = np.array(["none", "lack_of_effect", "adverse_event", "other"])
ENDPOINT_WEEKS = 12


def machine() -> str:
    """nproc, CPU model, Python and NumPy versions."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} CPUs, {cpu}, Python {platform.python_version()}, NumPy {np.__version__}"


def generate(con: Any, n: int, per_patient: int, obs_per_patient: int) -> None:
    """Synthetic patients, sessions and observations as DuckDB tables (NumPy columns, no ORM)."""
    rng = np.random.default_rng(20240101)
    dx = rng.integers(0, DIAGNOSES.size, n)
    responder = rng.random(n) < RESPONSE[dx]
    baseline = rng.integers(5, 11, n).astype(np.float64)
    planned = np.full(n, per_patient, dtype=np.int64)
    stop = rng.random(n)
    discontinued = np.where(stop < 0.05, np.where(responder, 3, 1), np.where(stop < 0.08, 2, 0))
    patients = pd.DataFrame(
        {
            "patient_id": np.arange(n, dtype=np.int64),
            "dx": dx.astype(np.int8),
            "baseline_nrs": baseline,
            "sessions_planned": planned,
            "discontinued": discontinued.astype(np.int8),
        }
    )
    # Sessions: every patient has `per_patient` scheduled; dropouts stop early.
    sid_patient = np.repeat(np.arange(n, dtype=np.int64), per_patient)
    number = np.tile(np.arange(1, per_patient + 1, dtype=np.int16), n)
    last_done = np.where(discontinued > 0, rng.integers(1, per_patient, n), per_patient)
    completed = number <= last_done[sid_patient]
    sessions = pd.DataFrame(
        {
            "patient_id": sid_patient,
            "session_number": number,
            "completed": completed,
            "dose_mg": np.where(completed, rng.normal(140, 35, sid_patient.size).clip(20, 400), 0.0),
            "ae": np.where(
                rng.random(sid_patient.size) < 0.06, rng.integers(0, len(AE_KINDS), sid_patient.size), -1
            ).astype(np.int8),
        }
    )
    # Observations: timed pain ratings, `obs_per_patient` each: during the series (week <= 0) and after it.
    # Patients lost to follow-up have only their in-series ratings.
    o_patient = np.repeat(np.arange(n, dtype=np.int64), obs_per_patient)
    week = np.tile(np.linspace(-2.0, 26.0, obs_per_patient), n)
    missing_followup = rng.random(n) < 0.08
    week = np.where(missing_followup[o_patient] & (week > 0), -week / 13.0, week)
    base = baseline[o_patient]
    relief_ends = np.where(responder, rng.gamma(4.0, 6.0, n), rng.uniform(0, 1.0, n))[o_patient]
    level = np.where(week < relief_ends, base * 0.35, base * 0.92)
    value = np.rint((level + rng.normal(0, 0.6, o_patient.size)).clip(0, 10))
    observations = pd.DataFrame({"patient_id": o_patient, "week": week, "nrs": value.astype(np.float32)})
    for name, frame in (("patients", patients), ("sessions", sessions), ("observations", observations)):
        con.register(f"{name}_df", frame)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_df")
        con.unregister(f"{name}_df")


REPORT_SQL = """
WITH s AS (
    SELECT patient_id,
           count(*) FILTER (WHERE completed) AS sessions_completed,
           sum(dose_mg) AS total_dose_mg
    FROM sessions GROUP BY patient_id
), ae AS (
    SELECT patient_id, ae, count(*) AS n FROM sessions WHERE ae >= 0 GROUP BY patient_id, ae
), ae_wide AS (
    SELECT patient_id, {ae_columns} FROM ae GROUP BY patient_id
), o AS (
    SELECT ob.patient_id,
           arg_max(ob.nrs, ob.week) FILTER (WHERE ob.week > 0 AND ob.week <= {endpoint}) AS followup_nrs,
           min(ob.week) FILTER (
               WHERE ob.week > 0 AND (p.baseline_nrs - ob.nrs) / p.baseline_nrs * 100 < {margin}
           ) AS lost_week,
           max(ob.week) FILTER (WHERE ob.week > 0) AS last_week
    FROM observations ob JOIN patients p USING (patient_id)
    GROUP BY ob.patient_id
)
SELECT p.patient_id, p.dx, p.baseline_nrs, p.sessions_planned, p.discontinued,
       s.sessions_completed, s.total_dose_mg, o.followup_nrs, o.lost_week, o.last_week,
       {ae_select}
FROM patients p
LEFT JOIN s USING (patient_id) LEFT JOIN o USING (patient_id) LEFT JOIN ae_wide USING (patient_id)
ORDER BY p.patient_id
"""


def report(con: Any) -> dict[str, Any]:
    """Per-patient aggregates in DuckDB, then the pure outcomes analysis on the column arrays."""
    ae_columns = ", ".join(f"sum(n) FILTER (WHERE ae = {i}) AS ae_{i}" for i in range(len(AE_KINDS)))
    ae_select = ", ".join(f"coalesce(ae_wide.ae_{i}, 0) AS ae_{i}" for i in range(len(AE_KINDS)))
    sql = REPORT_SQL.format(
        ae_columns=ae_columns, ae_select=ae_select, endpoint=ENDPOINT_WEEKS, margin=relief_margin_pct().value
    )
    cols = {k: v for k, v in con.execute(sql).fetchnumpy().items()}

    def floats(name: str) -> np.ndarray:
        column = cols[name]
        if np.ma.isMaskedArray(column):
            return np.ma.filled(column.astype(np.float64), np.nan)
        return np.asarray(column, dtype=np.float64)

    lost = floats("lost_week")
    last = floats("last_week")
    diagnosis = DIAGNOSES[np.asarray(cols["dx"], dtype=np.int64)]
    mechanisms = np.array([MECHANISM_OF[d] for d in DIAGNOSES])[np.asarray(cols["dx"], dtype=np.int64)]
    cohort = Cohort.from_columns(
        patient_id=np.asarray(cols["patient_id"]).astype(str),
        diagnosis=diagnosis,
        pain_mechanism=mechanisms,
        baseline_nrs=floats("baseline_nrs"),
        followup_nrs=floats("followup_nrs"),
        discontinued=DISCONTINUED[np.asarray(cols["discontinued"], dtype=np.int64)],
        relief_weeks=np.where(np.isnan(lost), last, lost),
        relief_ongoing=np.where(np.isnan(last), np.nan, np.isnan(lost).astype(np.float64)),
        sessions_planned=floats("sessions_planned"),
        sessions_completed=floats("sessions_completed"),
        total_dose_mg=floats("total_dose_mg"),
        adverse_event_counts={kind: floats(f"ae_{i}").astype(np.int64) for i, kind in enumerate(AE_KINDS)},
        metadata={"synthetic": True, "source": "benchmarks/cohort_scale.py"},
    )
    return analyse_cohort(cohort, compare=("diagnosis", ["G50.0", "G50.1"]))


def duckdb_run(args: argparse.Namespace) -> dict[str, float] | None:
    """Generate the columns into an in-memory DuckDB and time the report (best of 3); None without DuckDB."""
    try:
        import duckdb
    except ImportError:
        print("DuckDB: not installed (benchmarks/requirements-bench.txt); no in-memory figure")
        return None
    con = duckdb.connect()
    t0 = time.perf_counter()
    generate(con, args.patients, args.sessions_per_patient, args.observations_per_patient)
    t_gen = time.perf_counter() - t0
    tables = ("patients", "sessions", "observations")
    counts = [int(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]) for t in tables]
    print(
        f"DuckDB {duckdb.__version__} in memory: generated {counts[0]:,} patients, {counts[1]:,} sessions, "
        f"{counts[2]:,} observations in {t_gen:.2f} s"
    )
    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        result = report(con)
        timings.append(time.perf_counter() - t0)
    print(
        f"DuckDB full cohort report (in process): best {min(timings):.2f} s, first {timings[0]:.2f} s "
        "(3 runs); "
        f"n = {result['n']:,}, responder rate {result['responder_rate']:.3f} "
        f"(95 % CI {result['ci95'][0]:.3f}-{result['ci95'][1]:.3f}), "
        f"TN vs AFP p = {result['comparison']['p_value']:.2g}, "
        f"logistic fitted: {result['logistic']['fitted']}"
    )
    con.close()
    return {"generate_s": t_gen, "best_s": min(timings), "first_s": timings[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--sessions-per-patient", type=int, default=10)
    parser.add_argument("--observations-per-patient", type=int, default=200)
    parser.add_argument(
        "--db", help="PostgreSQL server URL (postgresql+psycopg://...): load the clinic's tables"
    )
    parser.add_argument("--database", default="cohort_scale", help="the database created for the run")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="time the command on the database a --keep run left (no load)"
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs of the command (best of)")
    parser.add_argument("--explain", type=Path, help="write EXPLAIN (ANALYZE, BUFFERS) of each query to FILE")
    args = parser.parse_args()
    print(machine())
    if args.db is None:
        duckdb_run(args)
        return
    from cohort_pg import pg_run

    figures = pg_run(args)
    in_memory = duckdb_run(args)
    print(
        f"summary: PostgreSQL `cohort report --db --json` whole process best {figures['best_s']:.2f} s "
        f"(peak RSS {figures['peak_mb']:.0f} MB); "
        + (
            f"in-memory DuckDB report best {in_memory['best_s']:.2f} s (in process)"
            if in_memory
            else "no DuckDB figure"
        )
    )


if __name__ == "__main__":
    main()
