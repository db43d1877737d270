"""The structured, versioned screening intake: one pydantic model, validated ranges and contradictions."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ketaclinic.dosing.bounds import MAX_WEIGHT_KG, MIN_WEIGHT_KG
from ketaclinic.errors import InputError, ManyInputsError, plain_words
from ketaclinic.inputs import SingleLine
from ketaclinic.screening.diagnoses import PainMechanism, PriorTreatmentOutcome, get_diagnosis, list_diagnoses
from ketaclinic.screening.rules import CONDITION_CODES, intake_range

INTAKE_VERSION = "1"
SUPPORTED_INTAKE_VERSIONS = frozenset({INTAKE_VERSION})
# The unit a bound's message names, by field (the intake's field names carry theirs).
INTAKE_UNITS = {
    "weight_kg": "kg",
    "pain_duration_months": "months",
    "systolic": "mm[Hg]",
    "diastolic": "mm[Hg]",
}


class Sex(StrEnum):
    """Sex recorded at intake (used for the pregnancy/breast-feeding contradiction check)."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


def _bounded_int(name: str, description: str, *, optional: bool = False) -> Any:
    low, high = intake_range(name)
    extra: dict[str, Any] = {"default": None} if optional else {}
    return Field(ge=low, le=high, strict=True, description=f"{description} ({low}-{high})", **extra)


def _check_diagnosis(code: str) -> str:
    try:
        return get_diagnosis(code).code
    except InputError as exc:
        raise ValueError(exc.message) from None


def _check_condition(code: str) -> str:
    if code not in CONDITION_CODES:
        raise ValueError(f"unknown condition code {code!r} (known: {', '.join(CONDITION_CODES)})")
    return code


DiagnosisCode = Annotated[str, AfterValidator(_check_diagnosis)]
ConditionCode = Annotated[str, AfterValidator(_check_condition)]


class BloodPressure(BaseModel):
    """Seated blood pressure at intake, in mm[Hg]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    systolic: int = _bounded_int("systolic_mmhg", "systolic pressure, mm[Hg] (LOINC 8480-6)")
    diastolic: int = _bounded_int("diastolic_mmhg", "diastolic pressure, mm[Hg] (LOINC 8462-4)")

    @model_validator(mode="after")
    def _systolic_above_diastolic(self) -> BloodPressure:
        if self.systolic <= self.diastolic:
            raise InputError(
                f"systolic {self.systolic} must be greater than diastolic {self.diastolic}", field="diastolic"
            )
        return self


class PriorTreatment(BaseModel):
    """A treatment tried before ketamine and what happened."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, SingleLine] = Field(
        min_length=1, max_length=200, description="drug or therapy, free text (synonyms matched)"
    )
    outcome: PriorTreatmentOutcome


class Intake(BaseModel):
    """Everything screening needs about one patient; `intake_version` names the schema version."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="KetaclinicIntake")

    intake_version: str = Field(
        description=f"schema version; supported: {', '.join(sorted(SUPPORTED_INTAKE_VERSIONS))}"
    )
    age_y: int = _bounded_int("age_y", "age in whole years")
    sex: Sex
    weight_kg: float = Field(
        ge=MIN_WEIGHT_KG,
        le=MAX_WEIGHT_KG,
        allow_inf_nan=False,
        description="kg",
    )
    diagnoses: list[DiagnosisCode] = Field(min_length=1, description="ICD-10-CM codes of the shipped list")
    pain_mechanism: PainMechanism
    pain_duration_months: float = Field(
        ge=intake_range("pain_duration_months")[0],
        le=intake_range("pain_duration_months")[1],
        allow_inf_nan=False,
    )
    baseline_nrs: int = _bounded_int("baseline_nrs", "average pain, numeric rating scale (LOINC 72514-3)")
    prior_treatments: list[PriorTreatment] = Field(default_factory=list)
    conditions: list[ConditionCode] = Field(default_factory=list, description="documented condition codes")
    blood_pressure: BloodPressure
    pregnant: bool = Field(strict=True)
    breastfeeding: bool = Field(strict=True)
    phq9: int | None = _bounded_int("phq9", "PHQ-9 total (LOINC 44261-6); null when not done", optional=True)
    gad7: int | None = _bounded_int("gad7", "GAD-7 total (LOINC 70274-6); null when not done", optional=True)
    audit_c: int | None = _bounded_int(
        "audit_c", "AUDIT-C total (LOINC 75626-2); null when not done", optional=True
    )
    dast10: int | None = _bounded_int(
        "dast10", "DAST-10 total (LOINC 82667-7); null when not done", optional=True
    )
    medications: list[Annotated[str, Field(min_length=1, max_length=200), SingleLine]] = Field(
        default_factory=list
    )

    @field_validator("intake_version")
    @classmethod
    def _supported_version(cls, value: str) -> str:
        if value not in SUPPORTED_INTAKE_VERSIONS:
            raise ValueError(
                f"unsupported intake version {value!r} (supported: {', '.join(SUPPORTED_INTAKE_VERSIONS)})"
            )
        return value

    @field_validator("diagnoses", "conditions")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _consistent(self) -> Intake:
        if self.sex is Sex.MALE and self.pregnant:
            raise InputError("marked pregnant but sex is male", field="pregnant")
        if self.sex is Sex.MALE and self.breastfeeding:
            raise InputError("marked breastfeeding but sex is male", field="breastfeeding")
        if self.pain_duration_months > self.age_y * 12 + 12:
            raise InputError(
                f"pain duration {self.pain_duration_months} months is longer than the patient's age",
                field="pain_duration_months",
            )
        return self

    def prior_treatment_pairs(self) -> list[tuple[str, PriorTreatmentOutcome]]:
        """(name, outcome) of each prior treatment."""
        return [(t.name, t.outcome) for t in self.prior_treatments]


def _field_path(loc: tuple[int | str, ...]) -> str:
    """("prior_treatments", 0, "outcome") -> "prior_treatments[0].outcome"."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def input_errors_from(exc: pydantic.ValidationError) -> list[InputError]:
    """Every pydantic error as an InputError whose field is the full path, in words a person uses."""
    found = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, InputError):
            # Raised by a model validator: its field is relative to the model at `loc`.
            path = _field_path((*loc, *(cause.field.split(".") if cause.field else ())))
            found.append(InputError(cause.message, field=path or None))
        else:
            found.append(
                InputError(
                    plain_words(error, INTAKE_UNITS.get(str(loc[-1]) if loc else "", "")),
                    field=_field_path(loc) or None,
                )
            )
    return found


def parse_intake(data: Mapping[str, Any]) -> Intake:
    """Validate a raw intake (e.g. parsed JSON); every problem is an InputError naming its field, at once."""
    if not isinstance(data, Mapping):
        raise InputError("the intake must be a JSON object", field="intake")
    try:
        return Intake.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        ManyInputsError.raise_any(input_errors_from(exc))
        raise  # a ValidationError always carries at least one error


def intake_json_schema() -> dict[str, Any]:
    """The JSON schema of the intake, generated from the model (documented in docs/intake.md)."""
    schema = Intake.model_json_schema()
    schema["properties"]["conditions"]["items"]["enum"] = list(CONDITION_CODES)
    schema["properties"]["diagnoses"]["items"]["enum"] = [d.code for d in list_diagnoses()]
    return schema
