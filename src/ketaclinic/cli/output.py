"""How every command answers: JSON on stdout where asked, one line on stderr and exit 2 on bad input."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from enum import Enum
from typing import Any, NoReturn

import pydantic
import typer

from ketaclinic.errors import KNOWN_ERRORS

EXIT_BAD_INPUT = 2


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if hasattr(value, "tolist"):  # NumPy arrays and scalars
        return value.tolist()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _null(_constant: str) -> None:
    return None


def emit_json(payload: Any) -> None:
    """Print `payload` as JSON (NumPy, dates and enums understood; NaN and infinities as null)."""
    text = json.dumps(payload, default=_default)
    # NaN/inf are not valid JSON: the parser turns their tokens into null as it reads them back.
    sys.stdout.write(json.dumps(json.loads(text, parse_constant=_null), indent=2) + "\n")


def answer(payload: Any, as_json: bool, lines: Iterable[str]) -> None:
    """Print `payload` as JSON where asked, else the `lines` a person reads."""
    if as_json:
        emit_json(payload)
        return
    for line in lines:
        typer.echo(line)


def fail(message: str) -> NoReturn:
    """Print one line on stderr and exit 2."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(EXIT_BAD_INPUT)


def describe_validation_error(exc: pydantic.ValidationError) -> str:
    """One line naming the first offending field."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "input"
    return f"{where}: {first.get('msg', 'invalid')}"


@contextmanager
def fail_on_bad_input() -> Iterator[None]:
    """Turn every error of the edges' table (ketaclinic.errors.ANSWERS) into exit 2 with one line."""
    try:
        yield
    except pydantic.ValidationError as exc:
        fail(describe_validation_error(exc))
    except KNOWN_ERRORS as exc:
        fail(str(exc))
