"""Exceptions shared by every layer: bad input names its field; the edges turn it into 4xx or exit 2."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic
from pydantic_core import ErrorDetails


class KetaclinicError(Exception):
    """Base of every error ketaclinic raises on purpose."""


class InputError(KetaclinicError, ValueError):
    """Input that cannot be accepted (malformed, out of range, wrong unit); `field` names the culprit."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ManyInputsError(InputError):
    """Several input problems found together, so a form can name them all at once; the first is `field`."""

    def __init__(self, problems: Sequence[InputError]) -> None:
        if not problems:
            raise ValueError("ManyInputsError needs at least one problem")
        super().__init__(problems[0].message, field=problems[0].field)
        self.problems = tuple(problems)

    @classmethod
    def raise_any(cls, problems: Sequence[InputError]) -> None:
        """Raise nothing for no problem, the problem itself for one, all of them together for more."""
        if len(problems) == 1:
            raise problems[0]
        if problems:
            raise cls(problems)


class NotFoundError(KetaclinicError, LookupError):
    """A record or catalogue entry that does not exist."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class ConflictError(KetaclinicError):
    """A write that collides with the current state (duplicate key, locked record, wrong lifecycle step)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class GoneError(ConflictError):
    """A record that existed and can no longer be used (a spent or expired one-time link)."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    """A field changed since the version an editor read: the value now stored, who changed it and when."""

    field: str
    value: Any
    changed_by: str | None = None
    changed_at: datetime | None = None


class StaleVersionError(ConflictError):
    """An edit based on a version that is no longer current; `changes` names what changed since."""

    def __init__(
        self,
        entity: str,
        *,
        read_version: int | None = None,
        current_version: int | None = None,
        changes: tuple[FieldChange, ...] = (),
    ) -> None:
        since = (
            f" (you read version {read_version}, it is now version {current_version})" if read_version else ""
        )
        named = f"; changed since: {', '.join(c.field for c in changes)}" if changes else ""
        super().__init__(
            f"this {entity.replace('_', ' ')} was changed after you read it{since}{named}: "
            "review the values now stored and save again",
            field="version",
        )
        self.entity = entity
        self.read_version = read_version
        self.current_version = current_version
        self.changes = changes

    def details(self) -> dict[str, Any]:
        """The versions and the changed fields as plain JSON values (for the problem body)."""
        return {
            "read_version": self.read_version,
            "current_version": self.current_version,
            "changed_fields": [
                {
                    "field": c.field,
                    "value": c.value,
                    "changed_by": c.changed_by,
                    "changed_at": c.changed_at.isoformat() if c.changed_at else None,
                }
                for c in self.changes
            ],
        }


class PermissionDeniedError(KetaclinicError):
    """The acting user's role does not allow this action."""


class DataFileError(KetaclinicError):
    """A shipped or clinic-supplied data file is malformed or breaks a rule (e.g. loosens a hard limit)."""


@dataclass(frozen=True)
class Answer:
    """How the edges answer an error: its HTTP status and the problem's title (the CLI exits 2 on any)."""

    status: int
    title: str


# The one error-to-status table: the API's problem+json, the HTML pages and the CLI all read it.
# Looked up along the class's MRO, so a subclass (HardLimitError, LinkGoneError) answers as its base.
ANSWERS: dict[type[Exception], Answer] = {
    InputError: Answer(422, "Invalid input"),
    ManyInputsError: Answer(422, "Invalid input"),
    pydantic.ValidationError: Answer(422, "Invalid input"),
    NotFoundError: Answer(404, "Not found"),
    ConflictError: Answer(409, "Conflict"),
    GoneError: Answer(410, "Gone"),
    StaleVersionError: Answer(409, "Changed by someone else"),
    PermissionDeniedError: Answer(403, "Forbidden"),
    DataFileError: Answer(500, "Configuration error"),
}
KNOWN_ERRORS: tuple[type[Exception], ...] = tuple(ANSWERS)


def answer_for(exc: BaseException) -> Answer | None:
    """The table's answer for `exc` (its own class or the nearest base listed), None when unlisted."""
    for cls in type(exc).__mro__:
        if cls in ANSWERS:
            return ANSWERS[cls]
    return None


def http_status(exc: BaseException) -> int:
    """The HTTP status `exc` answers with: the table's, 500 for anything unlisted."""
    answer = answer_for(exc)
    return answer.status if answer else 500


# --- validation problems in the words a person uses (every edge and the intake read this) ----------


def shown_value(value: Any) -> str:
    """A value as a message quotes it (floats without trailing zeros)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def plain_words(error: ErrorDetails, unit: str = "") -> str:
    """A validation error in the words a person uses, with the field's unit; no validator phrasing."""
    kind, ctx, given = error.get("type", ""), error.get("ctx") or {}, error.get("input")
    suffix = f" {unit}" if unit else ""
    entered = f"; {shown_value(given)}{suffix} was entered" if isinstance(given, int | float | str) else ""
    bounds = {
        "greater_than_equal": ("must be at least", "ge"),
        "greater_than": ("must be above", "gt"),
        "less_than_equal": ("must be at most", "le"),
        "less_than": ("must be below", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{words} {shown_value(ctx.get(key))}{suffix}{entered}"
    simple = {
        "missing": "is required",
        "string_too_short": "is required",
        "int_from_float": f"must be a whole number{entered}",
        "int_parsing": f"must be a whole number{entered}",
        "float_parsing": f"{shown_value(given)!r} is not a number",
        "enum": "choose one of the listed options",
        "literal_error": "choose one of the listed options",
        "extra_forbidden": "is not part of this form",
        "string_too_long": f"is too long (at most {ctx.get('max_length')} characters)",
        "string_pattern_mismatch": "has characters that are not allowed here",
        "bool_parsing": "answer yes or no",
        "datetime_parsing": "is not a date and time",
        "datetime_from_date_parsing": "is not a date and time",
        "date_parsing": "is not a date",
        "date_from_datetime_parsing": "is not a date",
    }
    if kind in simple:
        return simple[kind]
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")
