"""Open charts for the charting load: subscribers holding GET /api/v1/events while the nurses chart.

The subscribers run in a process of their own (their own interpreter lock, so reading hundreds of streams
does not slow the nurses' clients), one asyncio loop, one plain HTTP/1.0 connection each: the answer is
then the stream itself, read line by line until the server closes it. Every event is recorded with the
subscriber and the wall-clock time it arrived; the load reads them back when the nurses are done.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from typing import Any

QUIET_S = 2.0  # once the nurses are done, the streams are read until nothing arrives for this long
MOST_S = 60.0  # and never for longer than this after the nurses are done


@dataclass
class Received:
    """What the subscribers saw: reading arrivals, other events counted per subscriber, streams cut."""

    connected: int = 0
    readings: list[tuple[int, int, float]] = field(default_factory=list)  # subscriber, observation, time
    counts: dict[tuple[int, str], int] = field(default_factory=dict)  # (subscriber, kind) -> events
    cut: int = 0  # streams that ended early (fell behind, or the server closed them)
    reader_cpu_s: float = 0.0  # CPU the reading process used while the nurses charted (it shares the machine)


async def _subscribe(
    index: int, port: int, token: str, received: Received, ready: asyncio.Event, last: list[float]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"GET /api/v1/events HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"subscriber {index}: {status.decode().strip()}")
    while (await reader.readline()).strip():  # the headers
        pass
    kind = ""
    try:
        while line := await reader.readline():
            text = line.decode().rstrip("\n")
            if text.startswith("retry:"):
                received.connected += 1
                ready.set()
            elif text.startswith("event: "):
                kind = text[7:]
            elif text.startswith("data: ") and kind:
                now = time.time()
                last[0] = now
                if kind == "reconnect":
                    received.cut += 1
                    return
                key = (index, kind)
                received.counts[key] = received.counts.get(key, 0) + 1
                if kind == "reading":
                    received.readings.append((index, json.loads(text[6:])["observation_id"], now))
                kind = ""
    finally:
        writer.close()


async def _hold(port: int, tokens: list[str], connected: Event, done: Event, out: Any) -> None:
    received = Received()
    last = [time.time()]
    readies = [asyncio.Event() for _ in tokens]
    tasks = [
        asyncio.create_task(_subscribe(i, port, token, received, readies[i], last))
        for i, token in enumerate(tokens)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=120)
    connected.set()
    cpu_before = time.process_time()
    while not done.is_set():
        await asyncio.sleep(0.2)
    received.reader_cpu_s = time.process_time() - cpu_before
    finished_at = time.time()
    while time.time() - last[0] < QUIET_S and time.time() - finished_at < MOST_S:
        await asyncio.sleep(0.2)
    for task in tasks:
        task.cancel()
    ended = await asyncio.gather(*tasks, return_exceptions=True)
    received.cut += sum(1 for result in ended if isinstance(result, Exception))  # a stream that failed
    out.send(received)


def _run(port: int, tokens: list[str], connected: Event, done: Event, out: Any) -> None:
    asyncio.run(_hold(port, tokens, connected, done, out))


class Subscribers:
    """`len(tokens)` open streams in a child process: `start` waits until every one is subscribed."""

    def __init__(self, port: int, tokens: list[str]) -> None:
        context = multiprocessing.get_context("spawn")
        self._connected = context.Event()
        self._done = context.Event()
        self._results, sending = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_run, args=(port, tokens, self._connected, self._done, sending), daemon=True
        )

    def start(self) -> None:
        """Open every stream; returns once each is subscribed."""
        self._process.start()
        if not self._connected.wait(timeout=150):
            self._process.kill()
            raise RuntimeError("the subscribers did not all connect")

    def finish(self) -> Received:
        """Read on until the streams are quiet, then close them; what they saw."""
        self._done.set()
        if not self._results.poll(MOST_S + 30):
            self._process.kill()
            raise RuntimeError("the subscribers did not report")
        received: Received = self._results.recv()
        self._process.join(timeout=10)
        return received


def stream_checks(
    received: Received, subscribers: int, observation_ids: set[int], expected: dict[str, int]
) -> dict[str, int]:
    """Every subscriber must see every reading once (by id) and as many events of each kind as published."""
    seen: dict[tuple[int, int], int] = {}
    for index, observation_id, _at in received.readings:
        seen[(index, observation_id)] = seen.get((index, observation_id), 0) + 1
    lost = sum(1 for i in range(subscribers) for o in observation_ids if (i, o) not in seen)
    doubled = sum(n - 1 for n in seen.values() if n > 1)
    foreign = sum(1 for (_i, o) in seen if o not in observation_ids)
    miscounted = sum(
        abs(received.counts.get((i, kind), 0) - count)
        for i in range(subscribers)
        for kind, count in expected.items()
    )
    return {
        "lost": lost,
        "doubled": doubled,
        "foreign": foreign,
        "miscounted": miscounted,
        "cut": received.cut,
    }


def delays_ms(received: Received, committed_at: dict[int, float]) -> list[float]:
    """Each reading event's delay: from its write's audit event (the last step before the commit) to
    arrival at each subscriber, in ms."""
    return [
        (at - committed_at[observation_id]) * 1000
        for _index, observation_id, at in received.readings
        if observation_id in committed_at
    ]
