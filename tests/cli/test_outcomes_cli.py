"""`ketaclinic outcomes end-series` on every configured database: follow-ups scheduled; bad input is exit 2.

In process through Typer's runner; two cases run the real command to check the exit code and the
one-line error end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app, main
from ketaclinic.services.outcomes.courses import CourseIn, get_course, start_course
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.services.test_outcomes_service import make_patient

KETACLINIC = [sys.executable, "-m", "ketaclinic"]
runner = CliRunner()


def _main(
    args: list[str],
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[object, str, str]:
    """Run the CLI's entry point in this process: (exit code, stdout, stderr)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["ketaclinic", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


@pytest.fixture
def env(web_db: Database, tmp_path: Path) -> dict[str, str]:
    return {
        "KETACLINIC_DATABASE_URL": web_db.engine.url.render_as_string(hide_password=False),
        "KETACLINIC_VAR_DIR": str(tmp_path / "var"),
    }


@pytest.fixture
def course_id(web_db: Database, web_staff: dict[str, Actor]) -> int:
    pid = make_patient(web_db, web_staff["nurse"], "C1")
    started = date.today() - timedelta(days=14)
    return start_course(web_db, web_staff["nurse"], pid, CourseIn(started_on=started)).id


def test_end_series_json_schedules_the_follow_ups(
    env: dict[str, str], course_id: int, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    end = date.today() - timedelta(days=1)
    result = runner.invoke(
        app,
        ["outcomes", "end-series", str(course_id), "--version", "1", "--date", end.isoformat(), "--json"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    course = json.loads(result.stdout)
    assert course["id"] == course_id and course["series_end"] == end.isoformat()
    assert [f["weeks_after_series"] for f in course["followups"]] == [1, 2, 4, 8, 12]
    stored = get_course(web_db, web_staff["nurse"], course_id)
    assert stored.series_end == end and len(stored.followups) == 5


def test_end_series_text_lists_the_open_items(env: dict[str, str], course_id: int) -> None:
    end = date.today() - timedelta(days=2)
    session = (end - timedelta(days=7)).isoformat()
    result = runner.invoke(
        app,
        [
            "outcomes",
            "end-series",
            str(course_id),
            "--version",
            "1",
            "--date",
            end.isoformat(),
            "--session-date",
            session,
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"course {course_id}: series ended {end.isoformat()}; 6 follow-ups open, 0 answered"
    assert "after session 1" in lines[1] and "week 12 after series" in lines[-1]


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["--date", "2026-02-30"], "series_end"),
        (["--date", (date.today() + timedelta(days=30)).isoformat()], "future"),
        (["--date", date.today().isoformat(), "--session-date", "yesterday"], "session_dates"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    env: dict[str, str],
    course_id: int,
    args: list[str],
    word: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, stdout, stderr = _main(
        ["outcomes", "end-series", str(course_id), "--version", "1", *args], env, monkeypatch, capsys
    )
    assert code == 2, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("error: ") and word in stderr
    assert stdout == ""


def test_bad_input_from_a_real_process_is_one_line_and_exit_2(env: dict[str, str], course_id: int) -> None:
    result = subprocess.run(
        [*KETACLINIC, "outcomes", "end-series", str(course_id), "--version", "1", "--date", "2026-02-30"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and "series_end" in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_unknown_course_is_exit_2(env: dict[str, str]) -> None:
    result = subprocess.run(
        [*KETACLINIC, "outcomes", "end-series", "9999", "--version", "1", "--date", date.today().isoformat()],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2 and result.stderr == "error: no treatment course 9999\n"


def test_a_stale_version_is_one_line_exit_2_and_changes_nothing(
    env: dict[str, str],
    course_id: int,
    web_db: Database,
    web_staff: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = date.today() - timedelta(days=2), date.today() - timedelta(days=1)
    args = ["outcomes", "end-series", str(course_id), "--version", "1", "--date"]
    assert runner.invoke(app, [*args, first.isoformat()], env=env).exit_code == 0
    code, stdout, stderr = _main([*args, second.isoformat()], env, monkeypatch, capsys)
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("error: this treatment course was changed")
    assert "series_end" in stderr and "it is now version 2" in stderr
    assert get_course(web_db, web_staff["nurse"], course_id).series_end == first
