"""Charts over time for one session or one patient: concentration curves and the NRS trajectory."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from ketaclinic.reports.svg import PALETTE, RESPONDER, nice_ticks, svg_document, svg_text

BAND_FILLS = ("#009E73", "#E69F00", "#CC79A7", "#56B4E9")
_DASHES = ("", "6 4", "2 3", "10 3 2 3")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def concentration_chart(
    t_min: Sequence[float],
    series: Mapping[str, Sequence[float | None]],
    *,
    bands: Sequence[Mapping[str, Any]] = (),
    title: str,
    x_label: str = "minutes from start",
    y_label: str = "ng/mL",
    width: int = 720,
    plot_height: int = 260,
    markers: Sequence[tuple[float, str]] = (),
    t_max: float | None = None,
    y_cap: float | None = None,
    points: bool = False,
) -> str:
    """Time-series lines over shaded horizontal bands, each band labelled with its source underneath.

    series: label -> values at `t_min` (None breaks the line: a gap). bands: mappings with label, low,
    high, source and optional status. markers: (t_min, label) vertical lines (e.g. a rate change).
    t_max: the time axis end (several charts of one session share it), else the last time.
    y_cap: the y axis stops there even if a value is higher (e.g. the instant peak of a bolus); the clipped
    maximum is then written on the chart so nothing is hidden.
    points: for sparse measurements such as vital signs: a dot at every value (value and minute in the
    tooltip, so a single reading shows), and a value not taken at one time joins its neighbours rather
    than breaking the line.
    Every series is a different colour and dash so the chart also reads in greyscale print.
    """
    left, right, top = 62, width - 16, 14
    bottom = top + plot_height
    values = [v for ys in series.values() for v in ys if v is not None and math.isfinite(v)]
    data_top = max(values, default=0.0)
    band_top = max((float(b["high"]) for b in bands), default=0.0)
    # Show the bands fully when the curve reaches into them; do not flatten a low curve to fit a high band.
    band_floor = min((float(b["low"]) for b in bands), default=0.0) * 1.2
    off_scale = y_cap is not None and data_top > y_cap
    shown_top = min(data_top, y_cap) if y_cap is not None else data_top
    y_top = max(shown_top, min(band_top, max(shown_top * 1.6, band_floor)))
    y_ticks = nice_ticks(y_top or 1.0, 5)
    y_max = y_ticks[-1]
    t_values = [float(t) for t in t_min]
    x_ticks = nice_ticks((t_max if t_max is not None else max(t_values, default=1.0)) or 1.0, 8)
    t_max = x_ticks[-1]

    def x_of(t: float) -> float:
        return left + (right - left) * t / t_max

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * min(v, y_max) / y_max

    body: list[str] = [
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="#fff"/>'
    ]
    for i, band in enumerate(bands):
        low, high = float(band["low"]), min(float(band["high"]), y_max)
        if low >= y_max:
            continue
        fill = BAND_FILLS[i % len(BAND_FILLS)]
        body.append(
            f'<rect x="{left}" y="{y_of(high):.1f}" width="{right - left}" '
            f'height="{y_of(low) - y_of(high):.1f}" fill="{fill}" opacity="0.16">'
            f"<title>{escape(str(band['label']))}: {escape(str(band['source']))}</title></rect>"
        )
        for edge in (low, high):
            body.append(
                f'<line x1="{left}" y1="{y_of(edge):.1f}" x2="{right}" y2="{y_of(edge):.1f}" '
                f'stroke="{fill}" stroke-width="1" stroke-dasharray="3 3"/>'
            )
    for tick in y_ticks:
        y = y_of(tick)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eee"/>')
        body.append(svg_text(left - 6, y + 4, f"{tick:g}", anchor="end"))
    for tick in x_ticks:
        x = x_of(tick)
        body.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#000"/>')
        body.append(svg_text(x, bottom + 17, f"{tick:g}", anchor="middle"))
    for t, label in markers:
        x = x_of(float(t))
        body.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#777" stroke-dasharray="2 4"/>'
        )
        body.append(svg_text(x + 3, top + 11, label, extra='fill="#555" font-size="10"'))
    if off_scale:
        body.append(
            svg_text(
                right - 6,
                top + 14,
                f"off scale: maximum {data_top:.0f} {y_label}",
                anchor="end",
                extra='fill="#B00020" font-weight="600"',
            )
        )
    dots: list[str] = []
    for i, (label, ys) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        dash = _DASHES[i % len(_DASHES)]
        path: list[str] = []
        pen_up = True
        for t, v in zip(t_values, ys, strict=True):
            if v is None or not math.isfinite(v):
                # A sparse measurement not taken at this time joins its neighbours; a modelled curve breaks.
                pen_up = pen_up or not points
                continue
            path.append(f"{'M' if pen_up else 'L'}{x_of(t):.1f},{y_of(v):.1f}")
            pen_up = False
            if points:
                dots.append(
                    f'<circle class="point" cx="{x_of(t):.1f}" cy="{y_of(v):.1f}" r="3" fill="{colour}">'
                    f"<title>{escape(label)}: {v:g} at {t:.0f} min</title></circle>"
                )
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(
            f'<path d="{"".join(path)}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr}>'
            f"<title>{escape(label)}</title></path>"
        )
    body.append(
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
        'fill="none" stroke="#000"/>'
    )
    # After the frame, so a reading at minute 0 sits on top of the axis line rather than under it.
    body.extend(dots)
    body.append(svg_text((left + right) / 2, bottom + 34, x_label, anchor="middle"))
    mid = (top + bottom) / 2
    body.append(svg_text(16, mid, y_label, anchor="middle", extra=f'transform="rotate(-90 16 {mid:.1f})"'))
    # Legend: one row per series, then one row per band with its source (full text in the tooltip).
    y = bottom + 56
    x = left
    for i, label in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        dash = _DASHES[i % len(_DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(
            f'<line x1="{x}" y1="{y - 4}" x2="{x + 24}" y2="{y - 4}" stroke="{colour}" '
            f'stroke-width="2"{dash_attr}/>'
        )
        if points:
            body.append(f'<circle cx="{x + 12}" cy="{y - 4}" r="3" fill="{colour}"/>')
        body.append(svg_text(x + 30, y, label))
        x += 40 + 7 * len(label)
    chars = max(40, int((right - left - 20) / 5.5))
    for i, band in enumerate(bands):
        y += 18
        fill = BAND_FILLS[i % len(BAND_FILLS)]
        status = f" [{band['status']}]" if band.get("status") else ""
        span = f"{float(band['low']):g}-{float(band['high']):g} {y_label}"
        source = f"Source: {band['source']}{status}"
        body.append(f'<rect x="{left}" y="{y - 10}" width="12" height="12" fill="{fill}" opacity="0.45"/>')
        body.append(svg_text(left + 18, y, _clip(f"{band['label']}: {span}", chars), extra='font-size="11"'))
        y += 14
        body.append(
            svg_text(left + 18, y, _clip(source, chars), extra='font-size="11" fill="#444"').replace(
                "</text>", f"<title>{escape(source)}</title></text>"
            )
        )
    return svg_document(width, int(y + 12), title, body)


def nrs_trajectory_chart(
    days: Sequence[float],
    nrs: Sequence[float],
    *,
    baseline_nrs: float | None,
    threshold_nrs: float | None,
    threshold_label: str,
    title: str,
) -> str:
    """A patient's pain NRS over time (days from the first answer) against baseline and responder line."""
    width, left, right, top, bottom = 560, 44, 540, 16, 196
    if not nrs:
        return svg_document(width, 60, title, [svg_text(left, 30, "no pain ratings yet")])
    span = max(max(days), 1.0)

    def x_of(day: float) -> float:
        return left + (right - left) * day / span

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / 10

    body = []
    for tick in range(0, 11, 2):
        y = y_of(tick)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eee"/>')
        body.append(svg_text(left - 8, y + 4, str(tick), anchor="end"))
    for value, colour, dash, label in (
        (baseline_nrs, "#000", "6 4", f"baseline {baseline_nrs:g}" if baseline_nrs is not None else ""),
        (threshold_nrs, RESPONDER, "2 3", threshold_label),
    ):
        if value is None:
            continue
        y = y_of(value)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{colour}" '
            f'stroke-width="1.5" stroke-dasharray="{dash}"/>'
        )
        body.append(svg_text(right - 4, y - 4, label, anchor="end", extra=f'fill="{colour}"'))
    points = " ".join(f"{x_of(d):.1f},{y_of(v):.1f}" for d, v in zip(days, nrs, strict=True))
    body.append(f'<polyline points="{points}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>')
    for d, v in zip(days, nrs, strict=True):
        body.append(f'<circle cx="{x_of(d):.1f}" cy="{y_of(v):.1f}" r="4" fill="{PALETTE[0]}"/>')
    for day in nice_ticks(span, 5):
        if day <= span:
            body.append(svg_text(x_of(day), bottom + 16, f"{day:g}", anchor="middle"))
    body.append(svg_text((left + right) / 2, bottom + 34, "days since the first answer", anchor="middle"))
    body.append(
        svg_text(
            12,
            (top + bottom) / 2,
            "Pain NRS",
            anchor="middle",
            extra=f'transform="rotate(-90 12 {(top + bottom) / 2})"',
        )
    )
    return svg_document(width, bottom + 42, title, body)
