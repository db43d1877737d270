"""A patient's pain NRS trajectory as SVG, against their baseline and the responder threshold."""

from __future__ import annotations

from ketaclinic.reports.time_charts import nrs_trajectory_chart
from ketaclinic.services.outcomes.trajectory import PatientOutcomes


def nrs_chart(outcomes: PatientOutcomes) -> str:
    """The NRS of every answer over time, the baseline, and the default definition's responder threshold."""
    rated = [p for p in outcomes.pros if p.pain_nrs is not None]
    first = rated[0].collected_at if rated else None
    days = [(p.collected_at - first).total_seconds() / 86400 for p in rated] if first else []
    responder = outcomes.responder
    return nrs_trajectory_chart(
        days,
        [p.pain_nrs for p in rated if p.pain_nrs is not None],
        baseline_nrs=None if outcomes.baseline is None else outcomes.baseline.nrs,
        threshold_nrs=None if responder is None else responder.nrs,
        threshold_label=""
        if responder is None
        else f"responder {responder.nrs:g} (-{responder.min_reduction_pct:g} %)",
        title="Pain NRS over time against the baseline and the responder threshold",
    )
