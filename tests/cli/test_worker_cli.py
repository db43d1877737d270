"""`ketaclinic worker --once` sends what is due through KETACLINIC_SMTP_URL; without one it exits 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ketaclinic.cli import main
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests import factories
from tests.conftest import TEST_SECRET_KEY, database_url
from tests.services.messages_support import outbox_settings, queue_plain, reachable, states
from tests.smtp_sink import smtp_sink


def _run(args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> object:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["ketaclinic", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code


@pytest.fixture
def env(web_db: Database, tmp_path: Path) -> dict[str, str]:
    return {
        "KETACLINIC_DATABASE_URL": database_url(web_db),
        "KETACLINIC_VAR_DIR": str(tmp_path / "var"),
        "KETACLINIC_SECRET_KEY": TEST_SECRET_KEY,
        "KETACLINIC_PUBLIC_URL": "https://clinic.test/",
    }


def test_one_pass_sends_the_due_messages(
    web_db: Database,
    web_staff: dict[str, Actor],
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pid = factories.make_patient(web_db, web_staff["nurse"], mrn="CLI-W1")
    reachable(web_db, web_staff["nurse"], pid)
    ids = queue_plain(web_db, outbox_settings(web_db, tmp_path), pid, 3)
    with smtp_sink() as sink:
        code = _run(["worker", "--once"], env | {"KETACLINIC_SMTP_URL": sink.url}, monkeypatch)
        assert code in (0, None)
        assert len(sink.received) == 3
    assert {states(web_db)[i] for i in ids} == {"sent"}
    assert "3 sent" in capsys.readouterr().out


def test_without_an_smtp_url_or_with_a_bad_one_it_exits_2_naming_the_setting(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KETACLINIC_SMTP_URL", raising=False)
    assert _run(["worker", "--once"], env, monkeypatch) == 2
    assert "KETACLINIC_SMTP_URL" in capsys.readouterr().err
    assert _run(["worker", "--once"], env | {"KETACLINIC_SMTP_URL": "imap://mail"}, monkeypatch) == 2
    assert "KETACLINIC_SMTP_URL" in capsys.readouterr().err
    assert (
        _run(["worker", "--poll-s", "0"], env | {"KETACLINIC_SMTP_URL": "smtp://127.0.0.1:1"}, monkeypatch)
        == 2
    )
