"""`ketaclinic screen FILE.json`: screen an intake file with no database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ketaclinic.cli.output import emit_json, fail, fail_on_bad_input

if TYPE_CHECKING:
    from ketaclinic.screening import ScreeningResult


def _read_intake(path: Path) -> Any:
    """The parsed JSON of an intake file; a missing or unreadable file is one line and exit 2."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read ({exc})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")


def render_summary(result: ScreeningResult) -> str:
    """A readable summary of a screening result."""
    lines = [f"Verdict: {result.verdict.value.replace('_', ' ')}"]
    if result.reasons:
        lines.append("Reasons:")
        lines += [f"  [{r.severity.value}] {r.text} ({r.source}; grade {r.grade})" for r in result.reasons]
    else:
        lines.append("Reasons: none")
    if result.missing_prerequisites:
        lines.append("Missing prerequisites:")
        lines += [f"  {m.group}: {m.text}" for m in result.missing_prerequisites]
    if result.required_tests:
        lines.append("Required pre-infusion tests:")
        lines += [f"  {t.label} (because: {', '.join(t.because)}; {t.source})" for t in result.required_tests]
    lines.append("Evidence:")
    for group in result.evidence.groups:
        lines.append(f"  {group.group} ({', '.join(group.diagnoses)}): grade {group.grade}. {group.summary}")
        lines += [f"    {f.text} ({f.source})" for f in [*group.findings, *group.notes]]
        if group.clinic_rate is not None:
            rate = group.clinic_rate
            shown = f"{rate.rate:.1%}" if rate.rate is not None else "n/a"
            lines.append(f"    This clinic: {rate.responders}/{rate.n} responders ({shown})")
    for cohort in result.evidence.published_cohorts:
        lines.append(
            f"  {cohort.study}: {cohort.responders}/{cohort.n} favourable ({cohort.rate:.1%}); "
            f"{cohort.definition}"
        )
    baseline = [
        f"{s.instrument} {s.score if s.score is not None else 'not recorded'}"
        + (" (flagged for review)" if s.flagged else "")
        for s in [*result.mood.values(), *result.substance_screening.values()]
    ]
    lines.append("Baseline scores: " + ", ".join(baseline))
    return "\n".join(lines)


def screen(
    file: Annotated[Path, typer.Argument(help="Intake JSON file (schema: docs/intake.md).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    rules_file: Annotated[
        Path | None, typer.Option("--rules", help="Clinic override TOML for local-policy values.")
    ] = None,
    high_frequent_dosing: Annotated[
        bool, typer.Option("--high-frequent-dosing", help="High or frequent dosing is planned (liver tests).")
    ] = False,
) -> None:
    """Screen an intake file for IV ketamine: verdict, reasons with sources, tests, evidence."""
    from ketaclinic.screening import evaluate, load_rules, parse_intake

    with fail_on_bad_input():
        raw = _read_intake(file)
        if not isinstance(raw, dict):
            fail(f"{file}: the intake must be a JSON object")
        result = evaluate(
            parse_intake(raw),
            rules=load_rules(rules_file),
            planned_high_frequent_dosing=high_frequent_dosing,
        )
    if as_json:
        emit_json(result.to_json_dict())
    else:
        typer.echo(render_summary(result))


def register(app: typer.Typer) -> None:
    """Add `ketaclinic screen`."""
    app.command("screen")(screen)
