"""The audit checkpoint file: the chain's head, appended as JSON lines outside the database.

A checkpoint is only as safe as where it lives: the file is append-only by convention and fsync'd
on every line, and a clinic ships each line off the machine (docs/security.md). The server processes
of one installation share the file: each decides and appends under its lock (`locked`), reading the
newest line (`newest_checkpoint`) rather than remembering its own.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ketaclinic.errors import InputError

SETTING = "KETACLINIC_AUDIT_CHECKPOINTS"
_TAIL_BYTES = 4096  # a checkpoint line is ~150 bytes: the newest one is in the file's last 4 KiB


class CheckpointFileError(ValueError):
    """A checkpoint file whose content is not checkpoints: the anchor itself is damaged."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain's head at one moment: its last event's sequence number and HMAC."""

    seq: int
    hmac: str
    time: str
    installation: str

    def to_line(self) -> str:
        """One JSON line, keys sorted."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def _parse(number: int, line: str, path: Path) -> Checkpoint:
    try:
        raw = json.loads(line)
        return Checkpoint(
            seq=int(raw["seq"]),
            hmac=str(raw["hmac"]),
            time=str(raw["time"]),
            installation=str(raw["installation"]),
        )
    except (ValueError, KeyError, TypeError):
        raise CheckpointFileError(f"{path} line {number} is not a checkpoint") from None


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """Every checkpoint in the file, oldest first; none when the file does not exist."""
    if not path.exists():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise CheckpointFileError(f"{path} is not a text file of checkpoints") from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}", field=SETTING) from None
    return [_parse(number, line, path) for number, line in enumerate(lines, start=1) if line.strip()]


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Append one line and fsync it (and the folder, when the file is new) before returning."""
    created = not path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(checkpoint.to_line() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if created:
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror}", field=SETTING) from None


def newest_checkpoint(path: Path) -> Checkpoint | None:
    """The file's last checkpoint, read from its tail; None when there is none or it does not read."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - _TAIL_BYTES))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.strip():
            try:
                return _parse(0, line, path)
            except CheckpointFileError:
                return None  # damaged: `audit verify` names it; the schedule anchors the head again
    return None


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the checkpoint file's lock (a lock file beside it): one process at a time decides and appends."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("a")
    except OSError as error:
        raise InputError(f"cannot write {lock_path}: {error.strerror}", field=SETTING) from None
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the handle closes
        yield
