"""A bad value in a setting is one line naming the variable and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ketaclinic.errors import InputError
from ketaclinic.settings import load_settings


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KETACLINIC_IDLE_TIMEOUT_MIN", "abc"),
        ("KETACLINIC_IDLE_TIMEOUT_MIN", "0"),
        ("KETACLINIC_IDLE_TIMEOUT_MIN", "-5"),
        ("KETACLINIC_IDLE_TIMEOUT_MIN", "2.5"),
        ("KETACLINIC_IDLE_TIMEOUT_MIN", "²"),
        ("KETACLINIC_SECURE_COOKIES", "yes"),
        ("KETACLINIC_SESSION_MAX_HOURS", "0"),
        ("KETACLINIC_SESSION_MAX_HOURS", "twelve"),
        ("KETACLINIC_API_TOKEN_DAYS", "366"),
        ("KETACLINIC_API_TOKEN_DAYS", "0"),
    ],
)
def test_a_bad_value_names_its_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(InputError) as caught:
        load_settings({"KETACLINIC_VAR_DIR": str(tmp_path), name: value})
    assert caught.value.field == name
    assert repr(value) in str(caught.value)


def test_good_values_are_read(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "KETACLINIC_VAR_DIR": str(tmp_path),
            "KETACLINIC_IDLE_TIMEOUT_MIN": "30",
            "KETACLINIC_SECURE_COOKIES": "1",
            "KETACLINIC_SESSION_MAX_HOURS": "8",
            "KETACLINIC_API_TOKEN_DAYS": "365",
        }
    )
    assert settings.idle_timeout_min == 30
    assert (settings.session_max_hours, settings.api_token_days) == (8, 365)
    defaults = load_settings({"KETACLINIC_VAR_DIR": str(tmp_path)})
    assert (defaults.session_max_hours, defaults.api_token_days) == (12, 90)
    assert settings.secure_cookies is True


def test_the_cli_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    env = {**os.environ, "KETACLINIC_VAR_DIR": str(tmp_path), "KETACLINIC_IDLE_TIMEOUT_MIN": "abc"}
    env.pop("KETACLINIC_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "ketaclinic", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: KETACLINIC_IDLE_TIMEOUT_MIN: expected a whole number of minutes of at least 1, got 'abc'"
    ]
