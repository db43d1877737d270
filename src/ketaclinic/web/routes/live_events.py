"""The live event stream (server-sent events): what changed, for the chart and the day board to refetch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ketaclinic.services.events_bus import LiveEvent, Subscription, bus_for, visible_to
from ketaclinic.settings import Settings
from ketaclinic.store.db import Database
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, requires, resolve_caller

router = APIRouter()

# Any logged-in user may open the stream; what it carries is filtered by what they may see. Passive: an
# open stream is not a person acting, so it never keeps a login alive.
Streamer = Annotated[Principal, Depends(requires(None, passive=True))]
RECONNECT_MS = 3000


def _frame(sequence: int, live: LiveEvent) -> str:
    return f"id: {sequence}\nevent: {live.kind}\ndata: {live.to_json()}\n\n"


async def _still_allowed(request: Request, db: Database, settings: Settings) -> Principal | None:
    """The caller again (not counted as activity): None once the login expired, ended or was deactivated."""
    return await run_in_threadpool(resolve_caller, request, db, settings, touch=False)


async def _events(
    request: Request, db: Database, settings: Settings, principal: Principal, subscription: Subscription
) -> AsyncIterator[str]:
    """Frames until the login ends, the stream's lifetime is up or the client goes."""
    try:
        yield f"retry: {RECONNECT_MS}\n: connected\n\n"
        ends_at = time.monotonic() + settings.live_stream_max_s
        next_check = time.monotonic() + settings.live_heartbeat_s
        while True:
            now = time.monotonic()
            if now >= ends_at:
                yield "event: reconnect\ndata: {}\n\n"
                return
            if now >= next_check:
                current = await _still_allowed(request, db, settings)
                if current is None:
                    yield "event: end\ndata: {}\n\n"
                    return
                principal = current  # a changed role narrows what the stream carries at once
                next_check = now + settings.live_heartbeat_s
                yield ": heartbeat\n\n"
            wait = max(0.0, min(next_check, ends_at) - time.monotonic())
            try:
                first = await asyncio.wait_for(subscription.queue.get(), timeout=wait)
            except TimeoutError:
                continue
            # Everything queued meanwhile goes out in one write (a busy server sends bursts, not frames).
            frames, ended = _frames(principal, [first, *_drain(subscription.queue)])
            if frames:
                yield frames
            if ended:  # this reader fell too far behind: it reconnects and refetches
                yield "event: reconnect\ndata: {}\n\n"
                return
    finally:
        subscription.close()


def _drain(queue: asyncio.Queue[tuple[int, LiveEvent] | None]) -> list[tuple[int, LiveEvent] | None]:
    items: list[tuple[int, LiveEvent] | None] = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def _frames(principal: Principal, items: list[tuple[int, LiveEvent] | None]) -> tuple[str, bool]:
    """The frames of the items this caller may see, up to an overflow mark; whether one was reached."""
    out: list[str] = []
    for item in items:
        if item is None:
            return "".join(out), True
        sequence, live = item
        if visible_to(principal.actor, live):
            out.append(_frame(sequence, live))
    return "".join(out), False


@router.get(
    "/api/v1/events",
    tags=["live"],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "server-sent events",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def event_stream(
    request: Request, db: DbDep, settings: SettingsDep, principal: Streamer
) -> StreamingResponse:
    """Server-sent events: readings, alerts, rate and session changes, board changes (ids and states only)."""
    subscription = await run_in_threadpool(_subscribe, db, asyncio.get_running_loop())
    return StreamingResponse(
        _events(request, db, settings, principal, subscription),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _subscribe(db: Database, loop: asyncio.AbstractEventLoop) -> Subscription:
    """Subscribe on the request's loop (from a thread: the PostgreSQL hub may open its listener)."""
    return bus_for(db).subscribe(loop)
