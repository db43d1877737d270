"""HTML forms: their fields read as a service's input, and an input problem as messages beside the fields."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from ketaclinic.errors import (
    ConflictError,
    InputError,
    ManyInputsError,
    NotFoundError,
    StaleVersionError,
    plain_words,
    shown_value,
)

_Model = TypeVar("_Model", bound=BaseModel)
# How a screen names its fields to people: {field: (label, unit as people write it)}.
FieldWords = Mapping[str, tuple[str, str]]

# --- reading fields ------------------------------------------------------------------------------------


def blank(value: Any) -> Any:
    """None for a missing or empty field, the value otherwise."""
    return None if value in (None, "") else value


def text(form: FormData, name: str) -> str:
    """A field as text, "" when absent."""
    return str(form.get(name) or "")


def number(value: Any, field: str) -> float | None:
    """A field as a finite number, None when empty; anything else is an InputError naming `field`."""
    value = blank(value)
    if value is None:
        return None
    try:
        parsed = float(str(value))
    except ValueError:
        raise InputError(f"{value!r} is not a number", field=field) from None
    if not math.isfinite(parsed):
        raise InputError(f"{value!r} is not a number", field=field)
    return parsed


def version_of(form: FormData) -> int:
    """The record version an edit form was opened at (its hidden field); missing or malformed is bad input."""
    raw = text(form, "version").strip()
    if not raw.isdigit() or int(raw) < 1:
        raise InputError(
            "the form does not say which version of the record it edits: reload it", field="version"
        )
    return int(raw)


def chosen(form: FormData, name: str) -> list[str]:
    """The ticked boxes (or selected options) of a multi-valued field, empty ones left out."""
    return [str(c) for c in form.getlist(name) if c]


def prior_treatments(form: FormData) -> list[dict[str, str]]:
    """The prior-treatment rows (a name and an outcome per row); rows without a name are left out."""
    return [
        {"name": str(n).strip(), "outcome": str(o)}
        for n, o in zip(form.getlist("treatment_name"), form.getlist("treatment_outcome"), strict=False)
        if str(n).strip()
    ]


def validated(model: type[_Model], data: dict[str, Any]) -> _Model:
    """A form's values as the service's input; a validation problem is an InputError naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, message = field_messages(exc)[0]
        raise InputError(message, field=field) from None


# --- showing problems ----------------------------------------------------------------------------------


def _unit(words: FieldWords, field: str) -> str:
    return words.get(field.split(".")[0], ("", ""))[1]


def field_messages(exc: Exception, words: FieldWords | None = None) -> list[tuple[str | None, str]]:
    """Every (field, message) an input problem names, in order; the field is None when none is named.

    With `words` a validation message carries the field's unit.
    """
    if isinstance(exc, ValidationError):
        found: list[tuple[str | None, str]] = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error.get("loc", ())) or None
            found.append((field, plain_words(error, _unit(words or {}, field or ""))))
        return found
    if isinstance(exc, ManyInputsError):
        return [(p.field, p.message) for p in exc.problems]
    if isinstance(exc, InputError | ConflictError | NotFoundError):
        return [(exc.field, exc.message)]
    return [(None, str(exc))]


def form_errors(
    exc: Exception, *, top_level: bool = False, words: FieldWords | None = None
) -> dict[str, str]:
    """{field: message} to re-render a form: the first message per field, "form" for an unnamed one.

    With `top_level` a nested field (prior_treatments.0.name) is reported on its top-level field.
    """
    found: dict[str, str] = {}
    for field, message in field_messages(exc, words):
        key = field or "form"
        found.setdefault(key.split(".")[0] if top_level else key, message)
    return found


def error_lines(exc: Exception, words: FieldWords | None = None) -> list[str]:
    """Each problem as one line, "field: message" (the message alone when no field is named).

    With `words` the field is named by its label (a field the screen does not name keeps its key).
    """
    named = words or {}

    def label(field: str) -> str:
        return named.get(field.split(".")[0], (field, ""))[0]

    lines = field_messages(exc, words)
    return [f"{label(field)}: {message}" if field else message for field, message in lines]


def error_line(exc: Exception, words: FieldWords | None = None) -> str:
    """The first problem as one line."""
    return error_lines(exc, words)[0]


# --- edits refused as stale ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaleNote:
    """Shown beside a field changed since the form was opened: the value now stored, by whom, when."""

    value: str
    changed_by: str
    changed_at: str


def _stored(value: Any) -> str:
    """A stored value as a person reads it (lists joined, a pair as "name (outcome)")."""
    if value is None or value == "" or value == [] or value == {}:
        return "(empty)"
    if isinstance(value, dict):
        return ", ".join(f"{key} {_stored(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(
            f"{item[0]} ({item[1]})" if isinstance(item, list) and len(item) == 2 else _stored(item)
            for item in value
        )
    return shown_value(value)


def stale_notes(exc: StaleVersionError) -> dict[str, StaleNote]:
    """{field: note} for every field changed since the version the form was opened at."""
    return {
        change.field: StaleNote(
            _stored(change.value),
            change.changed_by or "someone",
            change.changed_at.strftime("%Y-%m-%d %H:%M UTC") if change.changed_at else "",
        )
        for change in exc.changes
    }
