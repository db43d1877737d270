"""Observation kinds: impossible values rejected naming the field; abnormal values accepted, interpreted."""

from __future__ import annotations

import pytest
from hypothesis import given
from tests.monitoring.monitoring_strategies import valid_observations

from ketaclinic.data import Status
from ketaclinic.errors import InputError
from ketaclinic.monitoring import (
    Interpretation,
    Observation,
    interpret,
    interpret_value,
    observation_kinds,
    parse_observation,
)


def test_every_kind_has_source_and_status_for_definition_limits_and_ranges() -> None:
    for kind in observation_kinds().values():
        assert kind.source and kind.limits_source and kind.ranges_source
        assert isinstance(kind.status, Status)
        assert isinstance(kind.limits_status, Status)
        assert isinstance(kind.ranges_status, Status)


@pytest.mark.parametrize(
    ("key", "loinc", "ucum"),
    [
        ("sbp", ("8480-6",), "mm[Hg]"),
        ("dbp", ("8462-4",), "mm[Hg]"),
        ("hr", ("8867-4",), "/min"),
        ("rr", ("9279-1",), "/min"),
        ("spo2", ("2708-6", "59408-5"), "%"),
        ("temp_c", ("8310-5",), "Cel"),
        ("nrs", ("72514-3",), "{score}"),
    ],
)
def test_loinc_codes_and_ucum_units_from_the_reference(key: str, loinc: tuple[str, ...], ucum: str) -> None:
    kind = observation_kinds()[key]
    assert kind.loinc == loinc
    assert kind.ucum == ucum


def test_scale_limits_are_the_scale_definitions() -> None:
    kinds = observation_kinds()
    assert (kinds["rass"].valid_min, kinds["rass"].valid_max) == (-5, 4)
    assert (kinds["moaas"].valid_min, kinds["moaas"].valid_max) == (0, 5)
    assert (kinds["nrs"].valid_min, kinds["nrs"].valid_max) == (0, 10)
    assert kinds["cadss6"].items == (1, 2, 6, 7, 15, 22)
    assert kinds["rass"].limits_status is Status.VERIFIED


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"spo2": 104}, "spo2"),
        ({"spo2": -1}, "spo2"),
        ({"hr": 0}, "hr"),
        ({"hr": 301}, "hr"),
        ({"rr": -2}, "rr"),
        ({"sbp": -120}, "sbp"),
        ({"rass": -6}, "rass"),
        ({"rass": 5}, "rass"),
        ({"rass": 1.5}, "rass"),
        ({"moaas": 6}, "moaas"),
        ({"moaas": -1}, "moaas"),
        ({"nrs": 11}, "nrs"),
        ({"nrs": 4.5}, "nrs"),
        ({"nrs": -1}, "nrs"),
        ({"dissociation": 11}, "dissociation"),
        ({"nausea": 4}, "nausea"),
        ({"sbp": 80, "dbp": 90}, "sbp"),
        ({"sbp": 90, "dbp": 90}, "sbp"),
        ({"hallucinations": "yes"}, "hallucinations"),
        ({"hr": "fast"}, "hr"),
        ({"hr": True}, "hr"),
        ({"cadss6": [0, 1, 2, 3, 4]}, "cadss6"),
        ({"cadss6": [0, 1, 2, 3, 4, 5]}, "cadss6.item_22"),
        ({"cadss6": {"1": 0, "2": 0, "6": 0, "7": 0, "15": 0, "3": 0}}, "cadss6"),
        ({"sbp": 120, "pulse": 70}, "pulse"),
    ],
)
def test_impossible_values_are_rejected_naming_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_observation({"t_min": 10, **raw}, where="observations[3]")
    assert caught.value.field == f"observations[3].{field}"


def test_the_rejection_message_states_the_possible_range() -> None:
    with pytest.raises(InputError) as caught:
        parse_observation({"t_min": 5, "spo2": 104}, where="observations[3]")
    assert str(caught.value) == "observations[3].spo2: 104 is impossible (0-100 %)"


def test_direct_construction_validates_too() -> None:
    with pytest.raises(InputError) as caught:
        Observation(t_min=0, rass=-6)
    assert caught.value.field == "rass"
    with pytest.raises(InputError):
        Observation(t_min=0, sbp=70, dbp=80)


def test_missing_time_is_rejected() -> None:
    with pytest.raises(InputError) as caught:
        parse_observation({"hr": 80}, where="observations[0]")
    assert caught.value.field == "observations[0].t_min"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("spo2", 98, Interpretation.NORMAL),
        ("spo2", 93, Interpretation.ABNORMAL),
        ("spo2", 85, Interpretation.CRITICAL),
        ("spo2", 0, Interpretation.CRITICAL),
        ("hr", 299, Interpretation.CRITICAL),
        ("sbp", 165, Interpretation.ABNORMAL),
        ("rass", 0, Interpretation.NORMAL),
        ("rass", -1, Interpretation.ABNORMAL),
        ("rass", -2, Interpretation.CRITICAL),
        ("moaas", 3, Interpretation.CRITICAL),
        ("hallucinations", True, Interpretation.ABNORMAL),
        ("hallucinations", False, Interpretation.NORMAL),
        ("nrs", 10, Interpretation.NORMAL),
    ],
)
def test_abnormal_values_are_accepted_and_interpreted(
    key: str, value: object, expected: Interpretation
) -> None:
    obs = parse_observation({"t_min": 0, key: value})
    assert interpret(obs)[key] is expected
    assert interpret_value(key, value) is expected  # type: ignore[arg-type]


def test_cadss6_accepts_items_by_number_and_totals_them() -> None:
    obs = parse_observation({"t_min": 1, "cadss6": {"1": 4, "2": 3, "6": 2, "7": 1, "15": 0, "22": 4}})
    assert obs.cadss6 == (4, 3, 2, 1, 0, 4)
    assert obs.cadss6_total == 14
    assert parse_observation({"t_min": 1, "cadss6": [4, 4, 4, 4, 4, 4]}).cadss6_total == 24


def test_identity_is_the_stored_id_else_the_time() -> None:
    assert Observation(t_min=15).identity == "t=15"
    assert Observation(t_min=15, obs_id="a1").identity == "a1"


@given(valid_observations())
def test_any_valid_observation_round_trips_through_parse(obs: Observation) -> None:
    raw: dict[str, object] = {"t_min": obs.t_min, **obs.charted()}
    if obs.cadss6 is not None:
        raw["cadss6"] = list(obs.cadss6)
    assert parse_observation(raw) == obs
