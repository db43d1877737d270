"""Exceptions shared by every layer: bad input names its field; the edges turn it into 4xx or exit 2."""

from __future__ import annotations


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


class PermissionDeniedError(KetaclinicError):
    """The acting user's role does not allow this action."""


class DataFileError(KetaclinicError):
    """A shipped or clinic-supplied data file is malformed or breaks a rule (e.g. loosens a hard limit)."""
