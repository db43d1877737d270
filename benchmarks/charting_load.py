"""Charting under load: 20 nurses charting 20 running sessions at once through the real HTTP server.

For each backend (a fresh SQLite file; a fresh PostgreSQL schema when KETACLINIC_TEST_DATABASE_URL or
--pg is given and reachable): migrate, seed nurses/patients/approved plans/running sessions, start
uvicorn in a subprocess on a free loopback port, then let every simulated nurse (one thread, one
httpx client, one bearer token) chart its session: readings (some abnormal, so alerts fire) and rate
changes, bounded by --readings and --seconds. Reports throughput and p50/p95/p99 latency, and checks:
zero errors, every reading stored once, alerts exactly as the rules predict (none lost, none doubled),
and audit events equal to the writes (one per write; reading a chart is not done during the load).

Load shapes (--pace-s): paced runs start one reading per nurse every `pace` seconds (open loop; at 1 s
that is ~900 times the 15-minute clinical cadence) and are held to the p99 < 100 ms target; a pace of 0
fires back to back (closed loop, saturation) and measures capacity, where latency is queueing
(~ nurses / throughput) and the target is not applied. Exit 1 on any correctness failure or a paced
run over target.

    .venv/bin/python benchmarks/charting_load.py [--nurses 20] [--readings 40] [--pace-s 1,0] [--pg URL]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
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
from ketaclinic.store.tables.plans import DosePlanRow
from ketaclinic.store.tables.sessions import SessionAlert, SessionObservation

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
    readings: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
            calls: list[tuple[str, str, dict[str, Any]]] = [
                ("post", f"/api/v1/sessions/{sid}/observations", body)
            ]
            if n % 6 == 2:
                rate = RATES_ML_H[(n // 6 + 1) % 2]
                calls.append(
                    (
                        "post",
                        f"/api/v1/sessions/{sid}/rate",
                        {"pump_ml_h": rate, "deviation_reason": "load test titration"},
                    )
                )
            for method, url, payload in calls:
                began = time.perf_counter()
                try:
                    answer = client.request(method, url, json=payload)
                    ok = answer.status_code in (200, 201)
                    problem = "" if ok else f"{answer.status_code} {answer.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, problem = False, repr(exc)
                elapsed = time.perf_counter() - began
                with outcome.lock:
                    outcome.latencies_s.append(elapsed)
                    if ok:
                        outcome.writes += 1
                        if url.endswith("/observations"):
                            outcome.readings[sid] = outcome.readings.get(sid, 0) + 1
                    else:
                        outcome.errors.append(f"{url}: {problem}")


def _expected_alerts_per(body: dict[str, float]) -> int:
    baseline = parse_observation(BASELINE | {"t_min": -1})
    return len(evaluate_observation(parse_observation(body | {"t_min": 1}), baseline))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run(label: str, url: str, nurses: int, readings: int, seconds: float, pace_s: float) -> dict[str, Any]:
    """Seed, serve, load, verify; the figures."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    db = Database.from_url(url, audit_key=audit_chain_key(BENCH_SECRET_KEY))
    pairs = _seed(db, nurses)
    with db.transaction() as session:
        audit_before = count_events(session)
    port = _free_port()
    env = os.environ | {
        "KETACLINIC_DATABASE_URL": url,
        "KETACLINIC_SECRET_KEY": BENCH_SECRET_KEY,
        "KETACLINIC_VAR_DIR": tempfile.mkdtemp(prefix="kc-bench-var-"),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "ketaclinic.web.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("server did not start")
            time.sleep(0.1)
        outcome = Outcome()
        began = time.perf_counter()
        stop_at = time.monotonic() + seconds
        threads = [
            threading.Thread(target=_nurse, args=(base, sid, token, readings, stop_at, outcome, pace_s))
            for sid, token in pairs
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - began
    finally:
        server.terminate()
        server.wait(timeout=20)
    per_abnormal, per_normal = _expected_alerts_per(ABNORMAL), _expected_alerts_per(NORMAL)
    with db.transaction() as session:
        stored = dict(
            session.execute(
                select(SessionObservation.session_id, func.count())
                .where(SessionObservation.phase == "infusion")
                .group_by(SessionObservation.session_id)
            ).all()
        )
        alerts = int(session.execute(select(func.count()).select_from(SessionAlert)).scalar_one())
        distinct = int(
            session.execute(
                select(func.count()).select_from(
                    select(SessionAlert.session_id, SessionAlert.trigger_key).distinct().subquery()
                )
            ).scalar_one()
        )
        audit_after = count_events(session)
    sent_abnormal = sum(sum(1 for n in range(c) if n % 4 == 1) for c in outcome.readings.values())
    sent_total = sum(outcome.readings.values())
    expected_alerts = sent_abnormal * per_abnormal + (sent_total - sent_abnormal) * per_normal
    db.dispose()
    lat_ms = [x * 1000 for x in outcome.latencies_s]
    return {
        "backend": label,
        "nurses": nurses,
        "pace_s": pace_s,
        "requests": len(lat_ms),
        "wall_s": round(wall, 2),
        "throughput_req_s": round(len(lat_ms) / wall, 1) if wall else 0.0,
        "p50_ms": round(_pct(lat_ms, 50), 1) if lat_ms else None,
        "p95_ms": round(_pct(lat_ms, 95), 1) if lat_ms else None,
        "p99_ms": round(_pct(lat_ms, 99), 1) if lat_ms else None,
        "mean_ms": round(statistics.fmean(lat_ms), 1) if lat_ms else None,
        "errors": len(outcome.errors),
        "first_error": outcome.errors[0] if outcome.errors else "",
        "readings_lost_or_doubled": sum(abs(stored.get(s, 0) - c) for s, c in outcome.readings.items()),
        "alerts": alerts,
        "alerts_expected": expected_alerts,
        "alerts_duplicated": alerts - distinct,
        "audit_events": audit_after - audit_before,
        "writes": outcome.writes,
    }


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
    args = parser.parse_args()
    paces = [float(p) for p in args.pace_s.split(",")]
    results = []
    for pace in paces:
        with tempfile.TemporaryDirectory() as tmp:
            results.append(
                run(
                    "sqlite",
                    f"sqlite:///{Path(tmp) / 'load.db'}",
                    args.nurses,
                    args.readings,
                    args.seconds,
                    pace,
                )
            )
        made = _pg_schema(args.pg) if args.pg else None
        if made:
            schema, url = made
            try:
                results.append(run("postgresql", url, args.nurses, args.readings, args.seconds, pace))
            finally:
                admin = make_engine(args.pg)
                with admin.begin() as connection:
                    connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()
    failed = False
    print(
        "| backend | nurses | pace s | requests | wall s | req/s | p50 ms | p95 ms | p99 ms | errors "
        "| lost/doubled readings | alerts (expected) | duplicated alerts | audit events = writes "
        f"| p99 < {P99_TARGET_MS:g} ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        audit_ok = r["audit_events"] == r["writes"]
        ok = (
            r["errors"] == 0
            and r["readings_lost_or_doubled"] == 0
            and r["alerts"] == r["alerts_expected"]
            and r["alerts_duplicated"] == 0
            and audit_ok
        )
        paced = r["pace_s"] > 0
        within = r["p99_ms"] is not None and r["p99_ms"] < P99_TARGET_MS
        verdict = ("met" if within else "NOT MET") if paced else "n/a (saturation)"
        failed |= not ok or (paced and not within)
        print(
            f"| {r['backend']} | {r['nurses']} | {r['pace_s']:g} | {r['requests']} | {r['wall_s']} | "
            f"{r['throughput_req_s']} | "
            f"{r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['errors']} | "
            f"{r['readings_lost_or_doubled']} | "
            f"{r['alerts']} ({r['alerts_expected']}) | {r['alerts_duplicated']} | "
            f"{r['audit_events']} = {r['writes']} {'ok' if audit_ok else 'MISMATCH'} | {verdict} |"
        )
        if r["first_error"]:
            print(f"first error ({r['backend']}): {r['first_error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
