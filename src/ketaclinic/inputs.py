"""Input types every layer's models share: record ids in the column range, clean text, dates as dates.

Bad input here is a Pydantic validation error naming the field, so the API and the forms answer 422
and the store never sees a value it would fail on (a NUL byte on PostgreSQL, an id past the column).
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

# Ids are INTEGER columns: 2^31 - 1 on PostgreSQL (SQLite's 2^63 - 1 is wider), so one bound serves both.
MAX_RECORD_ID = 2**31 - 1
RecordRef = Annotated[int, Field(ge=1, le=MAX_RECORD_ID)]

# Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they make a name
# display as something other than what is stored ("Trojan Source").
BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
# What free text may keep of the control characters: tab and line breaks.
TEXT_WHITESPACE = frozenset("\t\n\r")


def _refuse_hidden_characters(value: str, *, allowed: frozenset[str]) -> str:
    for char in value:
        if char in allowed:
            continue
        if char == "\x00":
            raise ValueError("must not contain a NUL byte")
        if char in BIDI_CONTROLS:
            raise ValueError(f"must not contain the bidirectional control character U+{ord(char):04X}")
        category = unicodedata.category(char)
        if category == "Cc":
            raise ValueError(f"must not contain the control character U+{ord(char):04X}")
        if category == "Cs":
            raise ValueError(f"must not contain the unpaired surrogate U+{ord(char):04X}")
    return value


def check_single_line(value: str) -> str:
    """A name or a code: no control character at all, no bidirectional override, no NUL."""
    return _refuse_hidden_characters(value, allowed=frozenset())


def check_text(value: str) -> str:
    """Free text (a note, a reason): tabs and line breaks, but no other control character or override."""
    return _refuse_hidden_characters(value, allowed=TEXT_WHITESPACE)


SingleLine = AfterValidator(check_single_line)
CleanText = AfterValidator(check_text)


def _not_a_number(value: Any) -> Any:
    # Lax Pydantic reads 0 as 1970-01-01 and 1700000000 as a time in 2023: a number is never a date here.
    if isinstance(value, int | float):
        raise ValueError(
            "a date or time is written in ISO 8601 (2024-05-01, 2024-05-01T09:30:00Z), not a number"
        )
    return value


IsoDate = Annotated[date, BeforeValidator(_not_a_number)]
IsoDateTime = Annotated[datetime, BeforeValidator(_not_a_number)]
