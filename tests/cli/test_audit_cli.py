"""`ketaclinic audit checkpoint|verify [--records]`, `backup` and `restore`, run as a clinic would."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

KETACLINIC = [sys.executable, "-m", "ketaclinic"]


def _run(args: list[str], var_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KETACLINIC_VAR_DIR": str(var_dir)}
    for name in ("KETACLINIC_DATABASE_URL", "KETACLINIC_SECRET_KEY", "KETACLINIC_AUDIT_CHECKPOINTS"):
        env.pop(name, None)
    return subprocess.run([*KETACLINIC, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    var_dir = tmp_path_factory.mktemp("var")
    assert _run(["demo"], var_dir).returncode == 0
    return var_dir


@pytest.fixture
def clinic(demo_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the demo clinic's var dir (database, secret key), taken with the backup API."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    shutil.copy(demo_dir / "secret_key", var_dir / "secret_key")
    with (
        sqlite3.connect(demo_dir / "ketaclinic.db") as source,
        sqlite3.connect(var_dir / "ketaclinic.db") as copy,
    ):
        source.backup(copy)
    return var_dir


def _sql(var_dir: Path, *statements: str) -> None:
    with sqlite3.connect(var_dir / "ketaclinic.db") as connection:
        connection.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
        for statement in statements:
            connection.execute(statement)


def test_verify_without_a_checkpoint_says_the_chain_is_anchored_only_in_the_database(clinic: Path) -> None:
    done = _run(["audit", "verify"], clinic)
    assert done.returncode == 0, done.stderr
    assert "anchored only in the database" in done.stdout


def test_checkpoint_then_verify_and_records(clinic: Path) -> None:
    written = _run(["audit", "checkpoint"], clinic)
    assert written.returncode == 0, written.stderr
    assert str(clinic / "audit-checkpoints") in written.stdout
    done = _run(["audit", "verify", "--records"], clinic)
    assert done.returncode == 0, done.stderr
    assert "1 checkpoints" in done.stdout
    assert "every audited record reads as the audit trail last recorded it" in done.stdout


def test_emptied_trail_fails_against_the_checkpoint(clinic: Path) -> None:
    assert _run(["audit", "checkpoint"], clinic).returncode == 0
    _sql(
        clinic,
        "DELETE FROM audit_events",
        "UPDATE audit_head SET last_seq = 0, last_hash = '" + "0" * 64 + "'",
    )
    done = _run(["audit", "verify"], clinic)
    assert done.returncode == 1
    assert "checkpoint 1 (event" in done.stderr and "beyond the chain's end (event 0)" in done.stderr


def test_trail_verified_with_another_clinics_key_fails(clinic: Path) -> None:
    (clinic / "secret_key").write_text("another clinic's secret\n")
    done = _run(["audit", "verify"], clinic)
    assert done.returncode == 1
    assert "event 1 was altered or not sealed with this clinic's key" in done.stderr


def test_records_names_a_patient_edited_in_sql(clinic: Path) -> None:
    _sql(clinic, "UPDATE patients SET family_name = 'Forged' WHERE id = 1")
    done = _run(["audit", "verify", "--records"], clinic)
    assert done.returncode == 1
    assert "record differs: patient 1: family_name is 'Forged'" in done.stderr


def test_backup_and_restore_from_the_command_line(clinic: Path, tmp_path: Path) -> None:
    target = tmp_path / "clinic.backup"
    made = _run(["backup", str(target)], clinic)
    assert made.returncode == 0, made.stderr
    again = _run(["backup", str(target)], clinic)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [f"error: {target} already exists: choose a new file"]
    refused = _run(["restore", str(target)], clinic)
    assert refused.returncode == 2
    assert "--force" in refused.stderr
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(clinic / "secret_key", fresh / "secret_key")
    restored = _run(["restore", str(target)], fresh)
    assert restored.returncode == 0, restored.stderr
    assert "audit trail: ok" in restored.stdout
    assert _run(["audit", "verify", "--records"], fresh).returncode == 0


def test_an_unwritable_checkpoint_location_is_one_line_and_exit_2(clinic: Path) -> None:
    blocker = clinic / "a-file"
    blocker.write_text("not a folder\n")
    env_path = blocker / "checkpoints"
    done = subprocess.run(
        [*KETACLINIC, "audit", "checkpoint"],
        env={**os.environ, "KETACLINIC_VAR_DIR": str(clinic), "KETACLINIC_AUDIT_CHECKPOINTS": str(env_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: KETACLINIC_AUDIT_CHECKPOINTS: cannot write {env_path}")
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_checkpoint_file_that_is_not_text_fails_verify_naming_it(clinic: Path) -> None:
    (clinic / "audit-checkpoints").write_bytes(b"\xff\xfe\x00binary")
    done = _run(["audit", "verify"], clinic)
    assert done.returncode == 1
    assert f"{clinic / 'audit-checkpoints'} is not a text file of checkpoints" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_backup_into_a_missing_folder_is_one_line_and_exit_2(clinic: Path, tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "clinic.backup"
    done = _run(["backup", str(target)], clinic)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: FILE: the folder {target.parent} does not exist"]
