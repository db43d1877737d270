"""`ketaclinic pk ...`: list models, simulate a regimen, a population, or plan a TCI, from a terminal."""

from __future__ import annotations

import itertools
import math
import re
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ketaclinic.cli.output import emit_json
from ketaclinic.errors import InputError

# The PK engine (NumPy, the models) is imported inside each command: `ketaclinic --help` and the
# commands of other capabilities start without it.
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ketaclinic.pharmacology import Bolus, Infusion, Regimen

pk_app = typer.Typer(
    help="Ketamine pharmacokinetics: models, exact simulation, populations, TCI.", no_args_is_help=True
)

CLI_GRID_OPTIONS = ("--times", "--until", "--step-s")
# No HTTP response to keep small, so a far larger grid than the API's.
CLI_MAX_POINTS = 5_000_000
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_BOLUS = re.compile(rf"^{_NUMBER}\s*mg(/kg)?\s*@\s*{_NUMBER}$")
_INFUSION = re.compile(rf"^{_NUMBER}\s*mg(/kg)?/h\s*@\s*{_NUMBER}\s*-\s*{_NUMBER}$")


def parse_bolus(text: str) -> tuple[Bolus, bool]:
    """'35mg@0' or '0.5mg/kg@10' -> (bolus, per_kg)."""
    from ketaclinic.pharmacology import Bolus

    match = _BOLUS.match(text.strip())
    if match is None:
        raise InputError(f"malformed bolus {text!r}; expected e.g. 35mg@0 or 0.5mg/kg@0", field="bolus")
    return Bolus(float(match[3]), float(match[1])), match[2] is not None


def parse_infusion(text: str) -> tuple[Infusion, bool]:
    """'0.5mg/kg/h@0-240' or '35mg/h@0-240' (minutes) -> (infusion, per_kg)."""
    from ketaclinic.pharmacology import Infusion

    match = _INFUSION.match(text.strip())
    if match is None:
        raise InputError(
            f"malformed infusion {text!r}; expected e.g. 0.5mg/kg/h@0-240 or 35mg/h@0-240", field="infusion"
        )
    return Infusion(float(match[3]), float(match[4]), float(match[1])), match[2] is not None


def parse_regimens(boluses: list[str], infusions: list[str]) -> tuple[Regimen, Regimen]:
    """(regimen in mg and mg/h, regimen in mg/kg and mg/kg/h) from the command-line strings."""
    from ketaclinic.pharmacology import Regimen

    parsed_b = [parse_bolus(b) for b in boluses]
    parsed_i = [parse_infusion(i) for i in infusions]
    absolute = Regimen(tuple(b for b, k in parsed_b if not k), tuple(i for i, k in parsed_i if not k))
    per_kg = Regimen(tuple(b for b, k in parsed_b if k), tuple(i for i, k in parsed_i if k))
    return absolute, per_kg


def parse_times(text: str, field: str = "times") -> list[float]:
    """'1,5,10' -> [1.0, 5.0, 10.0]; must be finite and increasing."""
    try:
        times = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"malformed times {text!r}; expected e.g. 1,5,10", field=field) from None
    if not times:
        raise InputError("no times given", field=field)
    if not all(math.isfinite(t) for t in times):
        raise InputError(f"times must be finite numbers of minutes, got {text!r}", field=field)
    if any(b < a for a, b in itertools.pairwise(times)):
        raise InputError(f"times must be sorted in increasing order, got {text!r}", field=field)
    return times


def grid(times: str | None, until_min: float | None, step_s: float | None) -> npt.NDArray[np.float64]:
    """The time grid from --times, or from --until and --step-s (0 to until inclusive)."""
    from ketaclinic.services.pk import GridNames, check_grid_choice, minutes_grid

    names = GridNames(*CLI_GRID_OPTIONS)
    # Which way the grid is given is checked before --times is parsed, so that mistake is named first.
    check_grid_choice(times, until_min, step_s, names)
    parsed = None if times is None else parse_times(times)
    return minutes_grid(parsed, until_min, step_s, max_points=CLI_MAX_POINTS, names=names)


def parse_range(text: str, field: str) -> tuple[float, float]:
    """'50-110' -> (50.0, 110.0)."""
    match = re.match(rf"^{_NUMBER}\s*-\s*{_NUMBER}$", text.strip())
    if match is None:
        raise InputError(f"malformed range {text!r}; expected e.g. 50-110", field=field)
    return float(match[1]), float(match[2])


def _ke0(model: str, weight_kg: float, ke0: float | None, t_peak_min: float | None) -> float | None:
    """--ke0 as given, or the ke0 that puts the effect peak of a bolus at --t-peak-min."""
    if t_peak_min is None:
        return ke0
    if ke0 is not None:
        raise InputError("give either --ke0 or --t-peak-min, not both", field="ke0")
    from ketaclinic.pharmacology import ke0_from_t_peak

    return ke0_from_t_peak(model, weight_kg, t_peak_min)


def _warn(warnings: tuple[str, ...] | list[str]) -> None:
    for warning in warnings:
        sys.stderr.write(f"warning: {warning}\n")


@pk_app.command("models")
def models(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the shipped PK models with their sources and status."""
    from ketaclinic.pharmacology import list_models

    if as_json:
        emit_json([m.as_dict() for m in list_models()])
        return
    for m in list_models():
        ke0 = f"ke0 {m.ke0_per_min:.3g}/min" if m.ke0_per_min is not None else "no ke0"
        typer.echo(
            f"{m.key:<14} {m.drug:<10} {m.compartments}-cmt  {m.status.value:<9} {ke0:<16} {m.citation}"
        )


@pk_app.command("simulate")
def simulate_cmd(
    model: Annotated[str, typer.Option("--model", help="Model key (see `pk models`).")],
    weight_kg: Annotated[float, typer.Option("--weight-kg", help="Body weight (kg).")],
    age_y: Annotated[
        float | None, typer.Option("--age-y", help="Age (years), checked against the model.")
    ] = None,
    bolus: Annotated[
        list[str] | None, typer.Option("--bolus", help="e.g. 35mg@0 or 0.5mg/kg@0 (minutes).")
    ] = None,
    infusion: Annotated[
        list[str] | None, typer.Option("--infusion", help="e.g. 0.5mg/kg/h@0-240 or 35mg/h@0-240 (minutes).")
    ] = None,
    times: Annotated[str | None, typer.Option("--times", help="Comma-separated minutes, increasing.")] = None,
    until: Annotated[float | None, typer.Option("--until", help="Last minute of the grid.")] = None,
    step_s: Annotated[float | None, typer.Option("--step-s", help="Grid step (seconds).")] = None,
    ke0: Annotated[float | None, typer.Option("--ke0", help="Effect-site rate constant (1/min).")] = None,
    t_peak_min: Annotated[
        float | None, typer.Option("--t-peak-min", help="Time to peak effect after a bolus (min): sets ke0.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    norketamine: Annotated[
        bool,
        typer.Option("--norketamine", help="Add S-norketamine (nmol/L) where a metabolite model exists."),
    ] = False,
) -> None:
    """Predict plasma (and effect-site) concentrations for one patient."""
    from ketaclinic.pharmacology import Regimen, get_model, simulate, simulate_metabolite
    from ketaclinic.services.pk import points as points_of

    pk = get_model(model)
    absolute, per_kg = parse_regimens(bolus or [], infusion or [])
    if weight_kg <= 0:
        raise InputError(f"weight must be > 0 kg, got {weight_kg}", field="weight_kg")
    regimen = Regimen(
        absolute.boluses + per_kg.scaled(weight_kg).boluses,
        absolute.infusions + per_kg.scaled(weight_kg).infusions,
    )
    ke0 = _ke0(pk.key, weight_kg, ke0, t_peak_min)
    t = grid(times, until, step_s)
    prediction = simulate(pk, weight_kg, regimen, t, age_y=age_y, ke0_per_min=ke0)
    points = points_of(prediction)
    if norketamine:
        metabolite = simulate_metabolite(pk, weight_kg, regimen, t, age_y=age_y)
        for point, conc in zip(points, metabolite.conc_nmol_l.tolist(), strict=True):
            point["norketamine_nmol_l"] = conc
    if as_json:
        emit_json(
            {
                "model": pk.key,
                "weight_kg": weight_kg,
                "warnings": list(prediction.warnings),
                "points": points,
            }
        )
        return
    _warn(prediction.warnings)
    columns = list(points[0])
    if as_csv:
        typer.echo(",".join(columns))
        for p in points:
            typer.echo(",".join(f"{v:.6g}" if k == "t_min" else f"{v:.4f}" for k, v in p.items()))
        return
    typer.echo(f"model {pk.key} ({pk.citation}), {weight_kg:g} kg")
    typer.echo(" ".join(f"{c:>10}" if c != "norketamine_nmol_l" else f"{'norket_nM':>10}" for c in columns))
    for p in points:
        typer.echo(" ".join(f"{v:>10.{2 if k == 't_min' else 1}f}" for k, v in p.items()))


@pk_app.command("population")
def population_cmd(
    model: Annotated[str, typer.Option("--model", help="Model key.")],
    n: Annotated[int, typer.Option("--n", help="Number of simulated patients.")],
    weight_kg_range: Annotated[str, typer.Option("--weight-kg-range", help="Uniform weights, e.g. 50-110.")],
    until: Annotated[float, typer.Option("--until", help="Last minute of the grid.")],
    step_s: Annotated[float, typer.Option("--step-s", help="Grid step (seconds).")],
    report_times: Annotated[str, typer.Option("--report-times", help="Minutes to report, e.g. 60,120,240.")],
    bolus: Annotated[list[str] | None, typer.Option("--bolus", help="e.g. 35mg@0 or 0.5mg/kg@0.")] = None,
    infusion: Annotated[list[str] | None, typer.Option("--infusion", help="e.g. 0.5mg/kg/h@0-240.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (reproducible runs).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Percentiles 5/50/95 of Cp across a sampled population (weights and published variability)."""
    import numpy as np

    from ketaclinic.pharmacology import get_model, uniform_weights
    from ketaclinic.pharmacology.population import summarize_population

    pk = get_model(model)
    if n < 1 or n > 1_000_000:
        raise InputError(f"--n must be between 1 and 1000000, got {n}", field="n")
    absolute, per_kg = parse_regimens(bolus or [], infusion or [])
    low, high = parse_range(weight_kg_range, "weight_kg_range")
    t = grid(None, until, step_s)
    report = parse_times(report_times, "report_times")
    if report[0] < 0 or report[-1] > t[-1]:
        raise InputError(f"report times must lie within 0-{until:g} min", field="report_times")
    rng = np.random.default_rng(seed)
    weights = uniform_weights(n, low, high, rng)
    # Summarised block by block: the full (n, grid) matrix is never held (docs/performance.md).
    result = summarize_population(pk, weights, t, report, regimen=absolute, regimen_per_kg=per_kg, seed=rng)
    at = result.at_report_ng_ml
    rows: list[dict[str, Any]] = [
        {
            "t_min": float(tm),
            "p5_ng_ml": float(at[0, i]),
            "p50_ng_ml": float(at[1, i]),
            "p95_ng_ml": float(at[2, i]),
        }
        for i, tm in enumerate(report)
    ]
    payload = {
        "model": pk.key,
        "n": n,
        "seed": seed,
        "weight_kg_range": [low, high],
        "warnings": list(result.warnings),
        "percentiles": rows,
        "median_peak": {"t_min": result.median_peak_t_min, "cp_ng_ml": result.median_peak_ng_ml},
    }
    if as_json:
        emit_json(payload)
        return
    _warn(result.warnings)
    typer.echo(f"model {pk.key}, {n} patients, {low:g}-{high:g} kg")
    typer.echo(f"{'t_min':>8} {'p5':>9} {'p50':>9} {'p95':>9}  (ng/mL)")
    for row in rows:
        typer.echo(
            f"{row['t_min']:>8.1f} {row['p5_ng_ml']:>9.1f} {row['p50_ng_ml']:>9.1f} {row['p95_ng_ml']:>9.1f}"
        )


@pk_app.command("tci")
def tci_cmd(
    model: Annotated[str, typer.Option("--model", help="Model key.")],
    weight_kg: Annotated[float, typer.Option("--weight-kg", help="Body weight (kg).")],
    target_ng_ml: Annotated[float, typer.Option("--target-ng-ml", help="Target concentration (ng/mL).")],
    duration_min: Annotated[float, typer.Option("--duration-min", help="Plan length (minutes).")],
    site: Annotated[str, typer.Option("--site", help="plasma or effect.")] = "plasma",
    interval_s: Annotated[float, typer.Option("--interval-s", help="Update interval (seconds).")] = 10.0,
    max_rate_mg_h: Annotated[
        float | None, typer.Option("--max-rate-mg-h", help="Pump maximum (mg/h).")
    ] = None,
    ke0: Annotated[float | None, typer.Option("--ke0", help="Effect-site rate constant (1/min).")] = None,
    t_peak_min: Annotated[
        float | None, typer.Option("--t-peak-min", help="Time to peak effect after a bolus (min): sets ke0.")
    ] = None,
    max_plasma_ng_ml: Annotated[
        float | None, typer.Option("--max-plasma-ng-ml", help="Cap on plasma overshoot (effect targeting).")
    ] = None,
    practical: Annotated[
        bool, typer.Option("--practical", help="Rates held for --hold-min minutes.")
    ] = False,
    hold_min: Annotated[float, typer.Option("--hold-min", help="Practical plan: minutes per rate.")] = 15.0,
    tolerance_pct: Annotated[
        float, typer.Option("--tolerance-pct", help="Practical plan: allowed deviation.")
    ] = 10.0,
    age_y: Annotated[
        float | None, typer.Option("--age-y", help="Age (years), checked against the model.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Plan a target-controlled infusion: a rate schedule and the predicted concentrations."""
    from ketaclinic.pharmacology import get_model, practical_schedule, tci_effect, tci_plasma
    from ketaclinic.services.pk import points as points_of

    pk = get_model(model)
    if site not in ("plasma", "effect"):
        raise InputError(f"site must be plasma or effect, got {site!r}", field="site")
    if weight_kg <= 0:
        raise InputError(f"weight must be > 0 kg, got {weight_kg}", field="weight_kg")
    ke0 = _ke0(pk.key, weight_kg, ke0, t_peak_min)
    payload: dict[str, Any] = {
        "model": pk.key,
        "site": site,
        "target_ng_ml": target_ng_ml,
        "weight_kg": weight_kg,
    }
    if practical:
        plan = practical_schedule(
            pk, weight_kg, target_ng_ml, duration_min, site="effect" if site == "effect" else "plasma",
            hold_min=hold_min, tolerance_pct=tolerance_pct, interval_s=interval_s,
            max_rate_mg_h=max_rate_mg_h, ke0_per_min=ke0, age_y=age_y,
        )  # fmt: skip
        segments, total, prediction = plan.segments, plan.total_mg, plan.prediction
        payload |= {
            "hold_min": hold_min,
            "tolerance_pct": tolerance_pct,
            "loading_end_min": plan.loading_end_min,
            "max_deviation_pct": plan.max_deviation_pct,
            "within_tolerance": plan.within_tolerance,
        }
    elif site == "effect":
        result = tci_effect(
            pk, weight_kg, target_ng_ml, duration_min, interval_s=interval_s, max_rate_mg_h=max_rate_mg_h,
            ke0_per_min=ke0, max_plasma_ng_ml=max_plasma_ng_ml, age_y=age_y,
        )  # fmt: skip
        segments, total, prediction = result.segments, result.total_mg, result.prediction
    else:
        result = tci_plasma(
            pk, weight_kg, target_ng_ml, duration_min, interval_s=interval_s, max_rate_mg_h=max_rate_mg_h,
            ke0_per_min=ke0, age_y=age_y,
        )  # fmt: skip
        segments, total, prediction = result.segments, result.total_mg, result.prediction
    payload |= {
        "warnings": list(prediction.warnings),
        "segments": [
            {"start_min": s.start_min, "end_min": s.end_min, "rate_mg_h": s.rate_mg_h} for s in segments
        ],
        "total_mg": total,
        "points": points_of(prediction),
    }
    if as_json:
        emit_json(payload)
        return
    _warn(prediction.warnings)
    typer.echo(
        f"model {pk.key}, {site} target {target_ng_ml:g} ng/mL, "
        f"total {total:.1f} mg, {len(segments)} segments"
    )
    for s in segments[:40]:
        typer.echo(f"{s.start_min:>8.2f}-{s.end_min:<8.2f} {s.rate_mg_h:>9.1f} mg/h")
    if len(segments) > 40:
        typer.echo(f"... {len(segments) - 40} more segments (use --json)")
    if "max_deviation_pct" in payload:
        typer.echo(
            f"max deviation after loading {payload['max_deviation_pct']:.1f} % "
            f"(tolerance {tolerance_pct:g} %)"
        )


def register(app: typer.Typer) -> None:
    """Add `ketaclinic pk ...`."""
    app.add_typer(pk_app, name="pk")
