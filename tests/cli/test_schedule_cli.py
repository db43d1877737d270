"""`ketaclinic schedule book | list | move | cancel` on every configured database; bad input is exit 2."""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from ketaclinic.cli import main
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests import factories


def _run(
    args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[object, str, str]:
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


def test_book_list_move_and_cancel_from_the_terminal(
    web_db: Database,
    web_staff: dict[str, Actor],
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan_id = factories.approved_plan(web_db, web_staff, mrn="CLI-1", protocol_id="cleveland2025")
    code, out, _err = _run(["schedule", "book", str(plan_id), "--json"], env, monkeypatch, capsys)
    assert code == 0
    booked = json.loads(out)["appointments"]
    assert len(booked) == 5
    assert {"starts_at", "ends_at", "chair", "status"} <= set(booked[0]) and booked[0]["status"] == "booked"
    last_day = (date.today() + timedelta(days=60)).isoformat()
    code, out, _err = _run(["schedule", "list", "--to", last_day, "--json"], env, monkeypatch, capsys)
    assert code == 0 and [a["id"] for a in json.loads(out)["appointments"]] == [a["id"] for a in booked]
    last = booked[-1]
    later = f"{date.fromisoformat(last['starts_at'][:10]) + timedelta(days=7)}T10:00"
    args = ["schedule", "move", str(last["id"]), "--to", later, "--version", "1", "--json"]
    code, out, err = _run(args, env, monkeypatch, capsys)
    if code == 0:  # 10:00 on that day is open (a weekday): the move lands there
        assert json.loads(out)["appointments"][0]["version"] == 2
    else:
        assert code == 2 and "closed" in err
    cancel = ["schedule", "cancel", str(booked[0]["id"]), "--reason", "patient unwell", "--version", "1"]
    code, out, _err = _run(cancel, env, monkeypatch, capsys)
    assert code == 0 and "cancelled" in out


def test_bad_input_is_one_line_and_exit_2(
    web_db: Database, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = _run(["schedule", "book", "1", "--from", "soon"], env, monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1 and "from" in err
    code, _out, err = _run(["schedule", "book", "999"], env, monkeypatch, capsys)
    assert code == 2 and "999" in err
