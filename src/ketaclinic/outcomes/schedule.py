"""Follow-up schedule: a check after each session and questionnaires at set weeks after the series."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ketaclinic.errors import InputError
from ketaclinic.outcomes.definitions import followup_policy

_POLICY = followup_policy()
DEFAULT_OFFSETS_WEEKS: tuple[int, ...] = tuple(int(w) for w in _POLICY["offsets_weeks"])


@dataclass(frozen=True, slots=True)
class FollowupDue:
    """One follow-up contact that falls due, with the instruments to collect."""

    due: date
    kind: str  # "after_session" or "after_series"
    instruments: tuple[str, ...]
    session_number: int | None = None
    weeks_after_series: int | None = None


def followup_schedule(
    series_end: date,
    session_dates: list[date],
    offsets_weeks: Sequence[int] = DEFAULT_OFFSETS_WEEKS,
) -> list[FollowupDue]:
    """Follow-ups after each session and `offsets_weeks` after the series end, sorted by due date."""
    if any(d > series_end for d in session_dates):
        raise InputError("a session date falls after the series end", field="session_dates")
    offsets = list(offsets_weeks)
    if any(isinstance(w, bool) or not isinstance(w, int) or w <= 0 for w in offsets):
        raise InputError("follow-up offsets must be positive whole weeks", field="offsets_weeks")
    if len(set(offsets)) != len(offsets):
        raise InputError("follow-up offsets must not repeat", field="offsets_weeks")
    after_days = timedelta(days=int(_POLICY["after_session_days"]))
    session_instruments = tuple(_POLICY["after_session_instruments"])
    series_instruments = tuple(_POLICY["after_series_instruments"])
    due = [
        FollowupDue(d + after_days, "after_session", session_instruments, session_number=i)
        for i, d in enumerate(sorted(session_dates), start=1)
    ]
    due += [
        FollowupDue(series_end + timedelta(weeks=w), "after_series", series_instruments, weeks_after_series=w)
        for w in sorted(offsets)
    ]
    return sorted(due, key=lambda f: (f.due, f.kind))
