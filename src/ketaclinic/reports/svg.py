"""Small inline-SVG charts for printed reports (no JavaScript, no plotting library, no network)."""

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


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" {FONT}><title>{escape(title)}</title>' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{escape(text)}</text>'


def _nice_ticks(top: float, count: int = 6) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) from 0 to at least `top`."""
    raw = max(top, 1e-9) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [step * k for k in range(math.ceil(top / step - 1e-9) + 1)]


def _pct_axis(x0: float, x1: float, y_top: float, y_bottom: float) -> list[str]:
    out = []
    for tick in range(0, 101, 25):
        x = x0 + (x1 - x0) * tick / 100
        out.append(f'<line x1="{x:.1f}" y1="{y_top:.1f}" x2="{x:.1f}" y2="{y_bottom:.1f}" stroke="#ddd"/>')
        out.append(_text(x, y_bottom + 14, f"{tick} %", anchor="middle"))
    return out


def rate_chart(rows: Sequence[Mapping[str, Any]], *, title: str) -> str:
    """Horizontal bars of proportions (0-100 %) with 95 % CI whiskers; rows: label, rate, ci95, n, count."""
    label_w, bar_w, right_w, row_h = 230, 360, 120, 26
    height = 30 + row_h * len(rows) + 24
    x0, x1 = label_w, label_w + bar_w
    body = _pct_axis(x0, x1, 20, 20 + row_h * len(rows))
    for i, row in enumerate(rows):
        y = 20 + i * row_h
        rate = row.get("rate")
        body.append(_text(label_w - 8, y + 17, str(row["label"]), anchor="end"))
        if rate is None:
            body.append(_text(x0 + 4, y + 17, "no patients"))
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
        body.append(_text(x1 + 8, y + 17, f"{row['count']}/{row['n']} ({100 * float(rate):.0f} %)"))
    return _svg(label_w + bar_w + right_w, height, title, body)


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
        body.append(_text(xa - 16, y + 4, str(tick), anchor="end"))
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
    body.append(_text(xa, bottom + 22, "Baseline", anchor="middle"))
    body.append(_text(xb, bottom + 22, "Follow-up", anchor="middle"))
    body.append(
        _text(14, top + 120, "Pain NRS", anchor="middle", extra=f'transform="rotate(-90 14 {top + 120})"')
    )
    body.append(f'<rect x="{width - 105}" y="{bottom + 30}" width="10" height="10" fill="{RESPONDER}"/>')
    body.append(_text(width - 90, bottom + 39, "responder"))
    body.append(f'<rect x="10" y="{bottom + 30}" width="10" height="10" fill="{NON_RESPONDER}"/>')
    body.append(_text(25, bottom + 39, "non-responder"))
    return _svg(width, height + 20, title, body)


def km_chart(curves: Mapping[str, Mapping[str, Any]], *, title: str, x_label: str) -> str:
    """Kaplan-Meier step curves (one per group) with a legend; y is the proportion still event-free."""
    width, height, left, right, top, bottom = 560, 300, 50, 540, 15, 250
    ticks = _nice_ticks(max((max(c["time"]) for c in curves.values() if c["time"]), default=1.0) or 1.0)
    t_max = ticks[-1]

    def xy(t: float, s: float) -> tuple[float, float]:
        return left + (right - left) * t / t_max, bottom - (bottom - top) * s

    body = []
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        _, y = xy(0, tick)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eee"/>')
        body.append(_text(left - 6, y + 4, f"{tick:.2f}", anchor="end"))
    for t in ticks:
        x, _ = xy(t, 0)
        body.append(_text(x, bottom + 16, f"{t:g}", anchor="middle"))
    body.append(_text((left + right) / 2, bottom + 34, x_label, anchor="middle"))
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
        body.append(_text(right - 132, top + 10 + 16 * i, f"{name} (n={curve['n']})"))
    return _svg(width, height, title, body)


def dose_chart(
    values_mg: Sequence[float], q1: float | None, median: float | None, q3: float | None, *, title: str
) -> str:
    """Dot strip of each patient's total dose with the interquartile box and median."""
    width, left, right, mid = 560, 40, 540, 45
    if not values_mg:
        return _svg(width, 60, title, [_text(left, 30, "no dose data")])
    dose_ticks = _nice_ticks(max(values_mg) or 1.0)
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
        body.append(_text(x_of(v), mid + 44, f"{v:.0f}", anchor="middle"))
    body.append(_text((left + right) / 2, mid + 62, "total ketamine dose per patient (mg)", anchor="middle"))
    return _svg(width, mid + 72, title, body)


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
    y_ticks = _nice_ticks(y_top or 1.0, 5)
    y_max = y_ticks[-1]
    t_values = [float(t) for t in t_min]
    x_ticks = _nice_ticks((t_max if t_max is not None else max(t_values, default=1.0)) or 1.0, 8)
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
        body.append(_text(left - 6, y + 4, f"{tick:g}", anchor="end"))
    for tick in x_ticks:
        x = x_of(tick)
        body.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#000"/>')
        body.append(_text(x, bottom + 17, f"{tick:g}", anchor="middle"))
    for t, label in markers:
        x = x_of(float(t))
        body.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#777" stroke-dasharray="2 4"/>'
        )
        body.append(_text(x + 3, top + 11, label, extra='fill="#555" font-size="10"'))
    if off_scale:
        body.append(
            _text(
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
    body.append(_text((left + right) / 2, bottom + 34, x_label, anchor="middle"))
    mid = (top + bottom) / 2
    body.append(_text(16, mid, y_label, anchor="middle", extra=f'transform="rotate(-90 16 {mid:.1f})"'))
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
        body.append(_text(x + 30, y, label))
        x += 40 + 7 * len(label)
    chars = max(40, int((right - left - 20) / 5.5))
    for i, band in enumerate(bands):
        y += 18
        fill = BAND_FILLS[i % len(BAND_FILLS)]
        status = f" [{band['status']}]" if band.get("status") else ""
        span = f"{float(band['low']):g}-{float(band['high']):g} {y_label}"
        source = f"Source: {band['source']}{status}"
        body.append(f'<rect x="{left}" y="{y - 10}" width="12" height="12" fill="{fill}" opacity="0.45"/>')
        body.append(_text(left + 18, y, _clip(f"{band['label']}: {span}", chars), extra='font-size="11"'))
        y += 14
        body.append(
            _text(left + 18, y, _clip(source, chars), extra='font-size="11" fill="#444"').replace(
                "</text>", f"<title>{escape(source)}</title></text>"
            )
        )
    return _svg(width, int(y + 12), title, body)


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
        return _svg(width, 60, title, [_text(left, 30, "no pain ratings yet")])
    span = max(max(days), 1.0)

    def x_of(day: float) -> float:
        return left + (right - left) * day / span

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / 10

    body = []
    for tick in range(0, 11, 2):
        y = y_of(tick)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eee"/>')
        body.append(_text(left - 8, y + 4, str(tick), anchor="end"))
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
        body.append(_text(right - 4, y - 4, label, anchor="end", extra=f'fill="{colour}"'))
    points = " ".join(f"{x_of(d):.1f},{y_of(v):.1f}" for d, v in zip(days, nrs, strict=True))
    body.append(f'<polyline points="{points}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>')
    for d, v in zip(days, nrs, strict=True):
        body.append(f'<circle cx="{x_of(d):.1f}" cy="{y_of(v):.1f}" r="4" fill="{PALETTE[0]}"/>')
    for day in _nice_ticks(span, 5):
        if day <= span:
            body.append(_text(x_of(day), bottom + 16, f"{day:g}", anchor="middle"))
    body.append(_text((left + right) / 2, bottom + 34, "days since the first answer", anchor="middle"))
    body.append(
        _text(
            12,
            (top + bottom) / 2,
            "Pain NRS",
            anchor="middle",
            extra=f'transform="rotate(-90 12 {(top + bottom) / 2})"',
        )
    )
    return _svg(width, bottom + 42, title, body)
