"""`ketaclinic user deactivate|activate|reset-password|token|list` in process; bad input: one line, exit 2."""

from __future__ import annotations

import io
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app, main
from ketaclinic.services import accounts, api_tokens
from ketaclinic.services.permissions import Actor
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database
from tests.conftest import STAFF_PASSWORD, TEST_SECRET_KEY

runner = CliRunner()
TEMPORARY = "temporary-pass-1"


@pytest.fixture
def cli_env(web_db: Database, tmp_path: Path) -> dict[str, str]:
    """The test database, with the same clinic secret (so the CLI's audit events join the same chain)."""
    return {
        "KETACLINIC_DATABASE_URL": web_db.engine.url.render_as_string(hide_password=False),
        "KETACLINIC_VAR_DIR": str(tmp_path / "var"),
        "KETACLINIC_SECRET_KEY": TEST_SECRET_KEY,
    }


def _ok(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, ["user", *args], env=env, input=stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


def _bad(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    *args: str,
) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["ketaclinic", "user", *args])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_deactivate_and_activate_from_the_terminal(
    cli_env: dict[str, str], web_db: Database, web_staff: dict[str, Actor]
) -> None:
    cookie, _csrf = accounts.open_web_session(web_db, web_staff["nurse"])
    _info, secret = api_tokens.create_api_token(web_db, web_staff["nurse"], "script")
    assert _ok(cli_env, "deactivate", "Nurse") == "deactivated nurse\n"
    assert accounts.resolve_web_session(web_db, cookie, idle_timeout_min=15) is None
    assert api_tokens.resolve_api_token(web_db, secret) is None
    assert "nurse                nurse       deactivated" in _ok(cli_env, "list")
    assert _ok(cli_env, "activate", "nurse") == "activated nurse\n"
    assert api_tokens.resolve_api_token(web_db, secret) is None
    assert accounts.authenticate(web_db, "nurse", STAFF_PASSWORD, address=None) == web_staff["nurse"]


def test_reset_password_reads_stdin_and_forces_a_change(
    cli_env: dict[str, str], web_db: Database, web_staff: dict[str, Actor]
) -> None:
    out = _ok(cli_env, "reset-password", "nurse", "--password-stdin", stdin=TEMPORARY + "\n")
    assert "must change it at next login" in out
    nurse = accounts.authenticate(web_db, "nurse", TEMPORARY, address=None)
    assert accounts.must_change_password(web_db, nurse)
    prompted = _ok(cli_env, "reset-password", "physician", stdin=f"{TEMPORARY}\n{TEMPORARY}\n")
    assert "temporary password set for physician" in prompted


def test_a_token_from_the_terminal_has_the_lifetime_asked(
    cli_env: dict[str, str], web_db: Database, web_staff: dict[str, Actor]
) -> None:
    secret = runner.invoke(
        app, ["user", "token", "researcher", "--name", "notebook", "--days", "7"], env=cli_env
    )
    assert secret.exit_code == 0, secret.output
    token = secret.stdout.strip()
    assert token.startswith("kc_")
    assert api_tokens.resolve_api_token(web_db, token) == web_staff["researcher"]
    [info] = api_tokens.list_api_tokens(web_db, web_staff["researcher"])
    assert info.expires_at - utcnow() <= timedelta(days=7)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("deactivate", "nobody"), "error: no user 'nobody'"),
        (("activate", "nobody"), "error: no user 'nobody'"),
        (("token", "researcher", "--name", "x", "--days", "400"), "expires_in_days: a token lasts 1 to 365"),
        (("token", "nobody", "--name", "x"), "error: no user 'nobody'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    cli_env: dict[str, str],
    web_staff: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    assert message in _bad(monkeypatch, capsys, cli_env, *args)


def test_a_short_temporary_password_is_refused(
    cli_env: dict[str, str],
    web_staff: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    line = _bad(monkeypatch, capsys, cli_env, "reset-password", "nurse", "--password-stdin")
    assert line == "error: password: password must be at least 10 characters"
