"""REDCap files: a data dictionary in REDCap's 18-column format and records whose columns are its fields."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

# The data dictionary's columns, exactly as REDCap writes and reads them.
DICTIONARY_COLUMNS = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
# The columns REDCap adds to a record export of repeating instruments (a classic project).
REPEAT_COLUMNS = ("redcap_repeat_instrument", "redcap_repeat_instance")

FieldType = Literal["text", "notes", "dropdown", "radio", "yesno"]
Validation = Literal["", "date_ymd", "number", "integer"]
# REDCap's variable names: lower case letters, digits and underscores, starting with a letter.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
# Raw choice codes: letters, digits and underscores (a diagnosis code's dot becomes an underscore).
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True, slots=True)
class Field:
    """One REDCap field of one form (instrument)."""

    name: str
    form: str
    field_type: FieldType
    label: str
    choices: tuple[tuple[str, str], ...] = ()
    validation: Validation = ""
    minimum: str = ""
    maximum: str = ""
    identifier: bool = False
    required: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise ValueError(f"{self.name!r} is not a REDCap variable name")
        if self.field_type in ("dropdown", "radio") and not self.choices:
            raise ValueError(f"{self.name}: a {self.field_type} field needs choices")
        for code, _label in self.choices:
            if not CODE_PATTERN.match(code):
                raise ValueError(f"{self.name}: {code!r} is not a REDCap choice code")

    def row(self) -> list[str]:
        """The field's data dictionary row."""
        choices = " | ".join(f"{code}, {label}" for code, label in self.choices)
        return [
            self.name,
            self.form,
            "",
            self.field_type,
            self.label,
            choices,
            self.note,
            self.validation,
            self.minimum,
            self.maximum,
            "y" if self.identifier else "",
            "",
            "y" if self.required else "",
            "",
            "",
            "",
            "",
            "",
        ]


def choice_code(value: str) -> str:
    """A value as a REDCap choice code (`G50.0` -> `G50_0`).

    >>> choice_code("G90.511")
    'G90_511'
    """
    return re.sub(r"[^A-Za-z0-9_]", "_", value)


def dictionary_csv(fields: Sequence[Field]) -> str:
    """The data dictionary as CSV text (the record id field first, as REDCap requires)."""
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise ValueError("REDCap field names must be unique")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(DICTIONARY_COLUMNS)
    writer.writerows(f.row() for f in fields)
    return buffer.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def records_csv(fields: Sequence[Field], rows: Iterable[Mapping[str, object]], *, repeating: bool) -> str:
    """Records as CSV text: the dictionary's fields in its order (the repeat columns after the record id).

    A row's keys must be fields of the dictionary (or the repeat columns); missing ones stay empty.
    """
    names = [f.name for f in fields]
    columns = [names[0], *REPEAT_COLUMNS, *names[1:]] if repeating else names
    known = set(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        unknown = set(row) - known
        if unknown:
            raise ValueError(f"not fields of the dictionary: {', '.join(sorted(unknown))}")
        writer.writerow([_cell(row.get(column)) for column in columns])
    return buffer.getvalue()
