"""The clinic's message policy: data/messages.toml (every value local-policy), the clinic's file on top."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any

from ketaclinic.data import load_toml, load_toml_path
from ketaclinic.errors import DataFileError
from ketaclinic.settings import Settings

POLICY_FILE = "messages.toml"
_WHOLE_NUMBERS = {
    "invitation_within_days": (0, 60),
    "questionnaire_reminders": (0, 10),
    "questionnaire_reminder_every_days": (1, 14),
    "max_attempts": (1, 20),
    "retry_after_s": (1, 86_400),
    "lease_s": (30, 86_400),
}


@dataclass(frozen=True, slots=True)
class MessagePolicy:
    """When reminders go out, what they say, and how delivery is retried."""

    reminder_time: time
    preparation_text: str
    invitation_within_days: int
    questionnaire_reminders: int
    questionnaire_reminder_every_days: int
    max_attempts: int
    retry_after_s: int
    lease_s: int

    def retry_delay_s(self, attempts: int) -> int:
        """The wait after the `attempts`-th failed attempt: the first wait, doubled for each further one."""
        return int(self.retry_after_s * 2 ** max(attempts - 1, 0))


def _values(raw: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = set(raw) - {"reminder_time", "preparation_text", *_WHOLE_NUMBERS}
    if unknown:
        raise DataFileError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key, row in raw.items():
        if not isinstance(row, dict) or "value" not in row:
            raise DataFileError(f"{where}: [{key}] needs a value")
        values[key] = row["value"]
    return values


def _whole(values: dict[str, Any], key: str, where: str) -> int:
    low, high = _WHOLE_NUMBERS[key]
    value = values[key]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise DataFileError(f"{where}: {key} must be a whole number from {low} to {high}, got {value!r}")
    return int(value)


def load_policy(config: Settings | Path | None) -> MessagePolicy:
    """The shipped policy with the keys of the clinic's messages.toml (in its config directory) on top."""
    values = _values(load_toml(POLICY_FILE), POLICY_FILE)
    where = POLICY_FILE
    config_dir = config.config_dir if isinstance(config, Settings) else config
    override = None if config_dir is None else Path(config_dir) / POLICY_FILE
    if override is not None and override.is_file():
        where = str(override)
        values |= _values(load_toml_path(override), where)
    try:
        reminder_time = time.fromisoformat(str(values["reminder_time"]))
    except ValueError:
        raise DataFileError(
            f"{where}: reminder_time must be HH:MM, got {values['reminder_time']!r}"
        ) from None
    text = values["preparation_text"]
    if not isinstance(text, str) or not text.strip():
        raise DataFileError(f"{where}: preparation_text must be some text")
    return MessagePolicy(
        reminder_time=reminder_time,
        preparation_text=text.strip(),
        **{key: _whole(values, key, where) for key in _WHOLE_NUMBERS},
    )
