"""Where the server's CPU goes when a reading is charted: cProfile over the app handling POST observations.

Seeds one running session (charting_load's seed) on a fresh SQLite file, or a fresh PostgreSQL schema
with --pg, builds the app in this process and posts readings to it one after another
through httpx's ASGI transport. The sync route runs on the loop's thread (not the thread pool), and
the profiler is on only while the app handles a request, so the profile is the server's side alone.
Prints the top functions by cumulative and by own time of `--readings` profiled readings, and the
CPU time per reading of as many unprofiled ones before them.

    .venv/bin/python benchmarks/profile_charting.py [--readings 40] [--pg URL] [--top 40]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import fastapi.dependencies.utils
import fastapi.routing
import httpx
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).parent))
from charting_load import ABNORMAL, BENCH_SECRET_KEY, NORMAL, _pg_schema, _seed

from ketaclinic.settings import load_settings
from ketaclinic.store.audit import audit_chain_key
from ketaclinic.store.db import Database, make_engine
from ketaclinic.store.migrate import upgrade
from ketaclinic.web.app import create_app

T = TypeVar("T")


async def _inline(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """run_in_threadpool without the pool: the profiler sees the route's own work."""
    return func(*args, **kwargs)


class Profiled:
    """ASGI middleware turning the profiler on for the duration of each request."""

    def __init__(self, app: ASGIApp, profiler: cProfile.Profile | None) -> None:
        self.app = app
        self.profiler = profiler
        self.cpu_s = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        began = time.process_time()
        if self.profiler is not None:
            self.profiler.enable()
        try:
            await self.app(scope, receive, send)
        finally:
            if self.profiler is not None:
                self.profiler.disable()
            self.cpu_s += time.process_time() - began


async def _post(app: ASGIApp, sid: int, token: str, readings: int) -> None:
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
        for n in range(readings):
            answer = await client.post(
                f"/api/v1/sessions/{sid}/observations", json=ABNORMAL if n % 4 == 1 else NORMAL
            )
            if answer.status_code != 201:
                raise RuntimeError(f"{answer.status_code} {answer.text[:200]}")


def profile(url: str, readings: int, warmup: int) -> tuple[pstats.Stats, float, float]:
    """Seed; time `readings` readings unprofiled (after `warmup`), then profile as many more.

    Returns the profile, the CPU seconds the app spent per reading without the profiler, and the SQL
    statements it sent per reading.
    """
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    db = Database.from_url(url, audit_key=audit_chain_key(BENCH_SECRET_KEY))
    # One session to warm up on, one timed, one profiled: each of the two measured starts from no readings.
    (warm, timed_session, profiled_session) = _seed(db, 3)
    with tempfile.TemporaryDirectory() as var:
        settings = load_settings(
            {
                "KETACLINIC_DATABASE_URL": url,
                "KETACLINIC_SECRET_KEY": BENCH_SECRET_KEY,
                "KETACLINIC_VAR_DIR": var,
            }
        )
        app = create_app(settings, db)
        for module in (fastapi.routing, fastapi.dependencies.utils):
            module.__dict__["run_in_threadpool"] = _inline
        asyncio.run(_post(app, *warm, warmup))
        statements = [0]

        def count(*_args: Any) -> None:
            statements[0] += 1

        event.listen(Engine, "before_cursor_execute", count)  # every engine of this process
        timed = Profiled(app, None)
        asyncio.run(_post(timed, *timed_session, readings))
        event.remove(Engine, "before_cursor_execute", count)
        profiler = cProfile.Profile()
        asyncio.run(_post(Profiled(app, profiler), *profiled_session, readings))
    db.dispose()
    return pstats.Stats(profiler), timed.cpu_s / readings, statements[0] / readings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=40, help="readings per measured session")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--pg", default="", help="PostgreSQL URL (a fresh schema is made and dropped)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", default="", help="also write the raw profile here (pstats)")
    args = parser.parse_args()
    if args.pg:
        made = _pg_schema(args.pg)
        if made is None:
            return 1
        schema, url = made
        try:
            stats, per_reading_s, statements = profile(url, args.readings, args.warmup)
        finally:
            admin = make_engine(args.pg)
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            stats, per_reading_s, statements = profile(
                f"sqlite:///{Path(tmp) / 'profile.db'}", args.readings, args.warmup
            )
    if args.out:
        stats.dump_stats(args.out)
    for order in ("cumulative", "tottime"):
        buffer = io.StringIO()
        stats.stream = buffer  # type: ignore[attr-defined]
        stats.sort_stats(order).print_stats(args.top)
        print(buffer.getvalue())
    print(
        f"server CPU per reading (profiler off): {per_reading_s * 1000:.2f} ms;"
        f" SQL statements per reading: {statements:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
