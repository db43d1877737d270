"""A patient's outcomes as their page shows them: every answer, the NRS against baseline and threshold."""

from __future__ import annotations

from pydantic import BaseModel

from ketaclinic.outcomes.definitions import DEFAULT_DEFINITION, get_definition
from ketaclinic.services.outcomes.facts import BaselineNrs, baselines
from ketaclinic.services.outcomes.pro_alerts import patient_alerts
from ketaclinic.services.outcomes.pros import ProOut, list_pros
from ketaclinic.services.permissions import Actor
from ketaclinic.services.sessions.alert_records import AlertOut
from ketaclinic.store.db import Database


class ResponderLine(BaseModel):
    """The NRS at or below which the patient meets the clinic's default responder definition."""

    definition_id: str
    label: str
    min_reduction_pct: float
    nrs: float
    source: str


class PatientOutcomes(BaseModel):
    """Everything the patient page shows of the patient's reported outcomes."""

    pros: list[ProOut]
    baseline: BaselineNrs | None
    responder: ResponderLine | None
    alerts: list[AlertOut]


def responder_line(baseline_nrs: float, definition_id: str = DEFAULT_DEFINITION) -> ResponderLine:
    """The responder threshold of a definition for this baseline (e.g. 50 % of 8 -> NRS 4)."""
    definition = get_definition(definition_id)
    return ResponderLine(
        definition_id=definition.id,
        label=definition.label,
        min_reduction_pct=definition.min_reduction_pct,
        nrs=baseline_nrs * (1 - definition.min_reduction_pct / 100),
        source=definition.source,
    )


def patient_outcomes(db: Database, actor: Actor, patient_id: int) -> PatientOutcomes:
    """A patient's PROs with their answers, the baseline and responder threshold, the alerts they raised."""
    pros = list_pros(db, actor, patient_id)
    with db.read() as session:
        baseline = baselines(session, [patient_id]).get(patient_id)
    return PatientOutcomes(
        pros=pros,
        baseline=baseline,
        # A baseline of 0 leaves no reduction to measure: no threshold is drawn.
        responder=responder_line(baseline.nrs) if baseline is not None and baseline.nrs > 0 else None,
        alerts=patient_alerts(db, actor, patient_id),
    )
