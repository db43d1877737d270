"""The cohort report as one self-contained HTML page (inline SVG charts, print CSS for PDF)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ketaclinic.outcomes.instruments import instrument_sources
from ketaclinic.reports.svg import dose_chart, km_chart, rate_chart, slope_chart

_env = Environment(
    loader=PackageLoader("ketaclinic.reports", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _pct(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.{digits}f} %"


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _pvalue(value: float | None) -> str:
    if value is None:
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


_env.filters.update(pct=_pct, num=_num, pvalue=_pvalue)


def _rate_rows(groups: dict[str, Any], labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for key, g in groups.items():
        label = f"{key} {labels[key]}" if labels and key in labels else key
        rows.append(
            {"label": label[:34], "rate": g["rate"], "ci95": g["ci95"], "n": g["n"], "count": g["responders"]}
        )
    return rows


def cohort_charts(report: dict[str, Any]) -> dict[str, Markup]:
    """Every chart of an `analyse_cohort` result as inline SVG (the printable report and the dashboard)."""
    charts: dict[str, Markup] = {}
    overall = {
        "all patients": {
            "rate": report["responder_rate"],
            "ci95": report["ci95"],
            "n": report["n"],
            "responders": report["responders"],
        }
    }
    charts["rates_overall"] = Markup(rate_chart(_rate_rows(overall), title="Responder rate with 95 % CI"))
    charts["rates_mechanism"] = Markup(
        rate_chart(_rate_rows(report["by_mechanism"]), title="Responder rate by pain mechanism, 95 % CI")
    )
    charts["rates_diagnosis"] = Markup(
        rate_chart(
            _rate_rows(report["by_diagnosis"], report.get("diagnosis_labels")),
            title="Responder rate by diagnosis, 95 % CI",
        )
    )
    comparison = report["comparison"]
    charts["rates_comparison"] = Markup(
        rate_chart(_rate_rows(comparison["rates"]), title=f"Responder rate by {comparison['field']}, 95 % CI")
    )
    pairs = report["nrs_change"]["pairs"]
    charts["slope"] = Markup(
        slope_chart(
            pairs["baseline"], pairs["followup"], pairs["responder"], title="Pain NRS before and after"
        )
    )
    if report["relief"]["n"]:
        charts["relief_km"] = Markup(
            km_chart(report["relief"]["curves"], title="Relief durability (Kaplan-Meier)", x_label="weeks")
        )
    if report["dropout"]["n"]:
        charts["dropout_km"] = Markup(
            km_chart(
                report["dropout"]["curves"],
                title="Staying in the series (Kaplan-Meier)",
                x_label="sessions completed",
            )
        )
    ae = report["adverse_events"]
    if ae["by_event"]:
        rows = [
            {
                "label": name,
                "rate": e["per_patient"],
                "ci95": e["per_patient_ci95"],
                "n": ae["n_patients"],
                "count": e["patients"],
            }
            for name, e in sorted(ae["by_event"].items(), key=lambda kv: -kv[1]["patients"])
        ]
        charts["adverse_events"] = Markup(rate_chart(rows, title="Patients with each adverse event, 95 % CI"))
    dose = report["dose"]
    if dose["values_mg"]:
        total = dose["total_dose_mg"]
        charts["dose"] = Markup(
            dose_chart(
                dose["values_mg"], total["q1"], total["median"], total["q3"], title="Total dose received"
            )
        )
    return charts


def render_cohort_html(report: dict[str, Any], *, title: str) -> str:
    """Render an `analyse_cohort` result as a standalone, printable HTML page."""
    template = _env.get_template("cohort_report.html")
    return template.render(
        title=title,
        r=report,
        charts=cohort_charts(report),
        instruments=instrument_sources(),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
