"""De-identification for research exports: HIPAA Safe Harbor (45 CFR 164.514(b)(2)) plus date shifting.

Names, record numbers, contact details and free text are dropped by the mapping that calls this;
here are the two transformations that need care: a per-patient date offset derived with HMAC from
the clinic's secret (the same patient shifts the same way in every export, so exports can be joined,
and the offset itself is never written out), and ages over 89 grouped as "90+".
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta

# Offsets are drawn from 1..MAX_SHIFT_DAYS days into the past: never zero, so no exact date survives.
MAX_SHIFT_DAYS = 364
# Safe Harbor: ages over 89 (and the dates that reveal them) are aggregated into one category.
OLDEST_SHOWN_AGE = 89
AGE_GROUP_OVER_89 = "90+"


def shift_days(secret: str, pseudonym: str) -> int:
    """The patient's date offset in days (1..364), from HMAC-SHA256 of the pseudonym under the secret.

    >>> shift_days("secret", "P0000001") == shift_days("secret", "P0000001")
    True
    >>> 1 <= shift_days("secret", "P0000001") <= MAX_SHIFT_DAYS
    True
    """
    digest = hmac.new(secret.encode(), f"date-shift:{pseudonym}".encode(), hashlib.sha256).digest()
    return 1 + int.from_bytes(digest[:8], "big") % MAX_SHIFT_DAYS


@dataclass(frozen=True, slots=True)
class Dates:
    """How one patient's dates are written: as they are, or shifted back by a secret number of days."""

    shift: int = 0

    @property
    def shifted(self) -> bool:
        """True for a de-identified export."""
        return self.shift != 0

    def day(self, value: date) -> str:
        """A date as FHIR writes it."""
        return (value - timedelta(days=self.shift)).isoformat()

    def moment(self, value: datetime) -> str:
        """A timezone-aware instant as FHIR writes it (seconds precision)."""
        return (value - timedelta(days=self.shift)).replace(microsecond=0).isoformat()

    def optional(self, value: datetime | None) -> str | None:
        """`moment`, or None for None."""
        return None if value is None else self.moment(value)


def age_on(birth_date: date, on: date) -> int:
    """Completed years of age on a date."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def safe_harbor_birth(birth_date: date, on: date) -> tuple[str | None, str | None]:
    """(birth year, age group): the year alone up to 89; over 89 no year and the group "90+".

    >>> safe_harbor_birth(date(1960, 5, 1), date(2026, 1, 1))
    ('1960', None)
    >>> safe_harbor_birth(date(1930, 5, 1), date(2026, 1, 1))
    (None, '90+')
    """
    if age_on(birth_date, on) > OLDEST_SHOWN_AGE:
        return None, AGE_GROUP_OVER_89
    return str(birth_date.year), None
