"""Exceptions shared by every layer: bad input names its field; the edges turn it into 4xx or exit 2."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pydantic


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
