"""Time-series SVG chart: point markers for sparse series such as vital signs."""

import re

from ketaclinic.reports.svg import PALETTE
from ketaclinic.reports.time_charts import concentration_chart

POINT = re.compile(
    r'<circle class="point" cx="[\d.]+" cy="[\d.]+" r="3" fill="(#\w+)"><title>([^<]*)</title>'
)


def test_a_single_reading_gets_a_marker_with_its_value_and_minute() -> None:
    svg = concentration_chart([12.4], {"SBP mmHg": [128.0], "HR /min": [None]}, title="v", points=True)
    assert POINT.findall(svg) == [(PALETTE[0], "SBP mmHg: 128 at 12 min")]


def test_gaps_get_no_marker_and_isolated_values_do() -> None:
    svg = concentration_chart(
        [0, 5, 10, 15],
        {"SBP mmHg": [None, 130.0, None, None], "HR /min": [70.0, 72.0, None, 80.0]},
        title="v",
        points=True,
    )
    found = POINT.findall(svg)
    assert found == [
        (PALETTE[0], "SBP mmHg: 130 at 5 min"),
        (PALETTE[1], "HR /min: 70 at 0 min"),
        (PALETTE[1], "HR /min: 72 at 5 min"),
        (PALETTE[1], "HR /min: 80 at 15 min"),
    ]
    assert svg.count("<circle") == len(found) + 2  # plus one legend dot per series


def test_lines_only_unless_asked_and_labels_escaped() -> None:
    assert "<circle" not in concentration_chart([0, 1], {"Cp": [1.0, 2.0]}, title="c")
    svg = concentration_chart([3], {"<b>": [float("nan")], "SpO2 %": [97.0]}, title="v", points=True)
    assert POINT.findall(svg) == [(PALETTE[1], "SpO2 %: 97 at 3 min")]
    assert "<b>" not in svg and "&lt;b&gt;" in svg
