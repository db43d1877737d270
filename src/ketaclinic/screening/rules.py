"""The screening rules as data (screening_rules.toml), with clinic overrides of the local-policy values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from ketaclinic.data import Status, load_toml, load_toml_path, parse_status
from ketaclinic.errors import DataFileError
from ketaclinic.screening.datafields import cited_source, required_str
from ketaclinic.screening.refractoriness import RefractorinessRules, load_refractoriness

RULES_FILE = "screening_rules.toml"
SCORE_INSTRUMENTS = ("phq9", "gad7", "audit_c", "dast10")


class Severity(StrEnum):
    """How a reason weighs on the verdict."""

    INFO = "info"
    REVIEW = "review"
    PRECAUTION = "precaution"
    PREREQUISITE = "prerequisite"
    CONTRAINDICATION = "contraindication"


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: when it applies the intake gets this reason."""

    code: str
    label: str
    severity: Severity
    text: str
    source: str
    grade: str
    status: Status


@dataclass(frozen=True, slots=True)
class BloodPressureThreshold:
    """Intake blood pressure over which the patient is not eligible until controlled (local policy)."""

    code: str
    systolic_mmhg: int
    diastolic_mmhg: int
    severity: Severity
    source: str
    status: Status


@dataclass(frozen=True, slots=True)
class ScoreReview:
    """A questionnaire score at or above `threshold` flags psychiatric review (local policy)."""

    instrument: str
    threshold: int
    code: str
    text: str
    source: str
    status: Status


@dataclass(frozen=True, slots=True)
class RequiredTestRule:
    """A pre-infusion test and what calls for it."""

    code: str
    label: str
    when_conditions: tuple[str, ...]
    when_bp_over_threshold: bool
    when_high_frequent_dosing: bool
    source: str
    status: Status


@dataclass(frozen=True, slots=True)
class ScreeningRules:
    """Everything `evaluate` applies; build with `load_rules`."""

    version: str
    conditions: Mapping[str, Rule]
    flag_rules: Mapping[str, Rule]
    blood_pressure: BloodPressureThreshold
    score_reviews: tuple[ScoreReview, ...]
    required_tests: tuple[RequiredTestRule, ...]
    refractoriness: RefractorinessRules
    overridden_by: str | None = None


def _int(row: Mapping[str, Any], key: str, where: str) -> int:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataFileError(f"{where}: `{key}` must be an integer")
    return value


def _severity(row: Mapping[str, Any], where: str) -> Severity:
    try:
        return Severity(str(row.get("severity")))
    except ValueError:
        raise DataFileError(f"{where}: unknown severity {row.get('severity')!r}") from None


def _rule(row: Mapping[str, Any], sources: Mapping[str, str], where: str, *, label_key: str) -> Rule:
    return Rule(
        code=required_str(row, "code", where),
        label=required_str(row, label_key, where),
        severity=_severity(row, where),
        text=required_str(row, "text", where),
        source=cited_source(row, sources, where),
        grade=required_str(row, "grade", where),
        status=parse_status(row.get("status"), where),
    )


def _blood_pressure(row: Mapping[str, Any], where: str) -> BloodPressureThreshold:
    return BloodPressureThreshold(
        code=required_str(row, "code", where),
        systolic_mmhg=_int(row, "systolic_mmhg", where),
        diastolic_mmhg=_int(row, "diastolic_mmhg", where),
        severity=_severity(row, where),
        source=required_str(row, "source", where),
        status=parse_status(row.get("status"), where),
    )


def _score_review(row: Mapping[str, Any], where: str) -> ScoreReview:
    instrument = required_str(row, "instrument", where)
    if instrument not in SCORE_INSTRUMENTS:
        raise DataFileError(
            f"{where}: instrument {instrument!r} is not one of {', '.join(SCORE_INSTRUMENTS)}"
        )
    low, high = intake_range(instrument)
    threshold = _int(row, "threshold", where)
    if not low <= threshold <= high:
        raise DataFileError(f"{where}: threshold {threshold} outside the {instrument} range {low}-{high}")
    return ScoreReview(
        instrument=instrument,
        threshold=threshold,
        code=row.get("code", f"{instrument}_psychiatric_review"),
        text=row.get(
            "text", f"{instrument} at or above the clinic threshold: psychiatric review before infusion."
        ),
        source=required_str(row, "source", where),
        status=parse_status(row.get("status"), where),
    )


def _required_test(row: Mapping[str, Any], sources: Mapping[str, str], where: str) -> RequiredTestRule:
    conditions = tuple(row.get("when_conditions", ()))
    unknown = [c for c in conditions if c not in CONDITION_CODES]
    if unknown:
        raise DataFileError(f"{where}: unknown condition codes {unknown}")
    return RequiredTestRule(
        code=required_str(row, "code", where),
        label=required_str(row, "label", where),
        when_conditions=conditions,
        when_bp_over_threshold=bool(row.get("when_bp_over_threshold", False)),
        when_high_frequent_dosing=bool(row.get("when_high_frequent_dosing", False)),
        source=cited_source(row, sources, where),
        status=parse_status(row.get("status"), where),
    )


@cache
def _shipped() -> dict[str, Any]:
    return load_toml(RULES_FILE)


def intake_range(name: str) -> tuple[int, int]:
    """The shipped plausibility range (inclusive) of an intake field, e.g. `phq9` -> (0, 27)."""
    bounds = _shipped()["intake_ranges"].get(name)
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise DataFileError(f"{RULES_FILE} [intake_ranges]: `{name}` must be [low, high]")
    return int(bounds[0]), int(bounds[1])


def _conditions_from(data: Mapping[str, Any]) -> dict[str, Rule]:
    sources = data.get("sources", {})
    rules: dict[str, Rule] = {}
    for i, row in enumerate(data.get("condition", [])):
        rule = _rule(row, sources, f"{RULES_FILE} condition[{i}]", label_key="label")
        if rule.code in rules:
            raise DataFileError(f"{RULES_FILE}: condition {rule.code!r} listed twice")
        rules[rule.code] = rule
    return rules


CONDITION_CODES: Mapping[str, str] = MappingProxyType(
    {code: rule.label for code, rule in _conditions_from(_shipped()).items()}
)
"""Every condition code accepted in `Intake.conditions`, with its label."""


_Local = TypeVar("_Local", BloodPressureThreshold, ScoreReview)


def _apply_override(rules: ScreeningRules, path: Path) -> ScreeningRules:
    """Replace local-policy values with a clinic's; anything else in the file is an error."""
    data = load_toml_path(path)
    allowed = {"blood_pressure_threshold", "score_review", "refractoriness", "treatment"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise DataFileError(
            f"{path}: cannot override {', '.join(unknown)} "
            f"(only the local-policy tables {', '.join(sorted(allowed))})"
        )
    result = rules
    if "blood_pressure_threshold" in data:
        where = f"{path} [blood_pressure_threshold]"
        merged = {
            "code": rules.blood_pressure.code,
            "severity": rules.blood_pressure.severity.value,
            "systolic_mmhg": rules.blood_pressure.systolic_mmhg,
            "diastolic_mmhg": rules.blood_pressure.diastolic_mmhg,
            "status": Status.LOCAL_POLICY.value,
        } | data["blood_pressure_threshold"]
        if "source" not in data["blood_pressure_threshold"]:
            raise DataFileError(f"{where}: `source` is required (name the clinic policy)")
        result = replace(result, blood_pressure=_local(_blood_pressure(merged, where), where))
    if "score_review" in data:
        reviews = {r.instrument: r for r in result.score_reviews}
        for i, row in enumerate(data["score_review"]):
            where = f"{path} score_review[{i}]"
            review = _local(_score_review({"status": Status.LOCAL_POLICY.value} | row, where), where)
            reviews[review.instrument] = review
        result = replace(result, score_reviews=tuple(reviews.values()))
    if "refractoriness" in data or "treatment" in data:
        override: dict[str, Any] = {k: data[k] for k in ("refractoriness", "treatment") if k in data}
        result = replace(result, refractoriness=result.refractoriness.with_override(override, str(path)))
    return replace(result, overridden_by=str(path))


def _local(value: _Local, where: str) -> _Local:
    if value.status is not Status.LOCAL_POLICY:
        raise DataFileError(f"{where}: a clinic override must have status local-policy")
    return value


@cache
def _load_shipped() -> ScreeningRules:
    data = _shipped()
    sources = data.get("sources", {})
    flags: dict[str, Rule] = {}
    for i, row in enumerate(data.get("flag_rule", [])):
        where = f"{RULES_FILE} flag_rule[{i}]"
        field = required_str(row, "field", where)
        if field not in ("pregnant", "breastfeeding"):
            raise DataFileError(f"{where}: field {field!r} is not a yes/no intake field")
        flags[field] = _rule(row, sources, where, label_key="code")
    return ScreeningRules(
        version=required_str(data, "version", RULES_FILE),
        conditions=MappingProxyType(_conditions_from(data)),
        flag_rules=MappingProxyType(flags),
        blood_pressure=_blood_pressure(
            data["blood_pressure_threshold"], f"{RULES_FILE} [blood_pressure_threshold]"
        ),
        score_reviews=tuple(
            _score_review(row, f"{RULES_FILE} score_review[{i}]")
            for i, row in enumerate(data.get("score_review", []))
        ),
        required_tests=tuple(
            _required_test(row, sources, f"{RULES_FILE} required_test[{i}]")
            for i, row in enumerate(data.get("required_test", []))
        ),
        refractoriness=load_refractoriness(),
    )


def load_rules(override_path: Path | None = None) -> ScreeningRules:
    """The shipped rules, with a clinic's local-policy overrides (TOML) applied when given."""
    rules = _load_shipped()
    return rules if override_path is None else _apply_override(rules, override_path)
