"""The published ketamine PK models (data/pk_models.toml) as immutable values, and their weight scaling."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ketaclinic.data import Status, load_toml, parse_status
from ketaclinic.errors import DataFileError, InputError, NotFoundError

Drug = Literal["racemic", "s-ketamine"]
PARAMETERS = ("v1", "v2", "v3", "cl", "q2", "q3")
_FILE = "pk_models.toml"
PARTS = ("parameters", "exponents", "ke0", "bsv")


class PartStatus(BaseModel):
    """The status of one part of a model (its parameters, weight exponents, ke0 or variability)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Status
    source: str = Field(min_length=1)


class PartStatuses(BaseModel):
    """Per-part status where a model's parts come from different places (the rest take the model's)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parameters: PartStatus | None = None
    exponents: PartStatus | None = None
    ke0: PartStatus | None = None
    bsv: PartStatus | None = None


@dataclass(frozen=True, slots=True)
class PKModel:
    """One mammillary model in clearance form at `reference_weight_kg` (volumes L, clearances L/min)."""

    key: str
    drug: Drug
    citation: str
    source: str
    status: Status
    compartments: int
    reference_weight_kg: float
    parameters: Mapping[str, float]
    exponents: Mapping[str, float]
    scaling_note: str
    population: str
    age_min_y: float | None = None
    age_max_y: float | None = None
    weight_min_kg: float | None = None
    weight_max_kg: float | None = None
    population_range_status: Status = Status.LOCAL_POLICY
    population_range_note: str = ""
    ke0_per_min: float | None = None
    ke0_source: str | None = None
    ke0_ln_weight_slope_per_min: float | None = None
    bsv_cv: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    bsv_source: str | None = None
    status_note: str = ""
    choice_note: str = ""
    sampling: str = "venous or not stated"
    ke0_half_life_s: float | None = None
    part_status: PartStatuses = field(default_factory=PartStatuses)

    def status_of(self, part: str) -> PartStatus:
        """The status and source of one of PARTS: its own where the file gives one, else the model's."""
        if part not in PARTS:
            raise InputError(f"{part!r} is not one of {', '.join(PARTS)}", field="part")
        own: PartStatus | None = getattr(self.part_status, part)
        return own if own is not None else PartStatus(status=self.status, source=self.source)

    def parts(self) -> dict[str, PartStatus]:
        """The status of every part this model has (no ke0 or bsv part when it has none)."""
        present = {"ke0": self.ke0_per_min is not None, "bsv": bool(self.bsv_cv)}
        return {part: self.status_of(part) for part in PARTS if present.get(part, True)}

    def ke0_for(self, weight_kg: float) -> float | None:
        """The model's ke0 (1/min) at this weight, or None when no ke0 is published for it."""
        if self.ke0_per_min is None:
            return None
        if self.ke0_ln_weight_slope_per_min is None:
            return self.ke0_per_min
        # ke0 = slope ln(W) + intercept, stored as its value at the reference weight
        return self.ke0_per_min + self.ke0_ln_weight_slope_per_min * math.log(
            weight_kg / self.reference_weight_kg
        )

    def scaled(self, weight_kg: npt.ArrayLike) -> dict[str, npt.NDArray[np.float64]]:
        """Volumes (L) and clearances (L/min) at each weight: p x (W / reference) ^ exponent."""
        ratio = np.asarray(weight_kg, dtype=np.float64) / self.reference_weight_kg
        return {name: value * ratio ** self.exponents[name] for name, value in self.parameters.items()}

    def clearance_l_min(self, weight_kg: float) -> float:
        """Elimination clearance (L/min) at this weight."""
        return float(self.scaled(weight_kg)["cl"])

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready description (what `ketaclinic pk models --json` prints)."""
        return {
            "key": self.key,
            "drug": self.drug,
            "compartments": self.compartments,
            "citation": self.citation,
            "source": self.source,
            "status": self.status.value,
            "status_note": self.status_note,
            "population": self.population,
            "age_min_y": self.age_min_y,
            "age_max_y": self.age_max_y,
            "weight_min_kg": self.weight_min_kg,
            "weight_max_kg": self.weight_max_kg,
            "population_range_status": self.population_range_status.value,
            "population_range_note": self.population_range_note,
            "sampling": self.sampling,
            "reference_weight_kg": self.reference_weight_kg,
            "parameters_70kg": {
                "volumes_l": {k: v for k, v in self.parameters.items() if k.startswith("v")},
                "clearances_l_min": {k: v for k, v in self.parameters.items() if not k.startswith("v")},
            },
            "weight_exponents": dict(self.exponents),
            "weight_scaling": self.scaling_note,
            "choice_note": self.choice_note,
            "ke0_per_min": self.ke0_per_min,
            "ke0_ln_weight_slope_per_min": self.ke0_ln_weight_slope_per_min,
            "ke0_source": self.ke0_source,
            "ke0_half_life_s": self.ke0_half_life_s,
            "bsv_cv": dict(self.bsv_cv),
            "bsv_source": self.bsv_source,
            "part_status": {part: p.model_dump(mode="json") for part, p in self.parts().items()},
        }


def _number(row: Mapping[str, Any], name: str, where: str) -> float:
    value = row.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise DataFileError(f"{where}: {name} must be a positive number, got {value!r}")
    return float(value)


def _clearance_form(row: Mapping[str, Any], where: str) -> dict[str, float]:
    """Volumes (L) and clearances (L/min) at the reference weight from either parameterisation."""
    n = int(row.get("compartments", 0))
    if n not in (2, 3):
        raise DataFileError(f"{where}: compartments must be 2 or 3")
    names = PARAMETERS[:2] + PARAMETERS[3:5] if n == 2 else PARAMETERS
    if row.get("parameterisation") == "micro":
        v1 = _number(row, "v1_l_per_kg", where) * _number(row, "reference_weight_kg", where)
        out = {"v1": v1, "cl": _number(row, "k10_per_min", where) * v1}
        for i in range(2, n + 1):
            k1i = _number(row, f"k1{i}_per_min", where)
            ki1 = _number(row, f"k{i}1_per_min", where)
            out[f"q{i}"] = k1i * v1
            out[f"v{i}"] = k1i * v1 / ki1
        return {k: out[k] for k in names}
    out = {}
    for name in names:
        if name.startswith("v"):
            out[name] = _number(row, f"{name}_l", where)
        elif f"{name}_l_min" in row:
            out[name] = _number(row, f"{name}_l_min", where)
        else:
            out[name] = _number(row, f"{name}_l_h", where) / 60.0
    return out


def _optional(row: Mapping[str, Any], name: str) -> float | None:
    value = row.get(name)
    return None if value is None else float(value)


def _model(key: str, row: Mapping[str, Any]) -> PKModel:
    where = f"{_FILE} [{key}]"
    params = _clearance_form(row, where)
    exponents = {k: float(v) for k, v in dict(row.get("exponents", {})).items()}
    if set(exponents) != set(params):
        raise DataFileError(f"{where}: exponents must name exactly {sorted(params)}")
    drug = row.get("drug")
    if drug not in ("racemic", "s-ketamine"):
        raise DataFileError(f"{where}: drug must be racemic or s-ketamine")
    ke0 = _optional(row, "ke0_per_min")
    slope = _optional(row, "ke0_ln_weight_slope_per_min")
    half_life_s = _optional(row, "ke0_half_life_s")
    ref = _number(row, "reference_weight_kg", where)
    if slope is not None:
        ke0 = slope * math.log(ref) + _number(row, "ke0_intercept_per_min", where)
    if half_life_s is not None:
        if ke0 is not None:
            raise DataFileError(f"{where}: give ke0 as ke0_per_min, the ln-weight formula or ke0_half_life_s")
        # published as a half-time: ke0 = ln 2 / t1/2, per second, times 60 for per minute
        ke0 = math.log(2) / _number(row, "ke0_half_life_s", where) * 60.0
    if ke0 is not None and not row.get("ke0_source"):
        raise DataFileError(f"{where}: a ke0 needs its ke0_source")
    bsv = {k: float(v) for k, v in dict(row.get("bsv_cv", {})).items()}
    if not set(bsv) <= set(params):
        raise DataFileError(f"{where}: bsv_cv names unknown parameters")
    parts = _part_statuses(row.get("part_status", {}), where)
    if (parts.ke0 is not None and ke0 is None) or (parts.bsv is not None and not bsv):
        raise DataFileError(f"{where}: part_status names a ke0 or bsv the model does not have")
    return PKModel(
        key=key,
        drug=drug,
        citation=str(row["citation"]),
        source=str(row["source"]),
        status=parse_status(row.get("status"), where),
        compartments=int(row["compartments"]),
        reference_weight_kg=ref,
        parameters=MappingProxyType(params),
        exponents=MappingProxyType(exponents),
        scaling_note=str(row.get("scaling_note", "")),
        population=str(row.get("population", "")),
        age_min_y=_optional(row, "age_min_y"),
        age_max_y=_optional(row, "age_max_y"),
        weight_min_kg=_optional(row, "weight_min_kg"),
        weight_max_kg=_optional(row, "weight_max_kg"),
        population_range_status=parse_status(row.get("population_range_status", "local-policy"), where),
        population_range_note=str(row.get("population_range_note", "")),
        ke0_per_min=ke0,
        ke0_source=row.get("ke0_source"),
        ke0_ln_weight_slope_per_min=slope,
        bsv_cv=MappingProxyType(bsv),
        bsv_source=row.get("bsv_source"),
        status_note=str(row.get("status_note", "")),
        choice_note=str(row.get("choice_note", "")),
        sampling=str(row.get("sampling", "venous or not stated")),
        ke0_half_life_s=half_life_s,
        part_status=parts,
    )


def _part_statuses(raw: object, where: str) -> PartStatuses:
    try:
        return PartStatuses.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        raise DataFileError(f"{where}: part_status.{path}: {first['msg']}") from None


@cache
def list_models() -> tuple[PKModel, ...]:
    """Every shipped model, in file order."""
    return tuple(_model(key, row) for key, row in load_toml(_FILE).items())


def get_model(key: str) -> PKModel:
    """The model with this key; NotFoundError listing the valid keys otherwise."""
    for model in list_models():
        if model.key == key:
            return model
    valid = ", ".join(m.key for m in list_models())
    raise NotFoundError(f"unknown PK model {key!r}; valid keys: {valid}", field="model")


def resolve_model(model: str | PKModel) -> PKModel:
    """Accept a key or a model value."""
    return model if isinstance(model, PKModel) else get_model(model)


def check_patient(model: PKModel, weight_kg: float, age_y: float | None = None) -> tuple[str, ...]:
    """Warnings for a patient outside the model's population; InputError for impossible values."""
    if not math.isfinite(weight_kg) or weight_kg <= 0:
        raise InputError(f"weight must be a positive number of kg, got {weight_kg}", field="weight_kg")
    if age_y is not None and (not math.isfinite(age_y) or age_y < 0):
        raise InputError(f"age must be a non-negative number of years, got {age_y}", field="age_y")
    warnings: list[str] = []
    label = f"({model.population_range_status.value}: {model.population_range_note})"
    if model.weight_min_kg is not None and weight_kg < model.weight_min_kg:
        warnings.append(
            f"weight {weight_kg:g} kg is below {model.key}'s population ({model.weight_min_kg:g} kg)"
        )
    if model.weight_max_kg is not None and weight_kg > model.weight_max_kg:
        warnings.append(
            f"weight {weight_kg:g} kg is above {model.key}'s population ({model.weight_max_kg:g} kg)"
        )
    if age_y is None and model.age_max_y is not None:
        warnings.append(f"{model.key} was built in children (<= {model.age_max_y:g} y) and no age was given")
    if age_y is not None and model.age_min_y is not None and age_y < model.age_min_y:
        warnings.append(
            f"age {age_y:g} y is below {model.key}'s population (>= {model.age_min_y:g} y) {label}"
        )
    if age_y is not None and model.age_max_y is not None and age_y > model.age_max_y:
        warnings.append(
            f"age {age_y:g} y is above {model.key}'s population (<= {model.age_max_y:g} y) {label}"
        )
    return tuple(warnings)
