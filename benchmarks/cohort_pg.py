"""The PostgreSQL half of cohort_scale.py: a fresh database, the clinic's tables loaded, the command timed."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from cohort_tables import TABLES, load_clinic, loaded_bytes
from process_timing import KETACLINIC, best_of
from sqlalchemy.engine import make_url

from ketaclinic.store.db import make_engine
from ketaclinic.store.migrate import upgrade


def _conninfo(url: str) -> str:
    """A SQLAlchemy URL as psycopg connects to it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def load_average() -> str:
    """The 1-minute load average (other work on the machine slows every figure)."""
    return f"{os.getloadavg()[0]:.2f}"


def _explain(url: str, path: Path) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every query the clinic cohort runs, written to `path`."""
    from sqlalchemy import event

    from ketaclinic.services.outcomes.facts import clinic_cohort
    from ketaclinic.store.db import Database

    database = Database.from_url(url)
    seen: list[tuple[str, Any]] = []

    def capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", capture)
    with database.read() as session:
        clinic_cohort(session)
    event.remove(database.engine, "before_cursor_execute", capture)
    lines = []
    with database.engine.connect() as connection:
        connection.exec_driver_sql("SET jit = off")  # as the report's own transaction runs them
        connection.exec_driver_sql("SET work_mem = '32MB'")
        for statement, parameters in seen:
            plan = [
                row[0]
                for row in connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            ]
            lines.append(f"-- query\n{statement}\n-- parameters {parameters}\n" + "\n".join(plan) + "\n")
            indexes = sorted({w for row in plan for w in row.split() if w.startswith(("ix_", "pk_"))})
            took = next((row for row in plan if row.startswith("Execution Time")), "")
            print(f"  EXPLAIN: {took}; indexes used: {', '.join(indexes) or 'none'}")
        connection.rollback()
    database.dispose()
    path.write_text("\n".join(lines), encoding="utf-8")
    print(f"  plans written to {path}")


STAGES = """
import io, json, sys, time
t0 = time.perf_counter()
from ketaclinic.outcomes.analysis import analyse_cohort
from ketaclinic.services.outcomes.facts import clinic_cohort
from ketaclinic.store.db import Database
from ketaclinic.store.migrate import upgrade
t1 = time.perf_counter()
db = Database.from_url(sys.argv[1])
upgrade(db.engine)
t2 = time.perf_counter()
with db.read() as session:
    cohort = clinic_cohort(session)
t3 = time.perf_counter()
result = analyse_cohort(cohort)
t4 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1, t3 - t2, t4 - t3]))
"""


def _stages(url: str, env: dict[str, str]) -> None:
    """Where one run's time goes, in a fresh process: imports, migration check, reading, analysis."""
    done = subprocess.run(
        [KETACLINIC[0], "-c", STAGES, url], capture_output=True, text=True, env=env, check=True
    )
    imports, migrate, read, analyse = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"  in one fresh process: imports {imports:.2f} s, migration check {migrate:.2f} s, clinic cohort "
        f"read (3 queries, 2 connections) and built by columns {read:.2f} s, analyse_cohort {analyse:.2f} s "
        "(its first fit imports statsmodels)"
    )


def _load(url: str, args: argparse.Namespace) -> None:
    """Migrate the fresh database and fill it, printing the time of each step."""
    t0 = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    t_migrate = time.perf_counter() - t0
    with psycopg.connect(_conninfo(url)) as conn:
        t0 = time.perf_counter()
        loaded = load_clinic(conn, args.patients, args.sessions_per_patient, args.observations_per_patient)
        t_load = time.perf_counter() - t0
        conn.autocommit = True
        t0 = time.perf_counter()
        conn.execute(f"ANALYZE {', '.join(TABLES)}")
        t_analyze = time.perf_counter() - t0
        size = loaded_bytes(conn)
    print(
        f"migrated in {t_migrate:.2f} s; loaded in {t_load:.1f} s (generated and COPied "
        f"{loaded['copy_s']:.1f} s, {loaded['indexes_rebuilt']} indexes built again "
        f"{loaded['index_s']:.1f} s); "
        f"ANALYZE {t_analyze:.1f} s; load average {load_average()}"
    )
    print("rows: " + ", ".join(f"{table} {n:,}" for table, n in loaded["rows"].items()))
    print(f"clinic tables on disk, indexes included: {size / 1e9:.2f} GB")


def pg_run(args: argparse.Namespace) -> dict[str, float]:
    """Create and fill the database (or --reuse it), time the command, drop it unless --keep."""
    admin = psycopg.connect(_conninfo(args.db), autocommit=True)
    server = admin.execute("SHOW server_version").fetchone()
    print(f"PostgreSQL {server[0] if server else '?'} at {make_url(args.db).host}")
    url = make_url(args.db).set(database=args.database).render_as_string(hide_password=False)
    if not args.reuse:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}"')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    try:
        if args.reuse:
            print(f"reusing database {args.database} as loaded before")
        else:
            _load(url, args)
        if args.explain is not None:
            _explain(url, args.explain)
        return _time_command(url, args.runs)
    finally:
        if args.keep or args.reuse:
            print(f"kept database {args.database}")
        else:
            admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.close()


def _time_command(url: str, runs: int) -> dict[str, float]:
    """`ketaclinic cohort report --db URL --json` as a whole process: once for its answer, then best of."""
    argv = [*KETACLINIC, "cohort", "report", "--db", url, "--json"]
    with tempfile.TemporaryDirectory() as var:
        env = {**os.environ, "KETACLINIC_VAR_DIR": var, "KETACLINIC_SECRET_KEY": "cohort-scale-benchmark"}
        t0 = time.perf_counter()
        first = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        t_first = time.perf_counter() - t0
        if first.returncode != 0:
            raise SystemExit(f"cohort report failed ({first.returncode}): {first.stderr}")
        result = json.loads(first.stdout)
        before = load_average()
        best, median, worst, peak_mb = best_of(argv, runs, env, via_time=True)
        print(
            f"`ketaclinic cohort report --db URL --json`, whole process: best {best:.2f} s, "
            f"median {median:.2f} s, worst {worst:.2f} s of {runs} (first run {t_first:.2f} s), "
            f"peak RSS {peak_mb:.0f} MB (/usr/bin/time), load average {before} before, {load_average()} after"
        )
        print(
            f"  n = {result['n']:,}, responder rate {result['responder_rate']:.3f} "
            f"(95 % CI {result['ci95'][0]:.3f}-{result['ci95'][1]:.3f}), "
            f"{result['comparison'].get('field')} p = {result['comparison'].get('p_value')}, "
            f"logistic fitted: {result['logistic']['fitted']}"
        )
        _stages(url, env)
    return {"best_s": best, "median_s": median, "worst_s": worst, "first_s": t_first, "peak_mb": peak_mb}
