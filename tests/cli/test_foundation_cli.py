"""The foundation commands, run as a user would: a fresh SQLite database from the environment."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

KETACLINIC = [sys.executable, "-m", "ketaclinic"]


def _run(args: list[str], var_dir: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KETACLINIC_VAR_DIR": str(var_dir)}
    env.pop("KETACLINIC_DATABASE_URL", None)
    return subprocess.run(
        [*KETACLINIC, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    var_dir = tmp_path_factory.mktemp("var")
    result = _run(["demo"], var_dir)
    assert result.returncode == 0, result.stderr
    assert "nurse-demo-pass" in result.stdout
    return var_dir


def test_secret_key_is_generated_and_kept(demo_dir: Path) -> None:
    key = (demo_dir / "secret_key").read_text()
    assert len(key.strip()) > 40
    assert _run(["db", "upgrade"], demo_dir).returncode == 0
    assert (demo_dir / "secret_key").read_text() == key


def test_audit_verify_passes_after_the_demo_and_fails_after_tampering(demo_dir: Path, tmp_path: Path) -> None:
    ok = _run(["audit", "verify"], demo_dir)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: ")
    assert int(ok.stdout.split()[1]) > 0
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    shutil.copy(demo_dir / "secret_key", tampered / "secret_key")  # the same clinic, its trail edited
    source = sqlite3.connect(demo_dir / "ketaclinic.db")
    copy = sqlite3.connect(tampered / "ketaclinic.db")
    source.backup(copy)
    source.close()
    copy.execute("DROP TRIGGER audit_events_no_update")
    copy.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    copy.commit()
    copy.close()
    broken = _run(["audit", "verify"], tampered)
    assert broken.returncode == 1
    assert "event 3" in broken.stderr


def test_user_add_from_stdin_and_bad_role(demo_dir: Path) -> None:
    added = _run(
        ["user", "add", "pharmacist1", "--role", "physician", "--password-stdin"],
        demo_dir,
        "long-enough-pass\n",
    )
    assert added.returncode == 0, added.stderr
    bad = _run(
        ["user", "add", "someone", "--role", "surgeon", "--password-stdin"], demo_dir, "long-enough-pass\n"
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "role" in bad.stderr
    duplicate = _run(
        ["user", "add", "pharmacist1", "--role", "nurse", "--password-stdin"], demo_dir, "long-enough-pass\n"
    )
    assert duplicate.returncode == 2


def test_demo_is_idempotent(demo_dir: Path) -> None:
    again = _run(["demo"], demo_dir)
    assert again.returncode == 0
    assert "existing" in again.stdout


def test_demo_reset_wipes_a_used_database_and_seeds_it_again(demo_dir: Path, tmp_path: Path) -> None:
    used = tmp_path / "used"
    shutil.copytree(demo_dir, used)
    reset = _run(["demo", "--reset"], used)
    assert reset.returncode == 0, reset.stderr
    assert "nurse-demo-pass" in reset.stdout and "existing" not in reset.stdout
    verified = _run(["audit", "verify"], used)
    assert verified.returncode == 0, verified.stdout + verified.stderr
