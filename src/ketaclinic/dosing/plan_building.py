"""Building a dose plan: a protocol's sessions for one patient's weight, checked against the drug library."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, timedelta

from ketaclinic.dosing import pump
from ketaclinic.dosing.bounds import MAX_CONTAINER_VOLUME_ML, MIN_CONTAINER_VOLUME_ML
from ketaclinic.dosing.checks import (
    LimitCheck,
    check_concentration,
    check_series_total,
    check_session_total,
    dose_response_note,
    rate_checks,
    refuse_hard,
    with_subject,
)
from ketaclinic.dosing.choices import apply_choices
from ketaclinic.dosing.library import DrugLibrary
from ketaclinic.dosing.plan import DEFAULT_MODELS, DosePlan, Segment, SessionPlan
from ketaclinic.dosing.prediction import SessionPrediction, predict_session
from ketaclinic.dosing.protocols import Protocol
from ketaclinic.dosing.titration import RateStep, block_envelope, library_soft_cap_mg_h
from ketaclinic.dosing.weight import dosing_weight as choose_dosing_weight
from ketaclinic.errors import InputError
from ketaclinic.pharmacology import get_model


def _segment(step: RateStep, weight_kg: float, concentration_mg_ml: float, resolution_ml_h: float) -> Segment:
    """The step as the pump is programmed: mL/h rounded down to the pump, every other unit from that."""
    programmed_ml_h = pump.programmable_pump_ml_h(
        pump.pump_ml_h(step.rate_mg_h, concentration_mg_ml), resolution_ml_h
    )
    rate_mg_h = pump.rate_mg_h_from_pump(programmed_ml_h, concentration_mg_ml)
    return Segment(
        start_min=step.start_min,
        end_min=step.end_min,
        rate_mg_kg_h=pump.rate_mg_kg_h(rate_mg_h, weight_kg),
        rate_mg_h=rate_mg_h,
        pump_ml_h=programmed_ml_h,
        volume_ml=pump.volume_ml(
            pump.mg_delivered(rate_mg_h, step.end_min - step.start_min), concentration_mg_ml
        ),
    )


def _segments(
    path: tuple[RateStep, ...], weight_kg: float, concentration_mg_ml: float, resolution_ml_h: float
) -> tuple[Segment, ...]:
    return tuple(_segment(step, weight_kg, concentration_mg_ml, resolution_ml_h) for step in path)


def _session_checks(
    library: DrugLibrary,
    context: str,
    weight_kg: float,
    number: int,
    paths: tuple[tuple[str, tuple[Segment, ...]], ...],
) -> tuple[LimitCheck, ...]:
    checks: list[LimitCheck] = []
    seen_rates: set[float] = set()
    for path_name, segments in paths:
        for seg in segments:
            if seg.rate_mg_h in seen_rates:
                continue
            seen_rates.add(seg.rate_mg_h)
            where = f"session {number} {seg.start_min:g}-{seg.end_min:g} min"
            checks.extend(
                with_subject(c, where)
                for c in rate_checks(library, context, rate_mg_h=seg.rate_mg_h, weight_kg=weight_kg)
            )
        total = sum(seg.dose_mg for seg in segments)
        where = f"session {number} total ({path_name} path)" if len(paths) > 1 else f"session {number} total"
        checks.append(with_subject(check_session_total(library, context, total_mg=total), where))
    return tuple(checks)


def build_plan(
    protocol: Protocol,
    *,
    weight_kg: float,
    height_cm: float | None = None,
    sex: str | None = None,
    dosing_weight: str = "actual",
    concentration_mg_ml: float | None = None,
    volume_ml: float | None = None,
    start: date | None = None,
    model_key: str | None = None,
    library: DrugLibrary,
    predict: bool = True,
    choices: Mapping[str, float] | None = None,
) -> DosePlan:
    """Compute and check a whole series against the clinic library; a hard breach is HardLimitError.

    `choices` are the physician's values for the protocol's choosable numbers (dosing/choices.py).
    """
    protocol, choice_checks = apply_choices(protocol, choices or {})
    ctx = library.context(protocol.context)
    weight = choose_dosing_weight(weight_kg, kind=dosing_weight, height_cm=height_cm, sex=sex)
    w = weight.weight_kg
    concentration = (
        check_concentration(library, ctx.id, concentration_mg_ml)
        if concentration_mg_ml is not None
        else ctx.concentrations.values_mg_ml[0]
    )
    if volume_ml is not None and not (MIN_CONTAINER_VOLUME_ML <= volume_ml <= MAX_CONTAINER_VOLUME_ML):
        raise InputError(
            f"bag/syringe volume {volume_ml:g} mL must be "
            f"{MIN_CONTAINER_VOLUME_ML:g}-{MAX_CONTAINER_VOLUME_ML:g} mL",
            field="volume_ml",
        )
    model = model_key or DEFAULT_MODELS[protocol.drug]
    if predict:
        get_model(model)  # an unknown key is bad input before any work
    first_day = start or date.today()
    resolution = ctx.pump_resolution.value
    cap = library_soft_cap_mg_h(library, ctx.id, w)
    sessions: list[SessionPlan] = []
    cache: dict[tuple[Segment, ...], SessionPrediction] = {}

    def predicted(segments: tuple[Segment, ...]) -> SessionPrediction | None:
        if not predict:
            return None
        if segments not in cache:
            # PK scales with the actual body weight, whatever weight the dose was computed on
            cache[segments] = predict_session(model, weight.actual_weight_kg, segments)
        return cache[segments]

    for number in range(1, protocol.schedule.session_count + 1):
        block = protocol.block_for(number)
        envelope = block_envelope(block, w, cap, "soft limit (a higher rate at the bedside needs a reason)")
        max_segments = _segments(envelope.max_path, w, concentration, resolution)
        min_segments = _segments(envelope.min_path, w, concentration, resolution)
        paths = (
            (("max", max_segments), ("min", min_segments)) if envelope.titrated else (("max", max_segments),)
        )
        checks = _session_checks(library, ctx.id, w, number, paths)
        total = sum(s.dose_mg for s in max_segments)
        containers = None
        if volume_ml is not None:
            containers = math.ceil(pump.volume_ml(total, concentration) / volume_ml - 1e-9)
        sessions.append(
            SessionPlan(
                number=number,
                date=first_day + timedelta(days=round((number - 1) * protocol.schedule.interval_days.value)),
                label=block.label,
                segments=max_segments,
                min_path_segments=min_segments,
                total_mg=total,
                min_path_total_mg=sum(s.dose_mg for s in min_segments),
                containers=containers,
                checks=checks,
                prediction=None,
                min_path_prediction=None,
                titrated=envelope.titrated,
                note=envelope.note,
                information=dose_response_note(
                    library,
                    ctx.id,
                    total_mg=total,
                    duration_min=sum(s.end_min - s.start_min for s in max_segments if s.rate_mg_h > 0),
                ),
            )
        )
    series_total = sum(s.total_mg for s in sessions)
    series_checks = (
        with_subject(check_series_total(library, ctx.id, total_mg=series_total), "series total"),
    )
    refuse_hard([c for s in sessions for c in s.checks] + list(series_checks))
    sessions = [
        replace(
            s,
            prediction=predicted(s.segments),
            min_path_prediction=predicted(s.min_path_segments) if s.titrated else None,
        )
        for s in sessions
    ]
    return DosePlan(
        protocol_id=protocol.id,
        protocol_name=protocol.name,
        citation=protocol.citation,
        drug=protocol.drug,
        context=ctx.id,
        setting=protocol.setting,
        observation_cadence=protocol.observation_cadence,
        weight=weight,
        concentration_mg_ml=concentration,
        pump_resolution_ml_h=resolution,
        container_volume_ml=volume_ml,
        model_key=model if predict else None,
        sessions=tuple(sessions),
        series_total_mg=series_total,
        series_checks=series_checks,
        premedication=protocol.premedication,
        notes=protocol.notes,
        choices={c.quantity: c.value for c in choice_checks},
        choice_checks=choice_checks,
    )
