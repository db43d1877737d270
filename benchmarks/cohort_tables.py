"""A synthetic clinic in the clinic's own PostgreSQL tables: NumPy columns loaded with COPY (no ORM).

`load_clinic(conn, n, sessions_per_patient, observations_per_patient)` fills patients with their
diagnoses, screening intakes (baseline NRS in the intake JSON), dose plans and treatment courses;
infusion sessions with rate segments (start, changes, stop), ketamine boluses and other medications,
adverse events and the charted observations (vital signs every few minutes); and the PRO answers
(a baseline questionnaire, after-session checks, after-series follow-ups at the scheduled weeks with
some missing and some answered twice). The rows come from cohort_rows.py and cohort_charts.py, block by
block of patients.

The tables are truncated and loaded in one transaction with `COPY ... FREEZE`, so the rows are
visible to index-only scans without a VACUUM; foreign-key triggers are skipped
(`session_replication_role = replica`: the generator's ids are consistent by construction); the
indexes that back no constraint are dropped first and built again after the load (one sort each
instead of 20 million random inserts), so the schema ends as the migrations made it.
"""

from __future__ import annotations

import csv
import queue
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
from cohort_charts import write_block
from cohort_rows import Block, Clinic, text_pools

BLOCK = 2_000  # patients per block of COPY text
TABLES = (
    "patients",
    "patient_diagnoses",
    "screenings",
    "dose_plans",
    "treatment_courses",
    "infusion_sessions",
    "session_rate_segments",
    "session_medications",
    "session_adverse_events",
    "session_observations",
    "pro_responses",
)


class Writer:
    """COPY text for one table at a time, ids counted on across blocks; `send` takes each piece."""

    def __init__(self, send: Any) -> None:
        self.send = send
        self.next_id = dict.fromkeys(TABLES, 1)
        self.rows = dict.fromkeys(TABLES, 0)

    def ids(self, table: str, count: int) -> Any:
        start = self.next_id[table]
        self.next_id[table] = start + count
        return np.arange(start, start + count, dtype=np.int64)

    def copy(self, table: str, columns: dict[str, Any]) -> None:
        frame = pd.DataFrame(columns)
        if frame.empty:
            return
        # COPY text: tab-separated, \N for NULL, nothing quoted (the JSON texts hold no tab or backslash).
        text = frame.to_csv(
            sep="\t",
            header=False,
            index=False,
            na_rep="\\N",
            lineterminator="\n",
            quoting=csv.QUOTE_NONE,
            quotechar="\x07",
        )
        self.send((table, ", ".join(f'"{c}"' for c in frame.columns), text))
        self.rows[table] += len(frame)


def _plain_indexes(cur: Any) -> list[tuple[str, str]]:
    """(name, CREATE INDEX ...) of the loaded tables' indexes that back no constraint."""
    cur.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
        "AND i.tablename = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)",
        (list(TABLES),),
    )
    return [(str(name), str(definition)) for name, definition in cur.fetchall()]


def load_clinic(
    conn: Any, n: int, per_patient: int, obs_per_patient: int, *, seed: int = 20240101
) -> dict[str, Any]:
    """Truncate and fill the clinic's tables in one transaction: rows per table, and seconds per step.

    A thread formats block after block while this one COPYs the previous (2 CPUs: one each).
    """
    rng = np.random.default_rng(seed)
    clinic = Clinic.draw(rng, n, per_patient)
    pools = text_pools(rng)
    # Observations per session run, so that the clinic holds n x obs_per_patient in all.
    run = clinic.sessions_run()
    total = n * obs_per_patient
    observations = np.zeros(n * per_patient, dtype=np.int64)  # by session id - 1 (ids follow the blocks)
    observations[run] = total // max(run.size, 1)
    observations[run[: total - int(observations.sum())]] += 1
    work: queue.Queue[tuple[str, str, str] | None] = queue.Queue(maxsize=24)
    writer = Writer(work.put)
    failed: list[BaseException] = []

    def produce() -> None:
        try:
            for lo in range(0, n, BLOCK):
                block = Block(
                    clinic, lo, min(n, lo + BLOCK), writer.ids, writer.copy, rng, pools, observations
                )
                write_block(block)
        except BaseException as exc:  # handed to the loading thread, which raises it
            failed.append(exc)
        finally:
            work.put(None)

    seconds: dict[str, float] = {}
    with conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # no FK triggers: ids are consistent
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute("SET maintenance_work_mem = '1GB'")
        cur.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
        indexes = _plain_indexes(cur)
        for name, _definition in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        t0 = time.perf_counter()
        producer = threading.Thread(target=produce, name="cohort-rows")
        producer.start()
        while (item := work.get()) is not None:
            table, names, text = item
            with cur.copy(f"COPY {table} ({names}) FROM STDIN (FREEZE)") as copy:
                copy.write(text)
        producer.join()
        if failed:
            raise failed[0]
        seconds["copy_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _name, definition in indexes:
            cur.execute(definition)
        seconds["index_s"] = time.perf_counter() - t0
        for table in TABLES:
            last = max(writer.next_id[table] - 1, 1)
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last})")
        cur.execute("SET session_replication_role = origin")
    conn.commit()
    return {"rows": dict(writer.rows), **seconds, "indexes_rebuilt": len(indexes)}


def loaded_bytes(conn: Any) -> int:
    """The clinic tables' size on disk, indexes included."""
    with conn.cursor() as cur:
        cur.execute("SELECT sum(pg_total_relation_size(c)) FROM unnest(%s::regclass[]) AS c", (list(TABLES),))
        row = cur.fetchone()
        return int(row[0]) if row else 0
