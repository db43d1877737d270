"""HTML cohort report and the `cohort report` command."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaclinic.cli import app
from ketaclinic.cli.output import fail_on_bad_input
from ketaclinic.outcomes import Cohort, CohortRecord, analyse_cohort, read_cohort_csv
from ketaclinic.reports.cohort import render_cohort_html
from ketaclinic.reports.svg import km_chart, rate_chart

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cohorts"
VALLE = FIXTURES / "valle2024_reconstructed.csv"
GARCIA = FIXTURES / "garcia2023_illustrative.csv"
THREE_MECHANISMS = "mechanism:neuropathic,nociplastic,nociceptive"
KETACLINIC = str(Path(sys.executable).with_name("ketaclinic"))


def test_html_report_is_self_contained_with_charts_and_sources() -> None:
    report = analyse_cohort(read_cohort_csv(VALLE))
    html = render_cohort_html(report, title="Vallé <2024>")
    assert "SYNTHETIC DATA" in html
    assert "Vallé &lt;2024&gt;" in html  # title escaped
    assert html.count("<svg") >= 7  # rates x4, slope, two KM curves, AE, dose
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert "https://" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "Acta Anaesthesiol Belg 2024" in html and "Dworkin" in html and "Peduzzi" in html
    assert "@media print" in html and "51.1 %" in html


def test_banner_only_for_synthetic_cohorts() -> None:
    cohort = Cohort(
        records=(
            CohortRecord("A", "G50.0", "neuropathic", 8.0, 2.0),
            CohortRecord("B", "M79.7", "nociplastic", 7.0, None),
        )
    )
    html = render_cohort_html(analyse_cohort(cohort), title="Real")
    assert "SYNTHETIC DATA" not in html
    assert "No relief_weeks" in html and "no sessions_planned" in html


def test_svg_rate_chart_escapes_labels_and_scales_bars() -> None:
    svg = rate_chart([{"label": "<x>", "rate": 0.5, "ci95": [0.3, 0.7], "n": 10, "count": 5}], title="t")
    assert "&lt;x&gt;" in svg and 'width="180.0"' in svg  # half of the 360-px bar
    km = km_chart(
        {"all": {"time": [0, 1, 2], "survival": [1, 0.5, 0.25], "n": 4}}, title="k", x_label="weeks"
    )
    assert km.count("<path") == 1 and "H" in km


def test_cli_json_and_html(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app, ["cohort", "report", "--input", str(GARCIA), "--compare", "diagnosis:G50.0,G50.1", "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["comparison"]["table"] == [[6, 1], [1, 4]] and data["synthetic"] is True
    out = tmp_path / "r.html"
    res = runner.invoke(
        app, ["cohort", "report", "--input", str(VALLE), "--definition", "immpact30", "--html", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "immpact30" in out.read_text()


def test_garcia_report_numbers_and_not_recorded_adverse_events(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["cohort", "report", "--input", str(GARCIA), "--compare", "diagnosis:G50.0,G50.1"]
    res = runner.invoke(app, [*args, "--alternative", "greater", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["relief_median_weeks"]["all"] == 3.0  # S(3) = 9/12 x 7/9 x 6/7 = 1/2 exactly
    assert data["adverse_events"]["recorded"] is False and data["adverse_events"]["patients_with_any"] is None
    assert "one-sided" in data["comparison"]["method"]
    out = tmp_path / "garcia.html"
    res = runner.invoke(app, [*args, "--html", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "not recorded: the cohort has no adverse_events column" in html
    assert "of 12 patients" not in html
    assert "Median relief<b>3 weeks" in html
    for method in (
        "two-sided",
        "Woolf logit interval",
        "exact conditional interval",
        "p-value by normal approximation",
    ):
        assert method in html
    assert "standardised mean change" in html and "the cohort has no daily NRS" in html


def test_valle_report_counts_adverse_events() -> None:
    html = render_cohort_html(analyse_cohort(read_cohort_csv(VALLE)), title="Vallé")
    assert "of 45 patients" in html and "no adverse_events column" not in html


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KETACLINIC, "cohort", "report", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", str(GARCIA), "--compare", "age:1,2", "--json"], "compare"),
        (["--input", str(GARCIA), "--definition", "nope", "--json"], "unknown outcome definition"),
        (["--input", str(GARCIA)], "exactly one of --json or --html"),
        (["--input", str(GARCIA), "--alternative", "up", "--json"], "alternative"),
        (
            ["--input", str(GARCIA), "--alternative", "less", "--json", "--compare", THREE_MECHANISMS],
            "exactly two groups",
        ),
    ],
)
def test_cli_bad_arguments_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    # In-process through the same wrapper as `ketaclinic.cli.main` (a subprocess per case is slow).
    with pytest.raises(SystemExit) as exit_info, fail_on_bad_input():
        app(["cohort", "report", *args], prog_name="ketaclinic", standalone_mode=False)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and err.count("\n") == 1


def test_cli_bad_file_lists_every_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(VALLE.read_text().replace("V001,G89.0,neuropathic,9,4", "V001,G89.0,neuropathic,19,4"))
    res = _run("--input", str(bad), "--json")
    assert res.returncode == 2
    assert "1 bad row; first: row 5, column baseline_nrs: 19 is outside 0-10" in res.stderr
    assert json.loads(res.stdout)["errors"] == [
        {"row": 5, "column": "baseline_nrs", "message": "19 is outside 0-10"}
    ]
