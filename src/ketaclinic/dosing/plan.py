"""Dose plans as values: protocol x weight x drug library x PK prediction, every number checked.

`ketaclinic.dosing.plan_building.build_plan` builds them. A plan that breaches any hard limit is
refused (HardLimitError); soft breaches are listed so that the service can demand a reason and a
co-signature. Titrated sessions carry both paths of their envelope; the limits are checked on both,
and the series total on the maximum path.
Every rate is the one the nurse programs: mL/h rounded down to the context's pump resolution, and
the mg/h, mg/kg/h, volumes, totals and checks all follow from that programmed rate.
Each session is predicted from zero drug: carry-over from an earlier session is not modelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ketaclinic.data import Status
from ketaclinic.dosing import pump
from ketaclinic.dosing.checks import (
    LimitCheck,
    Verdict,
    worst_verdict,
)
from ketaclinic.dosing.prediction import SessionPrediction
from ketaclinic.dosing.protocols import Premedication
from ketaclinic.dosing.weight import DosingWeight

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
