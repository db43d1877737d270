"""The course summary letter and the printable session record as HTML (no script, one stylesheet) and PDF."""

from __future__ import annotations

from bisect import bisect_left
from importlib.resources import files

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ketaclinic.monitoring.observations import observation_kinds
from ketaclinic.reports.chart import session_charts
from ketaclinic.reports.patient_chart import nrs_chart
from ketaclinic.services.interop.letters import CourseLetter
from ketaclinic.services.sessions.chart import SessionChart

_env = Environment(
    loader=PackageLoader("ketaclinic.reports", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
# The print stylesheet: linked by the web page, handed to the PDF engine (no inline style: the CSP).
STYLESHEET = "print.css"
VITAL_KEYS = ("sbp", "dbp", "hr", "spo2", "rr", "rass", "moaas", "dissociation", "nrs")


def stylesheet_text() -> str:
    """The print stylesheet's CSS."""
    return files("ketaclinic.reports").joinpath("templates", STYLESHEET).read_text(encoding="utf-8")


def cp_at(chart: SessionChart, t_min: float | None) -> float | None:
    """The predicted Cp (ng/mL) at a time of the session, linear between the prediction's grid points."""
    pred = chart.prediction
    if pred is None or t_min is None or not pred.t_min or t_min < pred.t_min[0] or t_min > pred.t_min[-1]:
        return None
    i = bisect_left(pred.t_min, t_min)
    if pred.t_min[i] == t_min or i == 0:
        return pred.cp_ng_ml[i]
    t0, t1 = pred.t_min[i - 1], pred.t_min[i]
    c0, c1 = pred.cp_ng_ml[i - 1], pred.cp_ng_ml[i]
    return c0 + (c1 - c0) * (t_min - t0) / (t1 - t0)


def render_course_letter_html(letter: CourseLetter, *, stylesheet_href: str) -> str:
    """The letter to the referring physician as a print page."""
    return _env.get_template("course_letter.html").render(
        letter=letter,
        nrs_svg=Markup(nrs_chart(letter.outcomes)),  # our own SVG, its text escaped
        stylesheet_href=stylesheet_href,
    )


def render_session_record_html(chart: SessionChart, *, stylesheet_href: str) -> str:
    """The printable session record: flowsheet with Cp beside the vitals, doses, events, signatures."""
    kinds = observation_kinds()
    columns = [(key, kinds[key].heading()) for key in VITAL_KEYS]
    rows = [
        {
            "at": o.observed_at,
            "t_min": o.t_min,
            "phase": o.phase,
            "cp": cp_at(chart, o.t_min),
            "values": o.values,
            "interpretation": o.interpretation,
            "by": o.charted_by,
        }
        for o in chart.observations
    ]
    charts = {name: Markup(svg) for name, svg in session_charts(chart).items()}
    return _env.get_template("session_record.html").render(
        chart=chart, columns=columns, rows=rows, charts=charts, stylesheet_href=stylesheet_href
    )


def html_to_pdf(html: str) -> bytes:
    """A PDF of a print page, laid out by WeasyPrint with the print stylesheet (no network: no base URL)."""
    from weasyprint import CSS, HTML  # the PDF engine loads only when a PDF is asked for

    pdf: bytes = HTML(string=html).write_pdf(stylesheets=[CSS(string=stylesheet_text())])
    return pdf
