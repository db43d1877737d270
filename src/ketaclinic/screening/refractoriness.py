"""Refractoriness per diagnosis group: which prior treatments must have failed (local policy, as data)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict

from ketaclinic.data import Status, load_toml, parse_status
from ketaclinic.errors import DataFileError
from ketaclinic.screening.diagnoses import PriorTreatmentOutcome, list_diagnoses

REFRACTORINESS_FILE = "refractoriness.toml"


class MissingPrerequisite(BaseModel):
    """A prior-treatment requirement the intake does not document."""

    model_config = ConfigDict(frozen=True)

    code: str
    group: str
    line: str
    text: str
    any_of: list[str]
    rationale: str
    source: str
    status: Status


@dataclass(frozen=True, slots=True)
class Requirement:
    """At least one of `any_of` (canonical treatment names) must have failed or been intolerable."""

    line: str
    label: str
    any_of: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GroupRequirements:
    """The requirements of one diagnosis group, with why the clinic holds them."""

    group: str
    rationale: str
    requirements: tuple[Requirement, ...]
    source: str
    status: Status


def normalise_treatment(name: str) -> str:
    """Lower-case, drop parentheses, keep letters and digits: "Tegretol (XR) 200mg" -> "tegretol 200mg"."""
    text = re.sub(r"\([^)]*\)", " ", name.casefold())
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())


@dataclass(frozen=True, slots=True)
class RefractorinessRules:
    """The treatment vocabulary and per-group requirements."""

    synonyms: Mapping[str, str]  # normalised synonym -> canonical name
    groups: Mapping[str, GroupRequirements]
    counting_outcomes: frozenset[PriorTreatmentOutcome]
    source: str

    def canonical_treatment(self, name: str) -> str | None:
        """The canonical treatment a free-text name refers to, or None when not in the vocabulary."""
        text = normalise_treatment(name)
        # Longest synonym first so "gabapentin enacarbil" is not read as something shorter.
        for synonym in sorted(self.synonyms, key=len, reverse=True):
            if text == synonym or text.startswith(synonym + " "):
                return self.synonyms[synonym]
        return None

    def tried(self, prior_treatments: Iterable[tuple[str, PriorTreatmentOutcome]]) -> frozenset[str]:
        """Canonical names of the treatments whose outcome counts towards refractoriness."""
        found = set()
        for name, outcome in prior_treatments:
            canonical = self.canonical_treatment(name)
            if canonical is not None and outcome in self.counting_outcomes:
                found.add(canonical)
        return frozenset(found)

    def missing(
        self, group: str, prior_treatments: Iterable[tuple[str, PriorTreatmentOutcome]]
    ) -> list[MissingPrerequisite]:
        """The requirements of `group` that the prior treatments do not meet."""
        entry = self.groups[group]
        tried = self.tried(prior_treatments)
        outcomes = ", ".join(sorted(o.value for o in self.counting_outcomes))
        return [
            MissingPrerequisite(
                code=f"refractoriness.{group}.{req.line}_line.{index}",
                group=group,
                line=req.line,
                text=f"{req.line}-line trial of {req.label} ({outcomes}) not documented",
                any_of=list(req.any_of),
                rationale=entry.rationale,
                source=entry.source,
                status=entry.status,
            )
            for index, req in enumerate(entry.requirements, start=1)
            if not tried.intersection(req.any_of)
        ]

    def with_override(self, data: Mapping[str, Any], where: str) -> RefractorinessRules:
        """Add treatments and replace whole group entries from a clinic override file."""
        synonyms = dict(self.synonyms) | _synonyms(data.get("treatment", []), where)
        groups = dict(self.groups)
        for i, row in enumerate(data.get("refractoriness", [])):
            entry = _group(row, f"{where} refractoriness[{i}]", default_source=f"Clinic policy ({where})")
            groups[entry.group] = entry
        return _checked(synonyms, groups, self.counting_outcomes, self.source, where)


def _synonyms(rows: Sequence[Mapping[str, Any]], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, row in enumerate(rows):
        name = row.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DataFileError(f"{where} treatment[{i}]: `name` must be a non-empty string")
        canonical = normalise_treatment(name)
        for synonym in [name, *row.get("synonyms", [])]:
            out[normalise_treatment(str(synonym))] = canonical
    return out


def _group(row: Mapping[str, Any], where: str, *, default_source: str) -> GroupRequirements:
    group = row.get("group")
    rationale = row.get("rationale")
    if not isinstance(group, str) or not isinstance(rationale, str) or not rationale.strip():
        raise DataFileError(f"{where}: `group` and `rationale` are required strings")
    requirements = []
    for j, req in enumerate(row.get("requirement", [])):
        any_of = req.get("any_of")
        if not isinstance(any_of, list) or not any_of or not isinstance(req.get("line"), str):
            raise DataFileError(f"{where} requirement[{j}]: needs `line` and a non-empty `any_of` list")
        names = tuple(normalise_treatment(str(t)) for t in any_of)
        requirements.append(
            Requirement(line=req["line"], label=str(req.get("label", " or ".join(names))), any_of=names)
        )
    status = parse_status(row.get("status", Status.LOCAL_POLICY.value), where)
    if status is not Status.LOCAL_POLICY:
        raise DataFileError(f"{where}: refractoriness entries are local policy (no guideline gives them)")
    return GroupRequirements(
        group=group,
        rationale=rationale,
        requirements=tuple(requirements),
        source=str(row.get("source", default_source)),
        status=status,
    )


def _checked(
    synonyms: dict[str, str],
    groups: dict[str, GroupRequirements],
    counting: frozenset[PriorTreatmentOutcome],
    source: str,
    where: str,
) -> RefractorinessRules:
    """Every diagnosis group covered, every named treatment in the vocabulary."""
    known_groups = {d.group for d in list_diagnoses()}
    missing = sorted(known_groups - set(groups))
    if missing:
        raise DataFileError(f"{where}: no refractoriness entry for diagnosis groups {missing}")
    unknown_groups = sorted(set(groups) - known_groups)
    if unknown_groups:
        raise DataFileError(f"{where}: unknown diagnosis groups {unknown_groups}")
    canonical = set(synonyms.values())
    for entry in groups.values():
        for req in entry.requirements:
            unknown = [t for t in req.any_of if t not in canonical]
            if unknown:
                raise DataFileError(
                    f"{where} {entry.group}: treatments {unknown} not in the [[treatment]] list"
                )
    return RefractorinessRules(
        synonyms=MappingProxyType(synonyms),
        groups=MappingProxyType(groups),
        counting_outcomes=counting,
        source=source,
    )


@cache
def load_refractoriness() -> RefractorinessRules:
    """The shipped refractoriness rules (refractoriness.toml)."""
    data = load_toml(REFRACTORINESS_FILE)
    source = str(data.get("source", ""))
    if not source:
        raise DataFileError(f"{REFRACTORINESS_FILE}: `source` is required")
    parse_status(data.get("status"), REFRACTORINESS_FILE)
    try:
        counting = frozenset(PriorTreatmentOutcome(o) for o in data["counting_outcomes"])
    except (KeyError, ValueError) as exc:
        raise DataFileError(f"{REFRACTORINESS_FILE}: bad `counting_outcomes` ({exc})") from None
    groups = {}
    for i, row in enumerate(data.get("refractoriness", [])):
        entry = _group(row, f"{REFRACTORINESS_FILE} refractoriness[{i}]", default_source=source)
        groups[entry.group] = entry
    return _checked(
        _synonyms(data.get("treatment", []), REFRACTORINESS_FILE),
        groups,
        counting,
        source,
        REFRACTORINESS_FILE,
    )
