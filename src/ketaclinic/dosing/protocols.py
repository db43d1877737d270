"""Protocols as values: drug, context, schedule, dosing blocks, titration rules, each number sourced.

They are read from files by `ketaclinic.dosing.protocol_files` (data/protocols/<id>.toml and a
clinic's own directory; the format is documented in docs/protocols.md).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from ketaclinic.data import Status
from ketaclinic.errors import DataFileError

SideEffectAction = Literal["hold", "decrease"]
# A block's numbers the physician may choose when they carry a published range (min and max).
CHOOSABLE_BLOCK_KEYS = ("dose_mg", "dose_mg_kg", "rate_mg_h", "rate_mg_kg_h", "duration_min")


@dataclass(frozen=True, slots=True)
class Param:
    """One protocol number with its provenance; `published_range` when the physician chooses it."""

    value: float
    source: str
    status: Status
    published_range: tuple[float, float] | None = None

    def to_json_dict(self) -> dict[str, object]:
        """Plain JSON values."""
        out: dict[str, object] = {"value": self.value, "source": self.source, "status": self.status.value}
        if self.published_range is not None:
            out["min"], out["max"] = self.published_range
        return out


@dataclass(frozen=True, slots=True)
class Premedication:
    """A co-medication given before the infusion, as the protocol's source describes it."""

    drug: str
    dose_mg: float
    route: str
    doses: int
    timing: str
    source: str
    status: Status


@dataclass(frozen=True, slots=True)
class Titration:
    """Stepwise titration: from a start rate, one step every interval while pain stays above a threshold.

    A limiting side effect holds or lowers the rate by one step (never below the start rate).
    Rates are per kg or absolute; both caps apply when both are given.
    """

    interval_min: Param
    increase_if_nrs_above: Param
    on_limiting_side_effect: SideEffectAction
    start_rate_mg_h: Param | None = None
    start_rate_mg_kg_h: Param | None = None
    step_mg_h: Param | None = None
    step_mg_kg_h: Param | None = None
    max_rate_mg_h: Param | None = None
    max_rate_mg_kg_h: Param | None = None

    @property
    def weight_based(self) -> bool:
        """True when any rate is given per kg."""
        return any(p is not None for p in (self.start_rate_mg_kg_h, self.step_mg_kg_h, self.max_rate_mg_kg_h))


@dataclass(frozen=True, slots=True)
class DosingBlock:
    """How sessions first..last (last None = to the end) are dosed: a fixed dose or rate, or a titration."""

    first_session: int
    last_session: int | None
    label: str
    duration_min: Param
    dose_mg: Param | None = None
    dose_mg_kg: Param | None = None
    rate_mg_h: Param | None = None
    rate_mg_kg_h: Param | None = None
    max_rate_mg_h: Param | None = None
    titration: Titration | None = None

    def applies_to(self, session_number: int) -> bool:
        """True when this block doses session `session_number` (1-based)."""
        return self.first_session <= session_number and (
            self.last_session is None or session_number <= self.last_session
        )


@dataclass(frozen=True, slots=True)
class Schedule:
    """Number of sessions in the series and days between session starts."""

    sessions: Param
    interval_days: Param

    @property
    def session_count(self) -> int:
        """Sessions as an integer."""
        return int(self.sessions.value)


@dataclass(frozen=True, slots=True)
class Protocol:
    """A protocol of the library, loaded from its TOML file."""

    id: str
    name: str
    drug: str
    context: str
    setting: str
    observation_cadence: str
    citation: str
    status: Status
    schedule: Schedule
    dosing: tuple[DosingBlock, ...]
    premedication: tuple[Premedication, ...] = ()
    notes: str = ""
    path: str = ""

    def block_for(self, session_number: int) -> DosingBlock:
        """The dosing block of session `session_number` (1-based)."""
        for block in self.dosing:
            if block.applies_to(session_number):
                return block
        raise DataFileError(f"{self.path}: no dosing block covers session {session_number}")

    @property
    def titrated(self) -> bool:
        """True when any session follows titration rules."""
        return any(block.titration is not None for block in self.dosing)

    def numbers(self) -> tuple[tuple[str, str, Param], ...]:
        """Every number with its file path and readable name (`dosing[0].dose_mg`, `test dose dose_mg`)."""
        found = _params("schedule", "", self.schedule)
        for i, block in enumerate(self.dosing):
            found += _params(f"dosing[{i}]", f"{block.label} ", block)
            if block.titration is not None:
                found += _params(f"dosing[{i}].titration", f"{block.label} titration ", block.titration)
        return found

    def status_by_field(self) -> dict[str, list[str]]:
        """The protocol's numbers grouped by status (its parts can differ from the protocol's status)."""
        grouped: dict[str, list[str]] = {}
        for _, name, param in self.numbers():
            grouped.setdefault(param.status.value, []).append(name)
        return grouped

    def to_json_dict(self) -> dict[str, Any]:
        """A summary for listings."""
        return {
            "id": self.id,
            "name": self.name,
            "drug": self.drug,
            "context": self.context,
            "setting": self.setting,
            "observation_cadence": self.observation_cadence,
            "citation": self.citation,
            "status": self.status.value,
            "status_by_field": {path: param.status.value for path, _, param in self.numbers()},
            "sessions": self.schedule.session_count,
            "interval_days": self.schedule.interval_days.value,
            "titrated": self.titrated,
            "premedication": [p.drug for p in self.premedication],
            "notes": self.notes,
        }


def _params(path: str, name: str, value: object) -> tuple[tuple[str, str, Param], ...]:
    return tuple(
        (f"{path}.{f.name}", f"{name}{f.name}", p)
        for f in fields(value)  # type: ignore[arg-type]  # every caller passes a dataclass
        if isinstance(p := getattr(value, f.name), Param)
    )
