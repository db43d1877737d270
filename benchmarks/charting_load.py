"""Charting under load: 20 nurses charting 20 running sessions at once through the real HTTP server, while
open charts hold the live event stream.

For each backend (a fresh SQLite file; a fresh PostgreSQL schema when KETACLINIC_TEST_DATABASE_URL or
--pg is given and reachable), each worker count (--workers; more than 1 only on PostgreSQL) and each
pace: migrate, seed nurses/patients/approved plans/running sessions, start uvicorn with N worker
processes on a free loopback port (charting_server.py), open --subscribers streams of
GET /api/v1/events in a process of their own (charting_streams.py), then let every simulated nurse (one
thread, one httpx client, one bearer token) chart its session: readings (some abnormal, so alerts fire)
and rate changes, bounded by --readings and --seconds.

Reports throughput, p50/p95/p99 latency, the server's CPU (its processes' user + system time from
/proc, as % of one core and per write) and the delivery delay of each reading's event to each stream
(from its write's audit event, the last step before the commit, to arrival; p50/p99). Checks: zero
errors, every reading stored once, alert findings exactly as the rules predict (none lost, none
doubled; each joins its group's one open alert), audit events equal to the writes (one per write;
reading a chart is not done during the load), and every stream saw every reading exactly once (by id)
and as many alert and rate events as were published (charting_report.py prints both tables).

Load shapes (--pace-s): paced runs start one reading per nurse every `pace` seconds (open loop; at 1 s
that is ~900 times the 15-minute clinical cadence) and are held to the p99 < 100 ms target; a pace of 0
fires back to back (closed loop, saturation) and measures capacity, where latency is queueing
(~ nurses / throughput) and the target is not applied. Exit 1 on any correctness failure or a paced
run over target.

    .venv/bin/python benchmarks/charting_load.py [--nurses 20] [--readings 40] [--pace-s 1,0]
        [--workers 1,2] [--subscribers 200] [--backends sqlite,postgresql] [--pg URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from charting_report import passed, print_capacity, print_checks
from charting_server import Server
from charting_streams import Subscribers, delays_ms, stream_checks
from sqlalchemy import func, select, text, update

from ketaclinic.monitoring import evaluate_observation, parse_observation
from ketaclinic.services import accounts, api_tokens
from ketaclinic.services.patients import registry
from ketaclinic.services.permissions import SYSTEM
from ketaclinic.services.plans import lifecycle as plans
from ketaclinic.services.sessions.booking import SessionCreate, create_session
from ketaclinic.services.sessions.infusion_rates import RateIn
from ketaclinic.services.sessions.lifecycle import CheckInIn, check_in, start
from ketaclinic.store.audit import audit_chain_key, count_events
from ketaclinic.store.db import Database, make_engine
from ketaclinic.store.migrate import upgrade
from ketaclinic.store.tables.audit import AuditEvent
from ketaclinic.store.tables.plans import DosePlanRow
from ketaclinic.store.tables.sessions import SessionAlert, SessionAlertFinding, SessionObservation

BENCH_SECRET_KEY = "bench-secret"

P99_TARGET_MS = 100.0
BASELINE: dict[str, float] = {"sbp": 128, "dbp": 78, "hr": 72, "spo2": 98, "nrs": 7}
NORMAL: dict[str, float] = {"sbp": 124, "dbp": 76, "hr": 74, "spo2": 98, "rr": 14, "rass": 0}
ABNORMAL: dict[str, float] = {"sbp": 186, "dbp": 96, "hr": 88, "spo2": 97}
RATES_ML_H = (24.5, 30.0)  # the plan's rate and a deviation (reason given)


@dataclass
class Outcome:
    """What the load run measured."""

    latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    writes: int = 0
    rate_writes: int = 0
    readings: dict[int, int] = field(default_factory=dict)
    observation_ids: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _seed(db: Database, nurses: int) -> list[tuple[int, str]]:
    """Nurses, patients with approved plans, and running sessions: (session id, nurse token) pairs."""
    physician = accounts.create_user(
        db, SYSTEM, username="bench-md", role="physician", password="bench-pass-123"
    )
    out = []
    for i in range(nurses):
        nurse = accounts.create_user(
            db, SYSTEM, username=f"nurse{i}", role="nurse", password="bench-pass-123"
        )
        patient = registry.register_patient(
            db,
            nurse,
            registry.PatientCreate(
                mrn=f"LOAD-{i}",
                family_name="Load",
                given_name=f"P{i}",
                birth_date=date(1970, 1, 1),
                sex="male",
                weight_kg=70,
                height_cm=175,
            ),
            synthetic=True,
            config=None,
        )
        plan = plans.create_plan(
            db, physician, patient.id, plans.PlanCreate(protocol_id="schwartzman2009"), config=None
        )
        # Seed shortcut: approval's prerequisites (screening, consent) are not what is measured here.
        with db.transaction() as session:
            session.execute(update(DosePlanRow).where(DosePlanRow.id == plan.id).values(status="approved"))
        made = create_session(db, nurse, SessionCreate(plan_id=plan.id, session_number=1))
        check_in(
            db,
            nurse,
            made.id,
            CheckInIn.model_validate(BASELINE | {"weight_kg": 70, "premedication_none": True}),
            config=None,
        )
        start(db, nurse, made.id, RateIn(pump_ml_h=RATES_ML_H[0]), config=None)
        _info, token = api_tokens.create_api_token(db, nurse, "bench")
        out.append((made.id, token))
    return out


def _nurse(
    base: str, sid: int, token: str, readings: int, deadline: float, outcome: Outcome, pace_s: float
) -> None:
    """Chart one session; with `pace_s` > 0 a reading starts every `pace_s` seconds (open loop)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        # Nurses do not start in lockstep.
        next_at = time.monotonic() + random.Random(sid).uniform(0, pace_s)
        for n in range(readings):
            if pace_s:
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at += pace_s
            if time.monotonic() > deadline:
                break
            body = ABNORMAL if n % 4 == 1 else NORMAL
            calls: list[tuple[str, dict[str, Any]]] = [(f"/api/v1/sessions/{sid}/observations", body)]
            if n % 6 == 2:
                rate = RATES_ML_H[(n // 6 + 1) % 2]
                change = {"pump_ml_h": rate, "deviation_reason": "load test titration"}
                calls.append((f"/api/v1/sessions/{sid}/rate", change))
            for url, payload in calls:
                _write(client, sid, url, payload, outcome)


def _write(client: httpx.Client, sid: int, url: str, payload: dict[str, Any], outcome: Outcome) -> None:
    began = time.perf_counter()
    try:
        answer = client.post(url, json=payload)
        ok = answer.status_code in (200, 201)
        problem = "" if ok else f"{answer.status_code} {answer.text[:200]}"
    except httpx.HTTPError as exc:
        ok, problem = False, repr(exc)
    elapsed = time.perf_counter() - began
    with outcome.lock:
        outcome.latencies_s.append(elapsed)
        if not ok:
            outcome.errors.append(f"{url}: {problem}")
            return
        outcome.writes += 1
        if url.endswith("/observations"):
            outcome.readings[sid] = outcome.readings.get(sid, 0) + 1
            outcome.observation_ids.add(int(answer.json()["id"]))
        else:
            outcome.rate_writes += 1


def _expected_alerts_per(body: dict[str, float]) -> int:
    baseline = parse_observation(BASELINE | {"t_min": -1})
    return len(evaluate_observation(parse_observation(body | {"t_min": 1}), baseline))


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 1)


def _load(server: Server, pairs: list[tuple[int, str]], args: argparse.Namespace, pace_s: float) -> Outcome:
    outcome = Outcome()
    stop_at = time.monotonic() + args.seconds
    threads = [
        threading.Thread(
            target=_nurse, args=(server.base, sid, token, args.readings, stop_at, outcome, pace_s)
        )
        for sid, token in pairs
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcome


def run(label: str, url: str, workers: int, pace_s: float, args: argparse.Namespace) -> dict[str, Any]:
    """Seed, serve, subscribe, load, verify; the figures."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    db = Database.from_url(url, audit_key=audit_chain_key(BENCH_SECRET_KEY))
    pairs = _seed(db, args.nurses)
    with db.transaction() as session:
        audit_before = count_events(session)
        findings_before = _count(session, SessionAlertFinding)
    server = Server(url, BENCH_SECRET_KEY, workers)
    try:
        server.wait_ready()
        tokens = [pairs[i % len(pairs)][1] for i in range(args.subscribers)]
        streams = Subscribers(server.port, tokens) if tokens else None
        if streams:
            streams.start()
        cpu_before, began = server.cpu_s(), time.perf_counter()
        outcome = _load(server, pairs, args, pace_s)
        wall, cpu = time.perf_counter() - began, server.cpu_s() - cpu_before
        received = streams.finish() if streams else None
    finally:
        server.stop()
    figures = _verify(db, outcome, audit_before, findings_before)
    lat_ms = [x * 1000 for x in outcome.latencies_s]
    result = {
        "backend": label,
        "workers": workers,
        "subscribers": args.subscribers,
        "nurses": args.nurses,
        "pace_s": pace_s,
        "requests": len(lat_ms),
        "wall_s": round(wall, 2),
        "throughput_req_s": round(len(lat_ms) / wall, 1) if wall else 0.0,
        "p50_ms": _pct(lat_ms, 50),
        "p95_ms": _pct(lat_ms, 95),
        "p99_ms": _pct(lat_ms, 99),
        "mean_ms": round(statistics.fmean(lat_ms), 1) if lat_ms else None,
        "server_cpu_pct": round(100 * cpu / wall, 0) if wall else 0.0,
        "cpu_ms_per_write": round(1000 * cpu / outcome.writes, 2) if outcome.writes else None,
        "errors": len(outcome.errors),
        "first_error": outcome.errors[0] if outcome.errors else "",
        **figures,
    }
    if received is not None:
        expected = {"alert": figures["findings"], "rate": outcome.rate_writes}
        result["streams"] = stream_checks(received, args.subscribers, outcome.observation_ids, expected)
        delays = delays_ms(received, _committed_at(db, audit_before))
        result["delay_p50_ms"], result["delay_p99_ms"] = _pct(delays, 50), _pct(delays, 99)
        result["reader_cpu_pct"] = round(100 * received.reader_cpu_s / wall, 0) if wall else 0.0
    db.dispose()
    return result


def _count(session: Any, table: Any) -> int:
    return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def _verify(db: Database, outcome: Outcome, audit_before: int, findings_before: int) -> dict[str, int]:
    """Readings stored once, alert findings as the rules predict and none doubled (each joins its group's
    one open alert), one audit event per write."""
    per_abnormal, per_normal = _expected_alerts_per(ABNORMAL), _expected_alerts_per(NORMAL)
    with db.transaction() as session:
        stored = dict(
            session.execute(
                select(SessionObservation.session_id, func.count())
                .where(SessionObservation.phase == "infusion")
                .group_by(SessionObservation.session_id)
            ).all()
        )
        findings = _count(session, SessionAlertFinding) - findings_before
        distinct = int(
            session.execute(
                select(func.count()).select_from(
                    select(SessionAlertFinding.session_id, SessionAlertFinding.trigger_key)
                    .distinct()
                    .subquery()
                )
            ).scalar_one()
        )
        alerts = _count(session, SessionAlert)
        audit_after = count_events(session)
    sent_abnormal = sum(sum(1 for n in range(c) if n % 4 == 1) for c in outcome.readings.values())
    sent_total = sum(outcome.readings.values())
    return {
        "readings_lost_or_doubled": sum(abs(stored.get(s, 0) - c) for s, c in outcome.readings.items()),
        "findings": findings,
        "findings_expected": sent_abnormal * per_abnormal + (sent_total - sent_abnormal) * per_normal,
        "findings_duplicated": findings + findings_before - distinct,
        "alerts": alerts,
        "audit_events": audit_after - audit_before,
        "writes": outcome.writes,
    }


def _committed_at(db: Database, audit_before: int) -> dict[int, float]:
    """When each reading's write appended its audit event (UNIX time), by observation id."""
    with db.read() as session:
        rows = session.execute(
            select(AuditEvent.occurred_at, AuditEvent.changes_json).where(
                AuditEvent.seq > audit_before, AuditEvent.action == "chart"
            )
        ).all()
    out = {}
    for occurred_at, changes_json in rows:
        observation = json.loads(changes_json).get("observation_id", {}).get("new")
        if observation is not None:
            out[int(observation)] = occurred_at.timestamp()
    return out


def _pg_schema(base_url: str) -> tuple[str, str] | None:
    try:
        admin = make_engine(base_url)
        schema = f"kc_bench_{uuid.uuid4().hex[:8]}"
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
    except Exception as exc:
        print(f"PostgreSQL not reachable ({type(exc).__name__}); skipped", file=sys.stderr)
        return None
    separator = "&" if "?" in base_url else "?"
    return schema, f"{base_url}{separator}options=-csearch_path%3D{schema}"


def _runs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every configuration asked for: backend x workers x pace (several workers on PostgreSQL only)."""
    results = []
    for backend in args.backends.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            for pace in (float(p) for p in args.pace_s.split(",")):
                if backend == "sqlite" and workers == 1:
                    with tempfile.TemporaryDirectory() as tmp:
                        results.append(run("sqlite", f"sqlite:///{Path(tmp) / 'load.db'}", 1, pace, args))
                    continue
                made = _pg_schema(args.pg) if backend == "postgresql" and args.pg else None
                if made is None:  # SQLite with several workers: refused, as `serve --workers` refuses it
                    continue
                schema, url = made
                try:
                    results.append(run("postgresql", url, workers, pace, args))
                finally:
                    admin = make_engine(args.pg)
                    with admin.begin() as connection:
                        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                    admin.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nurses", type=int, default=20)
    parser.add_argument("--readings", type=int, default=40, help="readings per nurse")
    parser.add_argument("--seconds", type=float, default=120.0, help="stop charting after this long")
    parser.add_argument("--pg", default=os.environ.get("KETACLINIC_TEST_DATABASE_URL", ""))
    parser.add_argument(
        "--pace-s",
        default="1,0",
        help="seconds between one nurse's readings, comma-separated runs; 0 = back to back (saturation)",
    )
    parser.add_argument(
        "--workers", default="1", help="server processes, comma-separated runs (above 1: PostgreSQL only)"
    )
    parser.add_argument("--subscribers", type=int, default=200, help="open charts holding the event stream")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    results = _runs(args)
    print_checks(results)
    print()
    print_capacity(results, P99_TARGET_MS)
    return 0 if all(passed(r, P99_TARGET_MS) for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
