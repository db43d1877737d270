"""`ketaclinic patients ...`: allergies, contact details and referrer from a terminal; bad input is exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app, main
from ketaclinic.services.patients.registry import view_patient
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.factories import make_patient

runner = CliRunner()


@pytest.fixture
def env(web_db: Database, tmp_path: Path) -> dict[str, str]:
    return {
        "KETACLINIC_DATABASE_URL": web_db.engine.url.render_as_string(hide_password=False),
        "KETACLINIC_VAR_DIR": str(tmp_path / "var"),
    }


@pytest.fixture
def patient_id(web_db: Database, web_staff: dict[str, Actor]) -> int:
    return make_patient(web_db, web_staff["nurse"], family_name="Roe", given_name="Sam")


def _run(env: dict[str, str], *args: str) -> dict[str, object]:
    result = runner.invoke(app, ["patients", *args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_allergies_contact_and_referrer_from_the_terminal(
    env: dict[str, str], patient_id: int, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    pid = str(patient_id)
    added = _run(
        env, "allergy-add", pid, "--substance", "Latex", "--reaction", "wheeze", "--severity", "severe"
    )
    assert added["allergy_status"] == "allergies_recorded"
    allergy_id = str(added["allergies"][0]["id"])  # type: ignore[index]
    _run(env, "allergy-strike", pid, allergy_id, "--reason", "wrong chart")
    assert _run(env, "no-known-allergies", pid)["allergy_status"] == "no_known_allergies"
    _run(env, "contact", pid, "--email", "sam@example.org", "--channel", "email")
    both = _run(
        env, "contact", pid, "--phone", "+44 20 7946 0000", "--consent", "yes", "--consent-on", "2026-12-01"
    )
    assert both["contact"] == {
        "email": "sam@example.org",
        "phone": "+442079460000",
        "address": None,
        "preferred_channel": "email",
        "consent_to_contact": True,
        "consent_on": "2026-12-01",
    }
    _run(
        env,
        "referrer",
        pid,
        "--name",
        "Dr Ana Silva",
        "--identifier",
        "GMC 7654321",
        "--address",
        "1 Main St",
    )
    stored = view_patient(web_db, web_staff["nurse"], patient_id)
    assert stored.referrer is not None and stored.referrer.identifier == "GMC 7654321"
    text = runner.invoke(app, ["patients", "show", pid], env=env)
    assert text.exit_code == 0
    assert "allergies: no known allergies" in text.stdout and "referrer: Dr Ana Silva" in text.stdout


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["allergy-add", "--substance", "Latex", "--reaction", "rash", "--severity", "awful"], "severity"),
        (["contact", "--phone", "12"], "phone"),
        (["contact", "--consent", "maybe"], "consent_to_contact"),
        (["referrer", "--name", "Dr X"], "email"),
        (["no-known-allergies", "--version", "99"], "version"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    env: dict[str, str],
    patient_id: int,
    args: list[str],
    word: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    command, *options = args
    monkeypatch.setattr(sys, "argv", ["ketaclinic", "patients", command, str(patient_id), *options])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    assert exited.value.code == 2, captured.err
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ") and word in captured.err
    assert captured.out == ""
