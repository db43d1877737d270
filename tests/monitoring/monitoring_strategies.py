"""Shared strategies for the monitoring tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ketaclinic.monitoring import Observation, observation_kinds

# Loaded once here so the first hypothesis draw is not charged with reading the data file.
KINDS = observation_kinds()


def _value_strategy(key: str) -> st.SearchStrategy[Any]:
    kind = KINDS[key]
    if kind.value_type == "boolean":
        return st.booleans()
    if kind.value_type == "text":
        return st.text(max_size=50)
    assert kind.valid_min is not None and kind.valid_max is not None
    if kind.value_type == "cadss6":
        item = st.integers(int(kind.valid_min), int(kind.valid_max))
        return st.tuples(*[item] * len(kind.items))
    if kind.value_type == "integer":
        return st.integers(int(kind.valid_min), int(kind.valid_max))
    return st.floats(kind.valid_min, kind.valid_max, allow_nan=False)


@st.composite
def valid_observations(draw: st.DrawFn, obs_id: str | None = None) -> Observation:
    """Any observation the flowsheet accepts (each field present or absent; systolic above diastolic)."""
    values: dict[str, Any] = {}
    for key in KINDS:
        if draw(st.booleans()):
            values[key] = draw(_value_strategy(key))
    if "sbp" in values and "dbp" in values and values["sbp"] <= values["dbp"]:
        values["sbp"], values["dbp"] = values["dbp"] + 1.0, values["sbp"]
        if values["sbp"] > 300 or values["sbp"] <= values["dbp"]:
            del values["sbp"]
    t_min = draw(st.floats(-30, 3000, allow_nan=False))
    return Observation(t_min=t_min, obs_id=obs_id, **values)
