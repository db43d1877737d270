"""`ketaclinic dose plan|check`, `library show`, `protocols list`: pure dosing, no database."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ketaclinic.cli.output import emit_json, fail
from ketaclinic.errors import InputError

# The dosing package (and the PK engine a plan's prediction uses) is imported inside each command.
if TYPE_CHECKING:
    from ketaclinic.dosing import DosePlan, DrugLibrary, Protocol
    from ketaclinic.services.reference import ClinicReference

dose_app = typer.Typer(help="Dose plans and drug-library checks.", no_args_is_help=True)
library_app = typer.Typer(help="The smart-pump drug library.", no_args_is_help=True)
protocols_app = typer.Typer(help="The protocol library.", no_args_is_help=True)

LibraryOpt = Annotated[
    Path | None,
    typer.Option(
        "--library",
        help="Clinic override file for the drug library (TOML); default: the one in KETACLINIC_CONFIG_DIR.",
    ),
]
ProtocolsDirOpt = Annotated[
    Path | None, typer.Option("--protocols-dir", help="Directory of the clinic's own protocol files.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _clinic_reference() -> ClinicReference:
    """The clinic's library and protocols (KETACLINIC_CONFIG_DIR), or the shipped ones."""
    from ketaclinic.services.reference import clinic_library

    config_dir = os.environ.get("KETACLINIC_CONFIG_DIR")  # read alone: no settings side effects here
    return clinic_library(Path(config_dir) if config_dir else None)


def _clinic_library(override_path: Path | None) -> DrugLibrary:
    """The library every check here uses: --library when given, else the clinic's (KETACLINIC_CONFIG_DIR)."""
    from ketaclinic.dosing import load_library

    if override_path is not None:
        return load_library(override_path)
    return _clinic_reference().library


def _protocol(protocol_id: str, protocols_dir: Path | None) -> Protocol:
    """--protocols-dir when given, else the clinic's protocols like the web's plan builder."""
    from ketaclinic.dosing import get_protocol

    if protocols_dir is not None:
        return get_protocol(protocol_id, extra_dir=protocols_dir)
    return _clinic_reference().protocol(protocol_id)


def _parse_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{text!r} is not a date YYYY-MM-DD", field="start") from None


def _parse_choices(pairs: list[str] | None) -> dict[str, float]:
    """`dose_mg_kg=0.8` pairs (the protocol's choosable numbers) as a mapping."""
    choices: dict[str, float] = {}
    for pair in pairs or []:
        key, _, raw = pair.partition("=")
        try:
            choices[key.strip()] = float(raw)
        except ValueError:
            raise InputError(f"{pair!r} is not KEY=NUMBER, e.g. dose_mg_kg=0.8", field="choice") from None
    return choices


def _print_plan(plan: DosePlan) -> None:
    from ketaclinic.dosing.pump import pump_ml_h_text

    w = plan.weight
    typer.echo(f"{plan.protocol_id}: {plan.protocol_name}")
    typer.echo(f"  {plan.citation}")
    typer.echo(
        f"  context {plan.context}, {plan.concentration_mg_ml:g} mg/mL,"
        f" dosing weight {w.weight_kg:.1f} kg ({w.kind})"
    )
    for p in plan.premedication:
        typer.echo(f"  premedication: {p.drug} {p.dose_mg:g} mg {p.route} x{p.doses} {p.timing} ({p.source})")
    for s in plan.sessions:
        typer.echo(f"  session {s.number} {s.date.isoformat()} {s.label}: {s.total_mg:.1f} mg [{s.verdict}]")
        for seg in s.segments:
            ml_h = pump_ml_h_text(seg.pump_ml_h, plan.pump_resolution_ml_h)
            typer.echo(
                f"    {seg.start_min:>7.0f}-{seg.end_min:<7.0f} min  {seg.rate_mg_kg_h:.3f} mg/kg/h"
                f"  {seg.rate_mg_h:.2f} mg/h  {ml_h} mL/h  {seg.volume_ml:.1f} mL"
            )
        if s.prediction is not None:
            pr = s.prediction
            typer.echo(
                f"    predicted peak Cp {pr.peak_cp_ng_ml:.0f} ng/mL at {pr.peak_cp_t_min:.0f} min;"
                f" {pr.minutes_in_analgesic_window:.0f} min in"
                f" {pr.window_low_ng_ml:g}-{pr.window_high_ng_ml:g} ng/mL ({pr.model_key})"
            )
    typer.echo(f"  series total {plan.series_total_mg:.1f} mg; verdict {plan.verdict}")
    for c in plan.soft_breaches:
        typer.echo(f"  SOFT (reason + co-signature needed): {c.message}")


@dose_app.command("plan")
def plan_command(
    protocol: Annotated[str, typer.Option("--protocol", help="Protocol id (see `protocols list`).")],
    weight_kg: Annotated[float, typer.Option("--weight-kg", help="Actual body weight (kg).")],
    height_cm: Annotated[float | None, typer.Option("--height-cm", help="Height (cm).")] = None,
    sex: Annotated[str | None, typer.Option("--sex", help="female or male (for ideal body weight).")] = None,
    dosing_weight: Annotated[
        str, typer.Option("--dosing-weight", help="actual, ideal (Devine) or adjusted.")
    ] = "actual",
    concentration_mg_ml: Annotated[
        float | None, typer.Option("--concentration-mg-ml", help="Must be a library concentration.")
    ] = None,
    volume_ml: Annotated[
        float | None, typer.Option("--volume-ml", help="Bag or syringe volume (mL).")
    ] = None,
    start: Annotated[str | None, typer.Option("--start", help="First session date YYYY-MM-DD.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="PK model key for the prediction.")] = None,
    choice: Annotated[
        list[str] | None,
        typer.Option("--choice", help="A choosable protocol number, e.g. dose_mg_kg=0.8 (repeat)."),
    ] = None,
    library: LibraryOpt = None,
    protocols_dir: ProtocolsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compute a dose plan for a protocol and a patient; hard-limit breaches are refused (exit 2)."""
    from ketaclinic.dosing import build_plan

    plan = build_plan(
        _protocol(protocol, protocols_dir),
        weight_kg=weight_kg,
        height_cm=height_cm,
        sex=sex,
        dosing_weight=dosing_weight,
        concentration_mg_ml=concentration_mg_ml,
        volume_ml=volume_ml,
        start=_parse_date(start),
        model_key=model,
        library=_clinic_library(library),
        choices=_parse_choices(choice),
    )
    if as_json:
        emit_json(plan.to_json_dict())
    else:
        _print_plan(plan)


@dose_app.command("check")
def check_command(
    context: Annotated[str, typer.Option("--context", help="Library context id (see `library show`).")],
    weight_kg: Annotated[float, typer.Option("--weight-kg", help="Dosing weight (kg).")],
    rate: Annotated[
        str | None,
        typer.Option("--rate", help="e.g. 2.5mg/kg/h, 25mg/h, 25mL/h (needs --concentration-mg-ml)."),
    ] = None,
    bolus: Annotated[str | None, typer.Option("--bolus", help="e.g. 20mg or 0.3mg/kg.")] = None,
    concentration_mg_ml: Annotated[
        float | None, typer.Option("--concentration-mg-ml", help="Must be a library concentration.")
    ] = None,
    library: LibraryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Is this rate or bolus allowed here? ok, soft (needs a reason) or hard (refused); exit 0 either way."""
    from ketaclinic.dosing import check_dose, parse_dose, parse_rate

    if (rate is None) == (bolus is None):
        fail("give exactly one of --rate or --bolus")
    dose = parse_rate(rate, field="rate") if rate is not None else parse_dose(bolus or "", field="bolus")
    result = check_dose(
        _clinic_library(library),
        context,
        dose=dose,
        weight_kg=weight_kg,
        concentration_mg_ml=concentration_mg_ml,
    )
    if as_json:
        emit_json(result.to_json_dict())
    else:
        typer.echo(f"{result.decisive.verdict.upper()}: {result.decisive.message}")


@library_app.command("show")
def library_show(library: LibraryOpt = None, as_json: JsonOpt = False) -> None:
    """Print the drug library, every limit with its source and status."""
    lib = _clinic_library(library)
    if as_json:
        emit_json(lib.to_json_dict())
        return
    for ctx in lib.contexts.values():
        conc = ", ".join(f"{c:g}" for c in ctx.concentrations.values_mg_ml)
        typer.echo(f"{ctx.id}: {ctx.label} [{ctx.drug}, {ctx.setting}] concentrations {conc} mg/mL")
        for limit_set in ctx.limits.values():
            for kind in ("hard_min", "soft_min", "soft_max", "hard_max"):
                value = getattr(limit_set, kind)
                if value is not None:
                    typer.echo(
                        f"  {limit_set.quantity:<17} {kind:<8} {value.value:>8g} {limit_set.unit:<8}"
                        f" [{value.status}] {value.source}"
                    )


@protocols_app.command("list")
def protocols_list(protocols_dir: ProtocolsDirOpt = None, as_json: JsonOpt = False) -> None:
    """List the protocols (shipped and the clinic's own)."""
    from ketaclinic.dosing import load_protocols

    protocols = load_protocols(protocols_dir)
    if as_json:
        emit_json([p.to_json_dict() for p in protocols.values()])
        return
    for p in protocols.values():
        typer.echo(
            f"{p.id:<24} {p.drug:<10} {p.context:<13} {p.schedule.session_count:>2} session(s)  {p.name}"
        )


def register(app: typer.Typer) -> None:
    """Add the dose, library and protocols command groups."""
    app.add_typer(dose_app, name="dose")
    app.add_typer(library_app, name="library")
    app.add_typer(protocols_app, name="protocols")
