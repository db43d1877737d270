"""`ketaclinic cohort export --aggregate` and `cohort pool`: three site files pool to the whole cohort."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app
from ketaclinic.outcomes import read_cohort_csv
from ketaclinic.services.outcomes.cohort import import_cohort
from ketaclinic.services.permissions import Actor
from ketaclinic.store.db import Database
from tests.outcomes.test_outcomes_federated import POOLED_KEYS

VALLE = Path(__file__).resolve().parents[1] / "fixtures" / "cohorts" / "valle2024_reconstructed.csv"
KETACLINIC = str(Path(sys.executable).with_name("ketaclinic"))
runner = CliRunner()


def _site_csvs(tmp_path: Path) -> list[Path]:
    """The fixture's patients dealt into three site CSV files (comment and header lines kept)."""
    lines = VALLE.read_text(encoding="utf-8").splitlines()
    head = [line for line in lines if line.startswith("#")]
    header, rows = lines[len(head)], lines[len(head) + 1 :]
    paths = []
    for i in range(3):
        path = tmp_path / f"site{i}.csv"
        path.write_text("\n".join([*head, header, *rows[i::3]]) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def _export(csv: Path, out: Path, site: str, *extra: str) -> None:
    args = ["cohort", "export", "--aggregate", str(out), "--site", site, "--input", str(csv), *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {out}: site {site!r}")


def test_three_site_files_pool_to_the_whole_report(tmp_path: Path) -> None:
    files = []
    for i, csv in enumerate(_site_csvs(tmp_path)):
        files.append(tmp_path / f"site{i}.json")
        _export(csv, files[-1], f"site {i}", "--min-cell", "0")
    pooled = runner.invoke(app, ["cohort", "pool", *map(str, files), "--json"])
    assert pooled.exit_code == 0, pooled.output
    full = runner.invoke(app, ["cohort", "report", "--input", str(VALLE), "--json"])
    got, want = json.loads(pooled.stdout), json.loads(full.stdout)
    assert got["pooled"]["exact"] is True and got["n"] == 45 and got["responders"] == 23
    for key in POOLED_KEYS:
        assert got[key] == want[key], key
    text = runner.invoke(app, ["cohort", "pool", *map(str, files)])
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[:2] == [
        "SYNTHETIC DATA: a site's cohort is marked synthetic",
        "3 sites (site 0, site 1, site 2): 45 patients, 23 responders (valle2024)",
    ]
    assert "Freeman-Halton" in text.stdout and "equal the pooled cohort's" in text.stdout


def test_default_suppression_is_written_into_the_file(tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    _export(_site_csvs(tmp_path)[0], out, "A")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["suppression"]["min_cell"] == 5 and doc["suppression"]["cells"]
    pooled = runner.invoke(app, ["cohort", "pool", str(out)])
    assert pooled.exit_code == 0, pooled.output
    assert "not exact" in pooled.stdout


def test_different_definitions_are_refused_in_one_line(tmp_path: Path) -> None:
    first, second = _site_csvs(tmp_path)[:2]
    _export(first, tmp_path / "a.json", "A", "--min-cell", "0")
    _export(second, tmp_path / "b.json", "B", "--min-cell", "0", "--definition", "immpact30")
    (tmp_path / "c.json").write_text("{not json", encoding="utf-8")
    for names, message in (
        (["a.json", "b.json"], "b.json: responder definition 'immpact30' differs"),
        (["a.json", "c.json"], "c.json: not a JSON file"),
        (["a.json", "a.json"], "site 'A' is given twice"),
    ):
        done = subprocess.run(
            [KETACLINIC, "cohort", "pool", *(str(tmp_path / n) for n in names)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert done.stdout == ""


@pytest.fixture
def env(web_db: Database, tmp_path: Path) -> dict[str, str]:
    return {
        "KETACLINIC_DATABASE_URL": web_db.engine.url.render_as_string(hide_password=False),
        "KETACLINIC_VAR_DIR": str(tmp_path / "var"),
    }


def test_export_from_the_database(
    env: dict[str, str], web_db: Database, web_staff: dict[str, Actor], tmp_path: Path
) -> None:
    import_cohort(web_db, web_staff["researcher"], read_cohort_csv(VALLE), name="valle")
    out = tmp_path / "site.json"
    args = ["cohort", "export", "--aggregate", str(out), "--site", "Leuven", "--cohort", "valle"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["site"] == "Leuven" and doc["totals"]["n"] == 45
