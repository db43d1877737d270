"""Dose plans: protocol x weight x drug library x PK prediction, every number checked.

A plan that breaches any hard limit is refused (HardLimitError); soft breaches are listed so that the
service can demand a reason and a co-signature. Titrated sessions carry both paths of their envelope;
the limits are checked on both, and the series total on the maximum path.
Every rate is the one the nurse programs: mL/h rounded down to the context's pump resolution, and
the mg/h, mg/kg/h, volumes, totals and checks all follow from that programmed rate.
Each session is predicted from zero drug: carry-over from an earlier session is not modelled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from ketaclinic.data import Status
from ketaclinic.dosing import pump
from ketaclinic.dosing.checks import (
    LimitCheck,
    Verdict,
    check_concentration,
    check_series_total,
    check_session_total,
    dose_response_note,
    rate_checks,
    refuse_hard,
    with_subject,
    worst_verdict,
)
from ketaclinic.dosing.choices import apply_choices
from ketaclinic.dosing.library import DrugLibrary
from ketaclinic.dosing.prediction import SessionPrediction, predict_session
from ketaclinic.dosing.protocols import Premedication, Protocol
from ketaclinic.dosing.titration import RateStep, block_envelope, library_soft_cap_mg_h
from ketaclinic.dosing.weight import DosingWeight
from ketaclinic.dosing.weight import dosing_weight as choose_dosing_weight
from ketaclinic.errors import InputError
from ketaclinic.pharmacology import get_model

DEFAULT_MODELS = {"racemic": "domino1984", "s-ketamine": "fanta2015_s"}


@dataclass(frozen=True, slots=True)
class Segment:
    """One constant-rate part of a session, in every unit the pump and the chart need."""

    start_min: float
    end_min: float
    rate_mg_kg_h: float
    rate_mg_h: float
    pump_ml_h: float
    volume_ml: float

    @property
    def dose_mg(self) -> float:
        """Drug delivered by this segment."""
        return pump.mg_delivered(self.rate_mg_h, self.end_min - self.start_min)

    def to_json_dict(self) -> dict[str, float]:
        """Plain JSON values."""
        return {
            "start_min": self.start_min,
            "end_min": self.end_min,
            "rate_mg_kg_h": self.rate_mg_kg_h,
            "rate_mg_h": self.rate_mg_h,
            "pump_ml_h": self.pump_ml_h,
            "volume_ml": self.volume_ml,
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, float]) -> Segment:
        """The segment back from `to_json_dict`."""
        return cls(
            start_min=data["start_min"],
            end_min=data["end_min"],
            rate_mg_kg_h=data["rate_mg_kg_h"],
            rate_mg_h=data["rate_mg_h"],
            pump_ml_h=data["pump_ml_h"],
            volume_ml=data["volume_ml"],
        )


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """One session: its date, segments (maximum path), minimum path when titrated, totals and checks."""

    number: int
    date: date
    label: str
    segments: tuple[Segment, ...]
    min_path_segments: tuple[Segment, ...]
    total_mg: float
    min_path_total_mg: float
    containers: int | None
    checks: tuple[LimitCheck, ...]
    prediction: SessionPrediction | None
    min_path_prediction: SessionPrediction | None
    titrated: bool
    note: str | None = None
    information: str | None = None

    @property
    def verdict(self) -> Verdict:
        """Worst verdict of the session's checks."""
        return worst_verdict(self.checks)

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        out: dict[str, Any] = {
            "number": self.number,
            "date": self.date.isoformat(),
            "label": self.label,
            "titrated": self.titrated,
            "segments": [s.to_json_dict() for s in self.segments],
            "total_mg": self.total_mg,
            "total_volume_ml": sum(s.volume_ml for s in self.segments),
            "containers": self.containers,
            "verdict": self.verdict,
            "checks": [c.to_json_dict() for c in self.checks],
            "prediction": self.prediction.to_json_dict() if self.prediction else None,
            "note": self.note,
            "information": self.information,
        }
        if self.titrated:
            out["segments_path"] = "max"
            out["min_path_segments"] = [s.to_json_dict() for s in self.min_path_segments]
            out["min_path_total_mg"] = self.min_path_total_mg
            out["min_path_prediction"] = (
                self.min_path_prediction.to_json_dict() if self.min_path_prediction else None
            )
        return out

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> SessionPlan:
        """The session back from `to_json_dict` (an untitrated session's minimum path is its only path)."""
        segments = tuple(Segment.from_json_dict(s) for s in data["segments"])
        titrated = bool(data["titrated"])
        prediction = _prediction_or_none(data["prediction"])
        return cls(
            number=data["number"],
            date=date.fromisoformat(data["date"]),
            label=data["label"],
            segments=segments,
            min_path_segments=(
                tuple(Segment.from_json_dict(s) for s in data["min_path_segments"]) if titrated else segments
            ),
            total_mg=data["total_mg"],
            min_path_total_mg=data["min_path_total_mg"] if titrated else data["total_mg"],
            containers=data["containers"],
            checks=tuple(LimitCheck.from_json_dict(c) for c in data["checks"]),
            prediction=prediction,
            min_path_prediction=_prediction_or_none(data["min_path_prediction"]) if titrated else None,
            titrated=titrated,
            note=data["note"],
            information=data.get("information"),
        )


def _prediction_or_none(data: Mapping[str, Any] | None) -> SessionPrediction | None:
    return None if data is None else SessionPrediction.from_json_dict(data)


@dataclass(frozen=True, slots=True)
class DosePlan:
    """A whole series for one patient, checked against the drug library."""

    protocol_id: str
    protocol_name: str
    citation: str
    drug: str
    context: str
    setting: str
    observation_cadence: str
    weight: DosingWeight
    concentration_mg_ml: float
    pump_resolution_ml_h: float
    container_volume_ml: float | None
    model_key: str | None
    sessions: tuple[SessionPlan, ...]
    series_total_mg: float
    series_checks: tuple[LimitCheck, ...]
    premedication: tuple[Premedication, ...] = field(default=())
    notes: str = ""
    choices: Mapping[str, float] = field(default_factory=dict)
    choice_checks: tuple[LimitCheck, ...] = ()
    weight_override_checks: tuple[LimitCheck, ...] = ()  # a dosing weight typed over the recorded one

    @property
    def checks(self) -> tuple[LimitCheck, ...]:
        """Every check of the plan: the physician's choices, sessions, series, then the weight override."""
        sessions = tuple(c for s in self.sessions for c in s.checks)
        return self.choice_checks + sessions + self.series_checks + self.weight_override_checks

    @property
    def verdict(self) -> Verdict:
        """Worst verdict of all checks ("hard" never occurs: such a plan is refused)."""
        return worst_verdict(self.checks)

    @property
    def soft_breaches(self) -> tuple[LimitCheck, ...]:
        """Checks that need a reason and a co-signature."""
        return tuple(c for c in self.checks if c.verdict == "soft")

    def to_json_dict(self) -> dict[str, Any]:
        """The plan as the CLI and API print it."""
        return {
            "protocol": self.protocol_id,
            "protocol_name": self.protocol_name,
            "citation": self.citation,
            "drug": self.drug,
            "context": self.context,
            "setting": self.setting,
            "observation_cadence": self.observation_cadence,
            "dosing_weight_kg": self.weight.weight_kg,
            "dosing_weight": {
                "kind": self.weight.kind,
                "weight_kg": self.weight.weight_kg,
                "actual_weight_kg": self.weight.actual_weight_kg,
                "ideal_weight_kg": self.weight.ideal_weight_kg,
                "source": self.weight.source,
                "note": self.weight.note,
            },
            "concentration_mg_ml": self.concentration_mg_ml,
            "pump_resolution_ml_h": self.pump_resolution_ml_h,
            "container_volume_ml": self.container_volume_ml,
            "model": self.model_key,
            "sessions": [s.to_json_dict() for s in self.sessions],
            "series_total_mg": self.series_total_mg,
            "series_checks": [c.to_json_dict() for c in self.series_checks],
            "choices": dict(self.choices),
            "choice_checks": [c.to_json_dict() for c in self.choice_checks],
            "weight_override_checks": [c.to_json_dict() for c in self.weight_override_checks],
            "verdict": self.verdict,
            "soft_breaches": [c.to_json_dict() for c in self.soft_breaches],
            "premedication": [
                {
                    "drug": p.drug,
                    "dose_mg": p.dose_mg,
                    "route": p.route,
                    "doses": p.doses,
                    "timing": p.timing,
                    "source": p.source,
                    "status": p.status.value,
                }
                for p in self.premedication
            ],
            "notes": self.notes,
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> DosePlan:
        """The plan back from `to_json_dict`: how services read a stored plan."""
        weight = data["dosing_weight"]
        return cls(
            protocol_id=data["protocol"],
            protocol_name=data["protocol_name"],
            citation=data["citation"],
            drug=data["drug"],
            context=data["context"],
            setting=data["setting"],
            observation_cadence=data["observation_cadence"],
            weight=DosingWeight(
                kind=weight["kind"],
                weight_kg=weight["weight_kg"],
                actual_weight_kg=weight["actual_weight_kg"],
                ideal_weight_kg=weight["ideal_weight_kg"],
                source=weight["source"],
                note=weight["note"],
            ),
            concentration_mg_ml=data["concentration_mg_ml"],
            pump_resolution_ml_h=data.get("pump_resolution_ml_h", pump.DEFAULT_RESOLUTION_ML_H),
            container_volume_ml=data["container_volume_ml"],
            model_key=data["model"],
            sessions=tuple(SessionPlan.from_json_dict(s) for s in data["sessions"]),
            series_total_mg=data["series_total_mg"],
            series_checks=tuple(LimitCheck.from_json_dict(c) for c in data["series_checks"]),
            premedication=tuple(
                Premedication(
                    drug=p["drug"],
                    dose_mg=p["dose_mg"],
                    route=p["route"],
                    doses=p["doses"],
                    timing=p["timing"],
                    source=p["source"],
                    status=Status(p["status"]),
                )
                for p in data["premedication"]
            ),
            notes=data["notes"],
            choices=dict(data.get("choices", {})),
            choice_checks=tuple(LimitCheck.from_json_dict(c) for c in data.get("choice_checks", [])),
            weight_override_checks=tuple(
                LimitCheck.from_json_dict(c) for c in data.get("weight_override_checks", [])
            ),
        )


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
    if volume_ml is not None and (not math.isfinite(volume_ml) or volume_ml <= 0):
        raise InputError(f"bag/syringe volume {volume_ml} mL must be > 0", field="volume_ml")
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
