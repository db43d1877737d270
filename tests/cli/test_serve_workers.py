"""`ketaclinic serve --workers N`, run as a real process: N servers on one PostgreSQL share live events.

Which process holds a connection is read from /proc (the socket's inode in /proc/net/tcp, then the worker
whose file descriptors include it), so the test knows that the stream and the write went to different
processes.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from ketaclinic.services import api_tokens
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions import infusion_rates
from ketaclinic.services.sessions import lifecycle as sessions
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests.conftest import TEST_SECRET_KEY, _free_port, database_url
from tests.services.sessions_support import STARTED_YESTERDAY_MAYBE, checked_in_session

KETACLINIC = [sys.executable, "-m", "ketaclinic"]


def _env(var_dir: Path, database: str | None) -> dict[str, str]:
    env = os.environ | {"KETACLINIC_VAR_DIR": str(var_dir), "KETACLINIC_SECRET_KEY": TEST_SECRET_KEY}
    env.pop("KETACLINIC_DATABASE_URL", None)
    if database:
        env["KETACLINIC_DATABASE_URL"] = database
    return env


def test_more_than_one_worker_on_sqlite_is_refused_with_one_line(tmp_path: Path) -> None:
    refused = subprocess.run(
        [*KETACLINIC, "serve", "--workers", "2", "--port", str(_free_port())],
        env=_env(tmp_path, None),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: --workers: more than one server process needs PostgreSQL")
    assert len(refused.stderr.strip().splitlines()) == 1


def test_zero_workers_is_bad_input(tmp_path: Path) -> None:
    refused = subprocess.run(
        [*KETACLINIC, "serve", "--workers", "0"], env=_env(tmp_path, None), capture_output=True, text=True
    )
    assert refused.returncode == 2
    assert "--workers" in refused.stderr


# ---------------------------------------------------------------- which process holds a connection


def _children(pid: int) -> list[int]:
    """The server processes of a `serve --workers` process (multiprocessing's spawned workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def _owner(server_port: int, client_port: int, workers: list[int]) -> int | None:
    """The worker holding the server side of the loopback connection from `client_port`."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            inode = fields[9]
    if inode is None:
        return None
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def _connect(port: int) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.connect()
    return connection


def _local_port(connection: http.client.HTTPConnection) -> int:
    assert connection.sock is not None
    return int(connection.sock.getsockname()[1])


@contextmanager
def _serving(var_dir: Path, database: str, workers: int) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _free_port()
    server = subprocess.Popen(
        [*KETACLINIC, "serve", "--workers", str(workers), "--port", str(port)],
        env=_env(var_dir, database),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_children(server.pid)) < workers or not _answers(port):
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        yield server, port
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def _answers(port: int) -> bool:
    try:
        connection = _connect(port)
        connection.request("GET", "/health")
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except OSError:
        return False


def _running_session(db: Database, staff: dict[str, Actor]) -> int:
    sid = checked_in_session(db, staff, mrn="W-1")
    rate = infusion_rates.RateIn(rate_mg_kg_h=0.35, at=utcnow() - timedelta(minutes=5))
    sessions.start(db, staff["nurse"], sid, rate, start_reason=STARTED_YESTERDAY_MAYBE, config=None)
    return sid


def test_two_workers_answer_and_a_stream_on_one_sees_a_reading_charted_through_the_other(
    web_db: Database, web_staff: dict[str, Actor], tmp_path: Path
) -> None:
    if web_db.dialect != "postgresql":
        pytest.skip("several server processes need PostgreSQL (LISTEN/NOTIFY)")
    sid = _running_session(web_db, web_staff)
    _info, token = api_tokens.create_api_token(web_db, web_staff["nurse"], "workers test")
    auth = {"Authorization": f"Bearer {token}"}
    with _serving(tmp_path, database_url(web_db), workers=2) as (server, port):
        workers = _children(server.pid)
        assert len(workers) == 2
        stream = _connect(port)
        stream.request("GET", "/api/v1/events", headers=auth)
        events = stream.getresponse()
        assert events.status == 200
        assert events.readline().startswith(b"retry:")  # subscribed: its process listens on the channel
        streaming = _owner(port, _local_port(stream), workers)
        assert streaming in workers
        # New connections until one is accepted by the other process; every one answers.
        answered: set[int | None] = set()
        writer = None
        for _ in range(60):
            candidate = _connect(port)
            candidate.request("GET", "/health")
            health = candidate.getresponse()
            health.read()
            assert health.status == 200
            owner = _owner(port, _local_port(candidate), workers)
            answered.add(owner)
            if owner != streaming:
                writer = candidate
                break
            candidate.close()
        assert writer is not None, f"every connection went to process {streaming}"
        assert answered <= set(workers) and len(answered | {streaming}) == 2
        writer.request(
            "POST",
            f"/api/v1/sessions/{sid}/observations",
            body=json.dumps({"sbp": 122, "dbp": 76, "hr": 70, "spo2": 98}),
            headers=auth | {"Content-Type": "application/json"},
        )
        charted = writer.getresponse()
        assert charted.status == 201, charted.read()
        observation_id = json.loads(charted.read())["id"]
        writer.close()
        seen = _read_until_reading(events, observation_id)
        assert seen == {"session_id": sid, "observation_id": observation_id, "kind": "reading"}
        # Stopped as Ctrl-C stops it: the open stream is cut after the grace, every process exits.
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0, server.communicate()[1]
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
        stream.close()


def _read_until_reading(events: http.client.HTTPResponse, observation_id: int) -> dict[str, object]:
    """Read the stream until the `reading` event of `observation_id`; its kind and ids."""
    kind = ""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = events.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind == "reading":
            data = json.loads(line.removeprefix("data: "))
            if data.get("observation_id") == observation_id:
                return {"kind": kind} | {k: data[k] for k in ("session_id", "observation_id")}
    raise AssertionError("the stream did not carry the reading")
