"""The physician's choices in cohen2018-series: within the published ranges no breach, outside a soft one."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.data import Status
from ketaclinic.dosing import build_plan, load_library, load_protocols
from ketaclinic.dosing.choices import apply_choices, choosable
from ketaclinic.dosing.protocol_files import parse_protocol
from ketaclinic.errors import DataFileError, InputError

LIB = load_library()
SERIES = load_protocols()["cohen2018-series"]


def test_series_offers_dose_duration_and_sessions_within_the_published_ranges() -> None:
    options = choosable(SERIES)
    assert {k: p.published_range for k, p in options.items()} == {
        "sessions": (4, 6),
        "dose_mg_kg": (0.1, 1.0),
        "duration_min": (60, 240),
    }
    assert all("Cohen 2018" in p.source for p in options.values())
    assert choosable(load_protocols()["valle2024"]) == {}


def test_default_series_at_70_kg() -> None:
    plan = build_plan(SERIES, weight_kg=70, library=LIB, predict=False)
    assert len(plan.sessions) == 5 and plan.soft_breaches == ()
    assert [s.date.toordinal() - plan.sessions[0].date.toordinal() for s in plan.sessions] == [0, 2, 4, 6, 8]
    assert plan.sessions[0].segments[0].rate_mg_h == 17.5  # 0.5 mg/kg x 70 kg over 2 h
    assert plan.choices == {"sessions": 5, "dose_mg_kg": 0.5, "duration_min": 120}
    assert plan.sessions[0].information is not None  # 35 mg: below the 80 mg dose-response minimum


def test_chosen_values_dose_the_plan() -> None:
    plan = build_plan(
        SERIES,
        weight_kg=80,
        library=LIB,
        predict=False,
        choices={"dose_mg_kg": 1.0, "duration_min": 150, "sessions": 6},
    )
    assert len(plan.sessions) == 6 and plan.soft_breaches == ()
    assert plan.sessions[0].total_mg == pytest.approx(80) and plan.sessions[0].information is None
    assert plan.to_json_dict()["choices"] == {"sessions": 6, "dose_mg_kg": 1.0, "duration_min": 150}


def test_outside_the_published_range_is_a_soft_breach_with_its_source() -> None:
    plan = build_plan(SERIES, weight_kg=70, library=LIB, predict=False, choices={"sessions": 8})
    (breach,) = plan.soft_breaches
    assert breach.quantity == "sessions" and breach.limit_kind == "soft_max" and breach.limit == 6
    assert "above the published range 4-6 sessions" in breach.message and "Cohen 2018" in breach.message
    low = build_plan(SERIES, weight_kg=70, library=LIB, predict=False, choices={"dose_mg_kg": 0.05})
    assert next(c.quantity for c in low.soft_breaches) == "dose_mg_kg"


@pytest.mark.parametrize(
    ("choices", "field"),
    [
        ({"sessions": 4.5}, "choices.sessions"),
        ({"sessions": 0}, "choices.sessions"),
        ({"sessions": 31}, "choices.sessions"),
        ({"dose_mg_kg": 0}, "choices.dose_mg_kg"),
        ({"dose_mg_kg": math.nan}, "choices.dose_mg_kg"),
        ({"duration_min": 20_000}, "choices.duration_min"),
        ({"rate_mg_h": 10}, "choices"),
    ],
)
def test_a_choice_that_cannot_be_dosed_is_bad_input(choices: dict[str, float], field: str) -> None:
    with pytest.raises(InputError) as bad:
        apply_choices(SERIES, choices)
    assert bad.value.field == field


def test_a_protocol_without_choices_refuses_one() -> None:
    with pytest.raises(InputError, match="its choices: none") as bad:
        build_plan(load_protocols()["valle2024"], weight_kg=70, library=LIB, choices={"sessions": 4})
    assert bad.value.field == "choices"


def test_file_ranges_are_validated() -> None:
    raw = {
        "id": "x",
        "name": "x",
        "drug": "racemic",
        "context": "outpatient",
        "setting": "outpatient",
        "observation_cadence": "outpatient",
        "citation": "x",
        "status": "local-policy",
        "schedule": {
            "sessions": {"value": 3, "min": 4, "max": 6, "source": "s", "status": "local-policy"},
            "interval_days": {"value": 1, "source": "s", "status": "local-policy"},
        },
        "dosing": [
            {
                "dose_mg": {"value": 50, "source": "s", "status": "local-policy"},
                "duration_min": {"value": 60, "source": "s", "status": "local-policy"},
            }
        ],
    }
    with pytest.raises(DataFileError, match=r"schedule\.sessions: value 3 must lie within min 4\.\.max 6"):
        parse_protocol(raw, "x.toml")
    raw["schedule"]["sessions"] |= {"value": 5}  # type: ignore[index]
    assert parse_protocol(raw, "x.toml").schedule.sessions.published_range == (4, 6)
    assert parse_protocol(raw, "x.toml").schedule.sessions.status is Status.LOCAL_POLICY


@settings(max_examples=150, deadline=None)
@given(
    dose=st.floats(min_value=0.1, max_value=1.0),
    duration=st.floats(min_value=60, max_value=240),
    sessions=st.integers(min_value=4, max_value=6),
    weight=st.floats(min_value=50, max_value=100),
)
def test_any_choice_within_the_published_ranges_needs_no_override(
    dose: float, duration: float, sessions: int, weight: float
) -> None:
    plan = build_plan(
        SERIES,
        weight_kg=weight,
        library=LIB,
        predict=False,
        choices={"dose_mg_kg": dose, "duration_min": duration, "sessions": sessions},
    )
    assert plan.soft_breaches == (), [c.message for c in plan.soft_breaches]
    assert len(plan.sessions) == sessions


@settings(max_examples=150, deadline=None)
@given(
    key=st.sampled_from(["dose_mg_kg", "duration_min", "sessions"]),
    factor=st.sampled_from([0.5, 2.0]),
)
def test_one_choice_outside_its_range_is_exactly_one_choice_breach(key: str, factor: float) -> None:
    param = choosable(SERIES)[key]
    assert param.published_range is not None
    edge = param.published_range[0 if factor < 1 else 1]
    value = float(round(edge * factor)) if key == "sessions" else edge * factor
    _, checks = apply_choices(SERIES, {key: value})
    assert [c.quantity for c in checks if c.verdict == "soft"] == [key]
