"""A session's charts: vital signs and the predicted concentration, as SVG on one time axis."""

from __future__ import annotations

from ketaclinic.monitoring.observations import observation_kinds
from ketaclinic.reports.time_charts import concentration_chart
from ketaclinic.services.sessions.chart import SessionChart


def session_charts(chart: SessionChart) -> dict[str, str]:
    """The vitals and concentration charts on one time axis (minutes from the start)."""
    pred = chart.prediction
    if pred is None or chart.started_at is None:
        return {}
    t_all = pred.t_min + [t for t in pred.projected_t_min if t > (pred.t_min[-1] if pred.t_min else 0)]
    t_max = max(t_all + [o.t_min or 0.0 for o in chart.observations] + [1.0])
    n_charted = len(pred.t_min)
    cp: list[float | None] = [*pred.cp_ng_ml, *([None] * (len(t_all) - n_charted))]
    projected: list[float | None] = [None] * len(t_all)
    if len(t_all) > n_charted and n_charted:
        projected[n_charted - 1] = pred.cp_ng_ml[-1]
        for i, v in enumerate(pred.projected_cp_ng_ml[-(len(t_all) - n_charted) :]):
            projected[n_charted + i] = v
    series: dict[str, list[float | None]] = {"Cp charted": cp}
    if pred.ce_ng_ml is not None:
        series["Ce charted"] = [*pred.ce_ng_ml, *([None] * (len(t_all) - n_charted))]
    if any(v is not None for v in projected):
        series["Cp projected to planned end"] = projected
    markers = [(s.t_min or 0.0, f"{s.pump_ml_h:g} mL/h") for s in chart.segments if s.t_min is not None]
    markers += [(a.t_min, a.kind) for a in chart.adverse_events if a.t_min is not None and a.t_min >= 0]
    conc = concentration_chart(
        t_all,
        series,
        bands=[
            {
                "label": b.label,
                "low": b.low_ng_ml,
                "high": b.high_ng_ml,
                "source": b.source,
                "status": b.status,
            }
            for b in pred.bands
        ],
        title=f"Predicted ketamine concentration ({pred.model_key}, {pred.weight_kg:g} kg)",
        markers=markers,
        t_max=t_max,
    )
    kinds = observation_kinds()
    names = {key: kinds[key].heading() for key in ("sbp", "dbp", "hr", "spo2")}
    readings = [
        o
        for o in chart.observations
        if o.t_min is not None and o.t_min >= 0 and any(o.values.get(k) is not None for k in names)
    ]
    vitals = ""
    if readings:
        # Dots as well as lines: one reading, or one between gaps, draws no line segment.
        vitals = concentration_chart(
            [o.t_min or 0.0 for o in readings],
            {label: [o.values.get(key) for o in readings] for key, label in names.items()},
            title="Vital signs",
            y_label="mmHg, /min, %",
            plot_height=180,
            t_max=t_max,
            points=True,
        )
    return {"concentration": conc, "vitals": vitals}
