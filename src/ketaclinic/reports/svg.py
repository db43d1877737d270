"""Small inline-SVG charts for printed reports (no JavaScript, no plotting library, no network).

The drawing primitives and the cohort charts; charts over time are in `reports/time_charts.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

# Okabe-Ito palette: distinguishable with the common colour-vision deficiencies and in greyscale print.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
RESPONDER = "#009E73"
NON_RESPONDER = "#999999"
FONT = 'font-family="Helvetica, Arial, sans-serif" font-size="12"'


def svg_document(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" {FONT}><title>{escape(title)}</title>' + "".join(body) + "</svg>"
    )


def svg_text(x: float, y: float, text: str, *, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{escape(text)}</text>'


def nice_ticks(top: float, count: int = 6) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) from 0 to at least `top`."""
    raw = max(top, 1e-9) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [step * k for k in range(math.ceil(top / step - 1e-9) + 1)]


def pct_axis(x0: float, x1: float, y_top: float, y_bottom: float) -> list[str]:
    out = []
    for tick in range(0, 101, 25):
        x = x0 + (x1 - x0) * tick / 100
        out.append(f'<line x1="{x:.1f}" y1="{y_top:.1f}" x2="{x:.1f}" y2="{y_bottom:.1f}" stroke="#ddd"/>')
        out.append(svg_text(x, y_bottom + 14, f"{tick} %", anchor="middle"))
    return out


def rate_chart(rows: Sequence[Mapping[str, Any]], *, title: str) -> str:
    """Horizontal bars of proportions (0-100 %) with 95 % CI whiskers; rows: label, rate, ci95, n, count."""
    label_w, bar_w, right_w, row_h = 230, 360, 120, 26
    height = 30 + row_h * len(rows) + 24
    x0, x1 = label_w, label_w + bar_w
    body = pct_axis(x0, x1, 20, 20 + row_h * len(rows))
    for i, row in enumerate(rows):
        y = 20 + i * row_h
        rate = row.get("rate")
        body.append(svg_text(label_w - 8, y + 17, str(row["label"]), anchor="end"))
        if rate is None:
            body.append(svg_text(x0 + 4, y + 17, "no patients"))
            continue
        w = bar_w * float(rate)
        colour = PALETTE[i % len(PALETTE)]
        body.append(
            f'<rect x="{x0}" y="{y + 5}" width="{w:.1f}" height="{row_h - 10}" '
            f'fill="{colour}" opacity="0.8"/>'
        )
        lo, hi = row.get("ci95") or (None, None)
        if lo is not None and hi is not None:
            xl, xh, ym = x0 + bar_w * float(lo), x0 + bar_w * float(hi), y + row_h / 2
            body.append(
                f'<path d="M{xl:.1f},{ym - 6:.1f}V{ym + 6:.1f}M{xl:.1f},{ym:.1f}H{xh:.1f}'
                f'M{xh:.1f},{ym - 6:.1f}V{ym + 6:.1f}" stroke="#000" stroke-width="1.5" fill="none"/>'
            )
        body.append(svg_text(x1 + 8, y + 17, f"{row['count']}/{row['n']} ({100 * float(rate):.0f} %)"))
    return svg_document(label_w + bar_w + right_w, height, title, body)


def slope_chart(
    baseline: Sequence[float], followup: Sequence[float], responder: Sequence[bool], *, title: str
) -> str:
    """Each patient's pain NRS at baseline and follow-up joined by a line; responders in colour."""
    width, height, top, bottom = 360, 300, 20, 260
    xa, xb = 90, 270

    def y_of(nrs: float) -> float:
        return bottom - (bottom - top) * nrs / 10

    body = []
    for tick in range(0, 11, 2):
        y = y_of(tick)
        body.append(f'<line x1="{xa - 10}" y1="{y:.1f}" x2="{xb + 10}" y2="{y:.1f}" stroke="#eee"/>')
        body.append(svg_text(xa - 16, y + 4, str(tick), anchor="end"))
    # Non-responders first so responders are drawn on top.
    order = sorted(range(len(baseline)), key=lambda i: bool(responder[i]))
    for i in order:
        colour = RESPONDER if responder[i] else NON_RESPONDER
        body.append(
            f'<line x1="{xa}" y1="{y_of(baseline[i]):.1f}" x2="{xb}" y2="{y_of(followup[i]):.1f}" '
            f'stroke="{colour}" stroke-width="1.6" opacity="0.6"/>'
        )
        body.append(f'<circle cx="{xa}" cy="{y_of(baseline[i]):.1f}" r="3" fill="{colour}"/>')
        body.append(f'<circle cx="{xb}" cy="{y_of(followup[i]):.1f}" r="3" fill="{colour}"/>')
    body.append(svg_text(xa, bottom + 22, "Baseline", anchor="middle"))
    body.append(svg_text(xb, bottom + 22, "Follow-up", anchor="middle"))
    body.append(
        svg_text(14, top + 120, "Pain NRS", anchor="middle", extra=f'transform="rotate(-90 14 {top + 120})"')
    )
    body.append(f'<rect x="{width - 105}" y="{bottom + 30}" width="10" height="10" fill="{RESPONDER}"/>')
    body.append(svg_text(width - 90, bottom + 39, "responder"))
    body.append(f'<rect x="10" y="{bottom + 30}" width="10" height="10" fill="{NON_RESPONDER}"/>')
    body.append(svg_text(25, bottom + 39, "non-responder"))
    return svg_document(width, height + 20, title, body)


def km_chart(curves: Mapping[str, Mapping[str, Any]], *, title: str, x_label: str) -> str:
    """Kaplan-Meier step curves (one per group) with a legend; y is the proportion still event-free."""
    width, height, left, right, top, bottom = 560, 300, 50, 540, 15, 250
    ticks = nice_ticks(max((max(c["time"]) for c in curves.values() if c["time"]), default=1.0) or 1.0)
    t_max = ticks[-1]

    def xy(t: float, s: float) -> tuple[float, float]:
        return left + (right - left) * t / t_max, bottom - (bottom - top) * s

    body = []
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        _, y = xy(0, tick)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eee"/>')
        body.append(svg_text(left - 6, y + 4, f"{tick:.2f}", anchor="end"))
    for t in ticks:
        x, _ = xy(t, 0)
        body.append(svg_text(x, bottom + 16, f"{t:g}", anchor="middle"))
    body.append(svg_text((left + right) / 2, bottom + 34, x_label, anchor="middle"))
    for i, (name, curve) in enumerate(curves.items()):
        colour = PALETTE[i % len(PALETTE)]
        times, surv = list(curve["time"]), list(curve["survival"])
        x, y = xy(times[0], surv[0])
        d = [f"M{x:.1f},{y:.1f}"]
        for t, s in zip(times[1:], surv[1:], strict=True):
            x, _ = xy(t, 0)
            _, y = xy(0, s)
            d.append(f"H{x:.1f}V{y:.1f}")
        dash = ' stroke-dasharray="5,3"' if name == "all" and len(curves) > 1 else ""
        body.append(f'<path d="{"".join(d)}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        body.append(f'<rect x="{right - 150}" y="{top + 4 + 16 * i}" width="12" height="3" fill="{colour}"/>')
        body.append(svg_text(right - 132, top + 10 + 16 * i, f"{name} (n={curve['n']})"))
    return svg_document(width, height, title, body)


def dose_chart(
    values_mg: Sequence[float], q1: float | None, median: float | None, q3: float | None, *, title: str
) -> str:
    """Dot strip of each patient's total dose with the interquartile box and median."""
    width, left, right, mid = 560, 40, 540, 45
    if not values_mg:
        return svg_document(width, 60, title, [svg_text(left, 30, "no dose data")])
    dose_ticks = nice_ticks(max(values_mg) or 1.0)
    lo, hi = 0.0, dose_ticks[-1]

    def x_of(v: float) -> float:
        return left + (right - left) * (v - lo) / (hi - lo)

    body = []
    if q1 is not None and q3 is not None and median is not None:
        body.append(
            f'<rect x="{x_of(q1):.1f}" y="{mid - 18}" width="{x_of(q3) - x_of(q1):.1f}" height="36" '
            'fill="#56B4E9" opacity="0.3" stroke="#0072B2"/>'
        )
        body.append(
            f'<line x1="{x_of(median):.1f}" y1="{mid - 22}" x2="{x_of(median):.1f}" y2="{mid + 22}" '
            'stroke="#0072B2" stroke-width="3"/>'
        )
    seen: dict[float, int] = {}
    for v in values_mg:
        k = seen.get(v, 0)
        seen[v] = k + 1
        # Stack equal doses vertically so every patient stays visible.
        body.append(
            f'<circle cx="{x_of(v):.1f}" cy="{mid + 8 - 6 * (k % 6):.1f}" r="3" fill="#000" opacity="0.6"/>'
        )
    for v in dose_ticks:
        body.append(svg_text(x_of(v), mid + 44, f"{v:.0f}", anchor="middle"))
    body.append(
        svg_text((left + right) / 2, mid + 62, "total ketamine dose per patient (mg)", anchor="middle")
    )
    return svg_document(width, mid + 72, title, body)
