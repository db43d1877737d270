"""Published evidence per diagnosis group (evidence.toml), with the clinic's own response rate beside it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from ketaclinic.data import Status, load_toml, parse_status
from ketaclinic.errors import DataFileError, InputError
from ketaclinic.screening.datafields import cited_source, required_str
from ketaclinic.screening.diagnoses import get_diagnosis, list_diagnoses

EVIDENCE_FILE = "evidence.toml"


class ClinicRate(BaseModel):
    """The clinic's own outcomes for one diagnosis group: `responders` of `n` treated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = Field(ge=0, strict=True)
    responders: int = Field(ge=0, strict=True)

    @model_validator(mode="after")
    def _responders_within_n(self) -> ClinicRate:
        if self.responders > self.n:
            raise InputError(f"{self.responders} responders out of {self.n} patients", field="responders")
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float | None:
        """Responder proportion; None when the clinic has treated nobody in the group."""
        return self.responders / self.n if self.n else None


class Finding(BaseModel):
    """A study's finding about one diagnosis group."""

    model_config = ConfigDict(frozen=True)

    text: str
    direction: str
    source: str
    status: Status


class PublishedCohort(BaseModel):
    """A published whole-cohort responder rate."""

    model_config = ConfigDict(frozen=True)

    study: str
    n: int
    responders: int
    definition: str
    source: str
    status: Status

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float:
        """Responder proportion, e.g. 23/45 = 0.511."""
        return self.responders / self.n


class GroupEvidence(BaseModel):
    """Evidence for one diagnosis group: guideline grade, study findings, clinic rate when known."""

    model_config = ConfigDict(frozen=True)

    group: str
    diagnoses: list[str]
    grade: str
    summary: str
    source: str
    status: Status
    findings: list[Finding]
    notes: list[Finding]
    clinic_rate: ClinicRate | None = None


class EvidenceSummary(BaseModel):
    """What is known about IV ketamine for this patient's diagnoses."""

    model_config = ConfigDict(frozen=True)

    groups: list[GroupEvidence]
    published_cohorts: list[PublishedCohort]


def _finding(
    row: Mapping[str, Any], sources: Mapping[str, str], where: str, *, direction: str = ""
) -> Finding:
    return Finding(
        text=required_str(row, "text", where),
        direction=str(row.get("direction", direction)),
        source=cited_source(row, sources, where),
        status=parse_status(row.get("status"), where),
    )


@cache
def _load() -> tuple[dict[str, dict[str, Any]], tuple[Finding, frozenset[str]], tuple[PublishedCohort, ...]]:
    data = load_toml(EVIDENCE_FILE)
    sources = data.get("sources", {})
    groups: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(data.get("group", [])):
        where = f"{EVIDENCE_FILE} group[{i}]"
        groups[required_str(row, "group", where)] = {
            "grade": required_str(row, "grade", where),
            "summary": required_str(row, "summary", where),
            "source": cited_source(row, sources, where),
            "status": parse_status(row.get("status"), where),
            "findings": [_finding(f, sources, f"{where} finding") for f in row.get("finding", [])],
        }
    missing = sorted({d.group for d in list_diagnoses()} - set(groups))
    if missing:
        raise DataFileError(f"{EVIDENCE_FILE}: no evidence entry for diagnosis groups {missing}")
    note_row = data["non_crps_note"]
    note = _finding(note_row, sources, f"{EVIDENCE_FILE} [non_crps_note]", direction="no_long_term_benefit")
    note_except = frozenset(note_row.get("except_groups", ()))
    cohorts = tuple(
        PublishedCohort(
            study=required_str(row, "study", f"{EVIDENCE_FILE} cohort[{i}]"),
            n=int(row["n"]),
            responders=int(row["responders"]),
            definition=required_str(row, "definition", f"{EVIDENCE_FILE} cohort[{i}]"),
            source=cited_source(row, sources, f"{EVIDENCE_FILE} cohort[{i}]"),
            status=parse_status(row.get("status"), f"{EVIDENCE_FILE} cohort[{i}]"),
        )
        for i, row in enumerate(data.get("cohort", []))
    )
    return groups, (note, note_except), cohorts


def _checked_rates(clinic_rates: Mapping[str, ClinicRate] | None) -> dict[str, ClinicRate]:
    if clinic_rates is None:
        return {}
    known = {d.group for d in list_diagnoses()}
    for group, rate in clinic_rates.items():
        if group not in known:
            raise InputError(f"unknown diagnosis group {group!r}", field=f"clinic_rates.{group}")
        if not isinstance(rate, ClinicRate):
            raise InputError("expected a ClinicRate (n, responders)", field=f"clinic_rates.{group}")
    return dict(clinic_rates)


def evidence_for(
    diagnosis_codes: Iterable[str], clinic_rates: Mapping[str, ClinicRate] | None = None
) -> EvidenceSummary:
    """Evidence per diagnosis group of these ICD-10-CM codes, in first-seen order; clinic rates by group."""
    groups, (note, note_except), cohorts = _load()
    rates = _checked_rates(clinic_rates)
    codes_by_group: dict[str, list[str]] = {}
    for index, code in enumerate(diagnosis_codes):
        diagnosis = get_diagnosis(code, field=f"diagnoses[{index}]")
        codes_by_group.setdefault(diagnosis.group, []).append(diagnosis.code)
    return EvidenceSummary(
        groups=[
            GroupEvidence(
                group=group,
                diagnoses=codes,
                notes=[] if group in note_except else [note],
                clinic_rate=rates.get(group),
                **groups[group],
            )
            for group, codes in codes_by_group.items()
        ],
        published_cohorts=list(cohorts),
    )
