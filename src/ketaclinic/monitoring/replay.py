"""Replay a recorded session through the alert rules, the cadence and the PK engine, with no database.

Used by `ketaclinic monitor replay` to see what a rule change would have done to a past session.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ketaclinic.errors import InputError
from ketaclinic.monitoring.alert_rules import AlertRule, load_alert_rules
from ketaclinic.monitoring.cadence import get_cadence, overdue, times_by_group
from ketaclinic.monitoring.concentration import charted_prediction
from ketaclinic.monitoring.observations import Observation, parse_observation
from ketaclinic.monitoring.rules import evaluate_observation, overdue_findings
from ketaclinic.pharmacology import Infusion, Regimen, simulate

KNOWN_KEYS = frozenset(
    {"weight_kg", "model", "baseline", "segments", "planned_segments", "observations", "cadence", "end_min"}
)
PEAK_STEP_MIN = 0.5


def _number(raw: Mapping[str, Any], key: str, where: str) -> float:
    value = raw.get(key)
    if value is None:
        raise InputError("is required", field=where + key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InputError(f"{value!r} is not a finite number", field=where + key)
    return float(value)


def parse_segments(raw: object, where: str) -> tuple[Infusion, ...]:
    """Rate segments [{"start_min", "end_min", "rate_mg_h"}, ...]; errors name `where[i].field`."""
    if not isinstance(raw, list):
        raise InputError("must be a list of {start_min, end_min, rate_mg_h}", field=where)
    segments = []
    for i, row in enumerate(raw):
        here = f"{where}[{i}]."
        if not isinstance(row, Mapping):
            raise InputError("is not an object", field=f"{where}[{i}]")
        unknown = sorted(set(row) - {"start_min", "end_min", "rate_mg_h"})
        if unknown:
            raise InputError(
                "unknown segment field (known: start_min, end_min, rate_mg_h)", field=here + unknown[0]
            )
        start, end, rate = (_number(row, k, here) for k in ("start_min", "end_min", "rate_mg_h"))
        try:
            segments.append(Infusion(start, end, rate))
        except InputError as exc:
            raise InputError(exc.message, field=f"{where}[{i}]") from None
    return tuple(segments)


def _observations(raw: object) -> list[Observation]:
    if not isinstance(raw, list):
        raise InputError("must be a list of observation objects", field="observations")
    return [parse_observation(row, where=f"observations[{i}]") for i, row in enumerate(raw)]


def _cp_at(model: str, weight_kg: float, regimen: Regimen, times: Sequence[float]) -> list[float]:
    """Cp at each time (0 before the start: nothing given yet)."""
    if not times:
        return []
    ordered = sorted({max(t, 0.0) for t in times})
    cp = dict(zip(ordered, simulate(model, weight_kg, regimen, ordered).cp_ng_ml.tolist(), strict=True))
    return [cp[max(t, 0.0)] if t >= 0 else 0.0 for t in times]


def replay_session(payload: Mapping[str, Any], rules: Sequence[AlertRule] | None = None) -> dict[str, Any]:
    """Alerts, overdue slots and PK summary for a recorded session (the `monitor replay` JSON)."""
    if not isinstance(payload, Mapping):
        raise InputError("the session file must hold a JSON object", field="input")
    active = load_alert_rules() if rules is None else tuple(rules)
    weight_kg = _number(payload, "weight_kg", "")
    if weight_kg <= 0:
        raise InputError(f"{weight_kg:g} is impossible (must be > 0 kg)", field="weight_kg")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise InputError("is required (a PK model key, e.g. domino1984)", field="model")
    cadence_key = payload.get("cadence", "outpatient")
    get_cadence(str(cadence_key))
    segments = parse_segments(payload.get("segments", []), "segments")
    planned = (
        parse_segments(payload["planned_segments"], "planned_segments")
        if "planned_segments" in payload
        else ()
    )
    baseline_raw = payload.get("baseline")
    baseline = (
        None if baseline_raw is None else parse_observation(baseline_raw, where="baseline", default_t_min=0.0)
    )
    observations = _observations(payload.get("observations", []))

    infusion_start = min((s.start_min for s in segments), default=0.0)
    t_end = max((s.end_min for s in segments), default=0.0)
    last_obs = max((o.t_min for o in observations), default=t_end)
    end_min = _number(payload, "end_min", "") if "end_min" in payload else max(last_obs, t_end)

    # Each finding paired with its reading's minute (the finding's own t_min, typed as always set).
    timed = [(obs.t_min, f) for obs in observations for f in evaluate_observation(obs, baseline, active)]
    timed.sort(key=lambda pair: pair[0])
    findings = [f for _t, f in timed]
    regimen = Regimen(infusions=segments)
    cps = _cp_at(model, weight_kg, regimen, [t for t, _f in timed] + [t_end])
    alerts = [
        {
            "t_min": f.t_min,
            "rule": f.rule_key,
            "severity": f.severity.value,
            "advice": f.advice.value,
            "message": f.message,
            "field": f.field,
            "value": f.value,
            "threshold": f.threshold,
            "trigger_key": f.trigger_key,
            "predicted_cp_ng_ml": round(cp, 3),
        }
        for f, cp in zip(findings, cps, strict=False)
    ]

    slots = overdue(
        str(cadence_key), times_by_group(observations), end_min, infusion_start_min=infusion_start
    )
    late = [
        {
            "t_due_min": f.t_min,
            "group": slot.group,
            "rule": f.rule_key,
            "severity": f.severity.value,
            "advice": f.advice.value,
            "message": f.message,
        }
        for slot in slots
        for f in overdue_findings([slot], active)
    ]

    chart = charted_prediction(
        model,
        weight_kg,
        segments,
        max(end_min, t_end, 0.0),
        PEAK_STEP_MIN,
        planned_segments=planned or None,
    )
    pk: dict[str, Any] = {
        "model": chart.model_key,
        "peak_cp_ng_ml": round(chart.peak_cp_ng_ml, 3),
        "t_peak_min": chart.t_peak_min,
        "cp_end_ng_ml": round(cps[-1], 3),
        "t_end_min": t_end,
        "warnings": chart.warnings,
    }
    if chart.projected_cp_ng_ml:
        pk["projected_cp_planned_end_ng_ml"] = round(chart.projected_cp_ng_ml[-1], 3)
        pk["t_planned_end_min"] = chart.projected_t_min[-1]
    return {
        "model": chart.model_key,
        "weight_kg": weight_kg,
        "cadence": str(cadence_key),
        "observations": len(observations),
        "alerts": alerts,
        "overdue": late,
        "pk": pk,
        "ignored_keys": sorted(set(payload) - KNOWN_KEYS),
    }
