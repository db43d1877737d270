"""`ketaclinic monitor replay`: a recorded session through the alert rules and the PK engine, no database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ketaclinic.cli.output import emit_json, fail

monitor_app = typer.Typer(help="Infusion monitoring: alert rules, cadence, replay.", no_args_is_help=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"{path}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        fail(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")


def _summary(result: dict[str, Any]) -> str:
    lines = [
        f"model {result['model']}, {result['weight_kg']:g} kg, cadence {result['cadence']}, "
        f"{result['observations']} observations"
    ]
    for alert in result["alerts"]:
        lines.append(
            f"  {alert['t_min']:>7g} min  {alert['severity']:<8} {alert['advice']:<21} {alert['message']}"
        )
    for slot in result["overdue"]:
        lines.append(f"  {slot['t_due_min']:>7g} min  overdue  {slot['group']}")
    pk = result["pk"]
    lines.append(
        f"predicted Cp: peak {pk['peak_cp_ng_ml']:g} ng/mL at {pk['t_peak_min']:g} min; "
        f"{pk['cp_end_ng_ml']:g} ng/mL at the end of the infusion ({pk['t_end_min']:g} min)"
    )
    return "\n".join(lines)


@monitor_app.command("replay")
def replay(
    file: Annotated[Path, typer.Argument(help="Recorded session JSON (see docs/monitoring.md).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the replay as JSON.")] = False,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="Clinic override file for the local-policy alert rules (TOML)."),
    ] = None,
) -> None:
    """Replay a recorded session: which alerts would fire, which readings were overdue, predicted Cp."""
    from ketaclinic.monitoring import load_alert_rules, replay_session  # the PK engine: on use only

    active = load_alert_rules(rules)
    result = replay_session(_read_json(file), active)
    if as_json:
        emit_json(result)
    else:
        typer.echo(_summary(result))


def register(app: typer.Typer) -> None:
    """Add the `monitor` command group."""
    app.add_typer(monitor_app, name="monitor")
