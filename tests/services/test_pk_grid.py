"""The one PK time-grid parser: the API, the page and the CLI get the same grid, each in its own words."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from ketaclinic.cli.commands.pk import grid as cli_grid
from ketaclinic.errors import InputError
from ketaclinic.services.pk import MAX_POINTS, SimulateIn, minutes_grid, time_grid

BASE = {"model": "domino1984", "weight_kg": 70}


def test_cli_and_api_build_the_same_grid_with_the_end_included() -> None:
    api = time_grid(SimulateIn.model_validate(BASE | {"until_min": 10, "step_s": 7}))
    cli = cli_grid(None, 10, 7)
    np.testing.assert_array_equal(api, cli)
    assert len(api) == 87 and api[-1] == 10.0 and api[1] == pytest.approx(7 / 60)  # 86 steps, then 10 min
    assert list(cli_grid("1,5,10", None, None)) == list(minutes_grid([1, 5, 10], None, None)) == [1, 5, 10]


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (("1", 60.0, None), "times: give either --times or --until with --step-s, not both"),
        ((None, 60.0, None), "times: give --times, or --until and --step-s"),
        ((None, 0.0, 60.0), "until: --until and --step-s must be > 0"),
        ((None, float("nan"), 60.0), "until: --until and --step-s must be > 0"),
        ((None, float("inf"), 60.0), "until: --until and --step-s must be finite"),
        ((None, 1e6, 1e-3), "step_s: 60000000001 points requested (--until 1e+06 at --step-s 0.001)"),
        (("1,x", None, None), "times: malformed times '1,x'; expected e.g. 1,5,10"),
        (("5,1", None, None), "times: times must be sorted in increasing order, got '5,1'"),
        (("", None, None), "times: no times given"),
    ],
)
def test_cli_words(args: tuple, shown: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InputError) as caught:
        cli_grid(*args)
    assert str(caught.value).startswith(shown)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"times": [1.0], "until_min": 60}, "give either times or until_min with step_s, not both"),
        ({"until_min": 60}, "give times, or until_min and step_s"),
    ],
)
def test_api_words_for_the_grid_choice_stay_a_model_error(change: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError) as caught:
        SimulateIn.model_validate(BASE | change)
    assert caught.value.errors()[0]["loc"] == () and message in caught.value.errors()[0]["msg"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"times": []}, "times", "times is empty"),
        (
            {"until_min": 100_000, "step_s": 1},
            "step_s",
            f"6000001 points requested (until_min 100000 at step_s 1); at most {MAX_POINTS}: raise step_s",
        ),
        ({"until_min": 100_000, "step_s": 1e-305}, "step_s", "too many points requested"),
    ],
)
def test_api_words_for_the_grid(change: dict, field: str, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InputError) as caught:
        time_grid(SimulateIn.model_validate(BASE | change))
    assert caught.value.field == field and caught.value.message.startswith(message)
