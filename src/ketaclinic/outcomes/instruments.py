"""Patient-reported outcome instruments (pain NRS, PGIC, BPI short form, PHQ-9, GAD-7) and their scoring."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from ketaclinic.data import Status, load_toml, parse_status
from ketaclinic.errors import DataFileError, InputError

_FILE = "instruments.toml"


@dataclass(frozen=True, slots=True)
class Band:
    """A severity band of a summed questionnaire score (inclusive limits)."""

    name: str
    min: int
    max: int


@dataclass(frozen=True, slots=True)
class Questionnaire:
    """A summed questionnaire (PHQ-9, GAD-7): item count, item range, bands, code and source."""

    id: str
    label: str
    loinc: str
    items: int
    item_min: int
    item_max: int
    bands: tuple[Band, ...]
    source: str
    status: Status

    @property
    def max_total(self) -> int:
        """Highest possible total score."""
        return self.items * self.item_max


@dataclass(frozen=True, slots=True)
class QuestionnaireScore:
    """Total score of a questionnaire with its severity band."""

    instrument: str
    loinc: str
    total: int
    band: str


@dataclass(frozen=True, slots=True)
class NrsRating:
    """One pain NRS rating (0-10) with what it rates (now/average/worst/least) and its recall period."""

    value: float
    kind: str
    recall: str
    loinc: str


@dataclass(frozen=True, slots=True)
class PgicScore:
    """A PGIC answer: level 1 (very much improved) .. 7 (very much worse)."""

    level: int
    label: str
    improved: bool


@dataclass(frozen=True, slots=True)
class BpiScore:
    """BPI short form: severity (mean of 4 items), interference (mean of answered items; None if too few)."""

    severity: float | None
    interference: float | None
    interference_items_answered: int


@cache
def _instruments() -> dict[str, Any]:
    return load_toml(_FILE)


def _section(name: str) -> dict[str, Any]:
    try:
        section: dict[str, Any] = _instruments()[name]
    except KeyError:
        raise DataFileError(f"{_FILE}: missing [{name}]") from None
    return section


@cache
def get_questionnaire(instrument_id: str) -> Questionnaire:
    """The questionnaire definition `phq9` or `gad7`."""
    if instrument_id not in ("phq9", "gad7"):
        raise InputError(f"unknown questionnaire {instrument_id!r} (phq9, gad7)", field="instrument")
    row = _section(instrument_id)
    bands = tuple(Band(b["name"], int(b["min"]), int(b["max"])) for b in row["band"])
    questionnaire = Questionnaire(
        id=instrument_id,
        label=row["label"],
        loinc=row["loinc"],
        items=int(row["items"]),
        item_min=int(row["item_min"]),
        item_max=int(row["item_max"]),
        bands=bands,
        source=row["source"],
        status=parse_status(row["status"], f"{_FILE} [{instrument_id}]"),
    )
    covered = [v for b in bands for v in range(b.min, b.max + 1)]
    if covered != list(range(0, questionnaire.max_total + 1)):
        raise DataFileError(f"{_FILE} [{instrument_id}]: bands must cover 0-{questionnaire.max_total} once")
    return questionnaire


def _check_item(value: object, lo: float, hi: float, field: str, *, integer: bool) -> float:
    """Validate one item answer, naming the item in the error."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{value!r} is not a number", field=field)
    if not math.isfinite(value):
        raise InputError(f"{value} is not a finite number", field=field)
    if integer and value != int(value):
        raise InputError(f"{value} is not a whole number", field=field)
    if not lo <= value <= hi:
        raise InputError(f"{value:g} is outside {lo:g}-{hi:g}", field=field)
    return float(value)


def score_questionnaire(instrument_id: str, items: Sequence[int]) -> QuestionnaireScore:
    """Sum a PHQ-9 or GAD-7 (every item required) and name its severity band."""
    q = get_questionnaire(instrument_id)
    if len(items) != q.items:
        raise InputError(f"{q.id} needs {q.items} item answers, got {len(items)}", field=q.id)
    total = 0
    for number, value in enumerate(items, start=1):
        field = f"{q.id}.item{number}"
        total += int(_check_item(value, q.item_min, q.item_max, field, integer=True))
    band = next(b.name for b in q.bands if b.min <= total <= b.max)
    return QuestionnaireScore(instrument=q.id, loinc=q.loinc, total=total, band=band)


def score_phq9(items: Sequence[int]) -> QuestionnaireScore:
    """PHQ-9 total (0-27, LOINC 44261-6) with severity band."""
    return score_questionnaire("phq9", items)


def score_gad7(items: Sequence[int]) -> QuestionnaireScore:
    """GAD-7 total (0-21, LOINC 70274-6) with severity band."""
    return score_questionnaire("gad7", items)


def nrs_rating(value: float, *, kind: str = "now", recall: str = "24h") -> NrsRating:
    """A validated pain NRS rating (0-10); `kind` now/average/worst/least, `recall` now/24h/7d."""
    nrs = _section("nrs")
    if kind not in nrs["kinds"]:
        raise InputError(f"{kind!r} is not one of {', '.join(nrs['kinds'])}", field="nrs.kind")
    if recall not in nrs["recall_periods"]:
        raise InputError(f"{recall!r} is not one of {', '.join(nrs['recall_periods'])}", field="nrs.recall")
    checked = _check_item(value, nrs["min"], nrs["max"], f"nrs.{kind}", integer=False)
    return NrsRating(value=checked, kind=kind, recall=recall, loinc=nrs["loinc"])


def score_pgic(level: int) -> PgicScore:
    """PGIC level with its anchor label; `improved` for the much / very much improved anchors."""
    pgic = _section("pgic")
    checked = int(_check_item(level, pgic["min"], pgic["max"], "pgic", integer=True))
    return PgicScore(
        level=checked,
        label=pgic["levels"][checked - pgic["min"]],
        improved=checked in pgic["improved_levels"],
    )


def _mean_of(answers: Mapping[str, float | None], names: Sequence[str], prefix: str) -> list[float]:
    unknown = sorted(set(answers) - set(names))
    if unknown:
        raise InputError(f"unknown item {unknown[0]!r} (expected {', '.join(names)})", field=prefix)
    bpi = _section("bpi")
    return [
        _check_item(answers[name], bpi["min"], bpi["max"], f"{prefix}.{name}", integer=False)
        for name in names
        if answers.get(name) is not None
    ]


def score_bpi(severity: Mapping[str, float | None], interference: Mapping[str, float | None]) -> BpiScore:
    """BPI short form: severity needs all 4 items; interference needs at least 4 of 7 answered."""
    bpi = _section("bpi")
    sev = _mean_of(severity, bpi["severity_items"], "bpi.severity")
    inter = _mean_of(interference, bpi["interference_items"], "bpi.interference")
    return BpiScore(
        severity=sum(sev) / len(sev) if len(sev) == len(bpi["severity_items"]) else None,
        interference=sum(inter) / len(inter) if len(inter) >= int(bpi["min_interference_items"]) else None,
        interference_items_answered=len(inter),
    )


def instrument_sources() -> dict[str, dict[str, str]]:
    """Label, code, source and status of every instrument, for reports."""
    out: dict[str, dict[str, str]] = {}
    for name, row in _instruments().items():
        out[name] = {
            "label": row["label"],
            "loinc": row.get("loinc", ""),
            "source": row["source"],
            "status": parse_status(row["status"], f"{_FILE} [{name}]").value,
        }
    return out
