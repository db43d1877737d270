"""`ketaclinic cohort report --db URL`: the clinic cohort of the database named; a bad URL is exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from ketaclinic.cli import app
from ketaclinic.cli.output import fail_on_bad_input
from ketaclinic.services.outcomes.cohort import cohort_report
from ketaclinic.services.permissions import SYSTEM, Actor
from ketaclinic.store.db import Database
from ketaclinic.store.tables.audit import AuditEvent
from tests.conftest import TEST_SECRET_KEY
from tests.services.test_outcomes_service import treated

runner = CliRunner()


def test_report_reads_the_database_named_by_db(
    web_db: Database, web_staff: dict[str, Actor], tmp_path: Path
) -> None:
    nurse = web_staff["nurse"]
    treated(web_db, nurse, "D1", 8, {1: 2, 12: 3})
    treated(web_db, nurse, "D2", 7, {12: 6}, code="G50.1", mechanism="nociplastic")
    # The environment names another (empty) database: --db wins.
    env = {
        "KETACLINIC_DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}",
        "KETACLINIC_VAR_DIR": str(tmp_path / "var"),
        "KETACLINIC_SECRET_KEY": TEST_SECRET_KEY,
    }
    url = web_db.engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["cohort", "report", "--db", url, "--json"], env=env)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    expected = cohort_report(web_db, SYSTEM)
    assert (got["cohort"], got["n"], got["responders"]) == ("clinic", 2, 1)
    assert (got["n"], got["responders"], got["responder_rate"]) == (
        expected["n"],
        expected["responders"],
        expected["responder_rate"],
    )
    assert got["by_diagnosis"].keys() == expected["by_diagnosis"].keys() == {"G50.0", "G50.1"}
    with web_db.transaction() as session:
        exports = session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert [e.entity for e in exports] == ["cohort"]  # the export is audited in the database read


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nonsense", "--db: not a database URL"),
        ("mysql://user@localhost/clinic", "--db: 'mysql' is not a supported database"),
        ("sqlite:////nonexistent-dir/clinic.db", "--db: cannot open the database"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/clinic", "--db: cannot open the database"),
    ],
)
def test_bad_db_url_is_one_line_and_exit_2(
    url: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KETACLINIC_VAR_DIR", str(tmp_path / "var"))
    with pytest.raises(SystemExit) as exit_info, fail_on_bad_input():
        app(["cohort", "report", "--db", url, "--json"], prog_name="ketaclinic", standalone_mode=False)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and err.count("\n") == 1, err


def test_db_and_input_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info, fail_on_bad_input():
        args = ["cohort", "report", "--input", "x.csv", "--db", "sqlite:///x.db", "--json"]
        app(args, prog_name="ketaclinic", standalone_mode=False)
    assert exit_info.value.code == 2 and "--input FILE or --db URL" in capsys.readouterr().err
