"""The drug library: per clinical context, allowed concentrations and soft/hard limits, each with its source.

A clinic may override local-policy values in its own TOML file (same layout, only what it changes).
An override may tighten a hard limit (lower a hard maximum, raise a hard minimum, add a hard limit
that was absent) but never loosen one; soft limits must stay inside the hard ones.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ketaclinic.data import Status, load_toml, load_toml_path, parse_status
from ketaclinic.dosing import pump
from ketaclinic.errors import DataFileError, InputError, NotFoundError

LIBRARY_FILE = "drug_library.toml"

LimitKind = Literal["soft_min", "soft_max", "hard_min", "hard_max"]
LIMIT_KINDS: tuple[LimitKind, ...] = ("hard_min", "soft_min", "soft_max", "hard_max")

# quantity key -> unit shown next to the number
QUANTITIES: dict[str, str] = {
    "rate_mg_kg_h": "mg/kg/h",
    "rate_mg_h": "mg/h",
    "bolus_mg_kg": "mg/kg",
    "bolus_mg": "mg",
    "session_total_mg": "mg",
    "series_total_mg": "mg",
}
DRUGS = ("racemic", "s-ketamine")
SETTINGS = ("outpatient", "inpatient")


@dataclass(frozen=True, slots=True)
class LimitValue:
    """One limit number with its provenance."""

    value: float
    source: str
    status: Status


@dataclass(frozen=True, slots=True)
class LimitSet:
    """The soft and hard limits of one quantity (any may be absent)."""

    quantity: str
    unit: str
    hard_min: LimitValue | None = None
    soft_min: LimitValue | None = None
    soft_max: LimitValue | None = None
    hard_max: LimitValue | None = None

    def get(self, kind: LimitKind) -> LimitValue | None:
        """The limit of this kind, if set."""
        value: LimitValue | None = getattr(self, kind)
        return value


@dataclass(frozen=True, slots=True)
class Concentrations:
    """The concentrations a context allows, with provenance."""

    values_mg_ml: tuple[float, ...]
    source: str
    status: Status


@dataclass(frozen=True, slots=True)
class DoseResponseMinimum:
    """The least session dose (mg, over more than some minutes) with dose-response evidence.

    Information for the physician, not a dose error reduction limit: a session below it is shown a
    note on the plan, never a breach that needs an override.
    """

    total_mg: LimitValue
    over_min: LimitValue


@dataclass(frozen=True, slots=True)
class DrugContext:
    """One library entry: a drug in a clinical setting."""

    id: str
    label: str
    drug: str
    setting: str
    dose_unit: str
    concentrations: Concentrations
    pump_resolution: LimitValue
    limits: Mapping[str, LimitSet] = field(default_factory=dict)
    dose_response_minimum: DoseResponseMinimum | None = None

    def limit_set(self, quantity: str) -> LimitSet:
        """Limits of `quantity` (an empty set when the library has none)."""
        return self.limits.get(quantity) or LimitSet(quantity, QUANTITIES[quantity])

    def allows_concentration(self, concentration_mg_ml: float) -> bool:
        """True when this concentration is one the context lists."""
        return any(
            math.isclose(concentration_mg_ml, c, rel_tol=1e-9) for c in self.concentrations.values_mg_ml
        )


@dataclass(frozen=True, slots=True)
class DrugLibrary:
    """All contexts of the library, in file order; `override_path` names the clinic file applied, if any."""

    contexts: Mapping[str, DrugContext]
    override_path: Path | None = None

    def context(self, context_id: str) -> DrugContext:
        """The context with this id; unknown ids are a NotFoundError naming the known ones."""
        try:
            return self.contexts[context_id]
        except KeyError:
            known = ", ".join(self.contexts)
            raise NotFoundError(
                f"unknown library context {context_id!r} (known: {known})", field="context"
            ) from None

    def to_json_dict(self) -> dict[str, Any]:
        """The library as plain JSON values, every number beside its source and status."""
        out: dict[str, Any] = {"override_path": str(self.override_path) if self.override_path else None}
        contexts = []
        for ctx in self.contexts.values():
            limits: dict[str, Any] = {}
            for quantity, limit_set in ctx.limits.items():
                entry: dict[str, Any] = {"unit": limit_set.unit}
                for kind in LIMIT_KINDS:
                    value = limit_set.get(kind)
                    if value is not None:
                        entry[kind] = {"value": value.value, "source": value.source, "status": value.status}
                limits[quantity] = entry
            contexts.append(
                {
                    "id": ctx.id,
                    "label": ctx.label,
                    "drug": ctx.drug,
                    "setting": ctx.setting,
                    "dose_unit": ctx.dose_unit,
                    "concentrations_mg_ml": {
                        "values": list(ctx.concentrations.values_mg_ml),
                        "source": ctx.concentrations.source,
                        "status": ctx.concentrations.status,
                    },
                    "pump_resolution_ml_h": {
                        "value": ctx.pump_resolution.value,
                        "source": ctx.pump_resolution.source,
                        "status": ctx.pump_resolution.status,
                    },
                    "limits": limits,
                    "dose_response_minimum": None
                    if ctx.dose_response_minimum is None
                    else {
                        "total_mg": ctx.dose_response_minimum.total_mg.value,
                        "over_min": ctx.dose_response_minimum.over_min.value,
                        "source": ctx.dose_response_minimum.total_mg.source,
                        "status": ctx.dose_response_minimum.total_mg.status,
                    },
                }
            )
        out["contexts"] = contexts
        return out


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise DataFileError(f"{where}: value {value!r} must be a finite number >= 0")
    return float(value)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataFileError(f"{where}: must be a non-empty string")
    return value


def _limit_value(raw: object, where: str) -> LimitValue:
    if not isinstance(raw, dict):
        raise DataFileError(f"{where}: must be a table {{value, source, status}}")
    unknown = set(raw) - {"value", "source", "status"}
    if unknown:
        raise DataFileError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if "value" not in raw:
        raise DataFileError(f"{where}: missing value")
    return LimitValue(
        _number(raw["value"], f"{where}.value"),
        _text(raw.get("source"), f"{where}.source"),
        parse_status(raw.get("status"), where),
    )


def _check_order(limit_set: LimitSet, where: str) -> None:
    """Soft limits inside hard ones, minima below maxima."""
    ordered = [(kind, limit_set.get(kind)) for kind in LIMIT_KINDS]
    present = [(kind, lv.value) for kind, lv in ordered if lv is not None]
    for (kind_a, a), (kind_b, b) in itertools.pairwise(present):
        if a > b:
            raise DataFileError(f"{where}: {kind_a} {a:g} is above {kind_b} {b:g}")


def _limit_set(quantity: str, raw: object, where: str, base: LimitSet | None) -> LimitSet:
    if quantity not in QUANTITIES:
        raise DataFileError(f"{where}: unknown quantity {quantity!r} (known: {', '.join(QUANTITIES)})")
    if not isinstance(raw, dict):
        raise DataFileError(f"{where}: must be a table of limits")
    unknown = set(raw) - set(LIMIT_KINDS)
    if unknown:
        raise DataFileError(f"{where}: unknown limit kind(s) {', '.join(sorted(unknown))}")
    result = base or LimitSet(quantity, QUANTITIES[quantity])
    for kind in LIMIT_KINDS:
        if kind not in raw:
            continue
        new = _limit_value(raw[kind], f"{where}.{kind}")
        old = result.get(kind)
        if base is not None and old is not None:
            if old.status is not Status.LOCAL_POLICY:
                raise DataFileError(f"{where}.{kind}: {old.status} value {old.value:g} cannot be overridden")
            if kind == "hard_max" and new.value > old.value:
                raise DataFileError(f"{where}.hard_max: {new.value:g} loosens the hard limit {old.value:g}")
            if kind == "hard_min" and new.value < old.value:
                raise DataFileError(f"{where}.hard_min: {new.value:g} loosens the hard limit {old.value:g}")
        changes: dict[str, Any] = {kind: new}
        result = replace(result, **changes)
    _check_order(result, where)
    return result


def _concentrations(raw: object, where: str) -> Concentrations:
    if not isinstance(raw, dict):
        raise DataFileError(f"{where}: must be a table {{values, source, status}}")
    values = raw.get("values")
    if not isinstance(values, list) or not values:
        raise DataFileError(f"{where}.values: must be a non-empty list of mg/mL")
    parsed = tuple(_number(v, f"{where}.values") for v in values)
    if any(v == 0 for v in parsed):
        raise DataFileError(f"{where}.values: a concentration must be > 0 mg/mL")
    return Concentrations(
        parsed, _text(raw.get("source"), f"{where}.source"), parse_status(raw.get("status"), where)
    )


def _choice(value: object, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise DataFileError(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def _pump_resolution(raw: object, where: str) -> LimitValue:
    """The smallest step (mL/h) the clinic's pumps can be set in; planned rates round down to it."""
    resolution = _limit_value(raw, where)
    try:
        pump.require_resolution(resolution.value)
    except InputError as bad:
        raise DataFileError(f"{where}: {bad.message}") from None
    return resolution


def _dose_response_minimum(raw: object, where: str) -> DoseResponseMinimum:
    if not isinstance(raw, dict) or set(raw) != {"total_mg", "over_min"}:
        raise DataFileError(f"{where}: must be a table with total_mg and over_min")
    return DoseResponseMinimum(
        _limit_value(raw["total_mg"], f"{where}.total_mg"), _limit_value(raw["over_min"], f"{where}.over_min")
    )


_CONTEXT_KEYS = (
    "label",
    "drug",
    "setting",
    "dose_unit",
    "concentrations_mg_ml",
    "pump_resolution_ml_h",
    "dose_response_minimum",
)


def _context(context_id: str, raw: object, where: str) -> DrugContext:
    if not isinstance(raw, dict):
        raise DataFileError(f"{where}: must be a table")
    unknown = [k for k in raw if k not in _CONTEXT_KEYS and k not in QUANTITIES]
    if unknown:
        raise DataFileError(f"{where}: unknown key(s) {', '.join(unknown)}")
    for required in ("concentrations_mg_ml", "pump_resolution_ml_h"):
        if required not in raw:
            raise DataFileError(f"{where}: missing {required}")
    return DrugContext(
        id=context_id,
        label=_text(raw.get("label"), f"{where}.label"),
        drug=_choice(raw.get("drug"), DRUGS, f"{where}.drug"),
        setting=_choice(raw.get("setting"), SETTINGS, f"{where}.setting"),
        dose_unit=_text(raw.get("dose_unit"), f"{where}.dose_unit"),
        concentrations=_concentrations(raw["concentrations_mg_ml"], f"{where}.concentrations_mg_ml"),
        pump_resolution=_pump_resolution(raw["pump_resolution_ml_h"], f"{where}.pump_resolution_ml_h"),
        limits={q: _limit_set(q, raw[q], f"{where}.{q}", None) for q in QUANTITIES if q in raw},
        dose_response_minimum=_dose_response_minimum(
            raw["dose_response_minimum"], f"{where}.dose_response_minimum"
        )
        if "dose_response_minimum" in raw
        else None,
    )


def parse_library(data: Mapping[str, Any], where: str) -> DrugLibrary:
    """Build a library from parsed TOML, naming the entry in any error."""
    raw_contexts = data.get("context")
    if not isinstance(raw_contexts, dict) or not raw_contexts:
        raise DataFileError(f"{where}: no [context.<id>] tables")
    contexts = {cid: _context(cid, raw, f"{where} context.{cid}") for cid, raw in raw_contexts.items()}
    return DrugLibrary(contexts)


def apply_override(library: DrugLibrary, data: Mapping[str, Any], where: str) -> DrugLibrary:
    """The library with a clinic's overrides applied; loosening a hard limit is a DataFileError."""
    raw_contexts = data.get("context")
    if not isinstance(raw_contexts, dict):
        raise DataFileError(f"{where}: no [context.<id>] tables")
    contexts = dict(library.contexts)
    for context_id, raw in raw_contexts.items():
        entry = f"{where} context.{context_id}"
        if context_id not in contexts:
            raise DataFileError(
                f"{entry}: unknown context (an override cannot add one; known: {', '.join(contexts)})"
            )
        if not isinstance(raw, dict):
            raise DataFileError(f"{entry}: must be a table")
        ctx = contexts[context_id]
        limits = dict(ctx.limits)
        concentrations = ctx.concentrations
        resolution = ctx.pump_resolution
        minimum = ctx.dose_response_minimum
        label = ctx.label
        for key, value in raw.items():
            if key == "concentrations_mg_ml":
                if ctx.concentrations.status is not Status.LOCAL_POLICY:
                    raise DataFileError(f"{entry}.concentrations_mg_ml: not a local-policy value")
                concentrations = _concentrations(value, f"{entry}.concentrations_mg_ml")
            elif key == "pump_resolution_ml_h":
                if ctx.pump_resolution.status is not Status.LOCAL_POLICY:
                    raise DataFileError(f"{entry}.pump_resolution_ml_h: not a local-policy value")
                resolution = _pump_resolution(value, f"{entry}.pump_resolution_ml_h")
            elif key == "dose_response_minimum":
                if minimum is not None and minimum.total_mg.status is not Status.LOCAL_POLICY:
                    raise DataFileError(f"{entry}.dose_response_minimum: not a local-policy value")
                minimum = _dose_response_minimum(value, f"{entry}.dose_response_minimum")
            elif key == "label":
                label = _text(value, f"{entry}.label")
            elif key in QUANTITIES:
                limits[key] = _limit_set(key, value, f"{entry}.{key}", ctx.limit_set(key))
            else:
                raise DataFileError(
                    f"{entry}.{key}: cannot be overridden "
                    "(only label, concentrations, pump resolution, dose-response minimum, limits)"
                )
        contexts[context_id] = replace(
            ctx,
            label=label,
            limits=limits,
            concentrations=concentrations,
            pump_resolution=resolution,
            dose_response_minimum=minimum,
        )
    return DrugLibrary(contexts)


def load_library(override_path: Path | None = None) -> DrugLibrary:
    """The shipped library, with a clinic override file applied when given."""
    library = parse_library(load_toml(LIBRARY_FILE), LIBRARY_FILE)
    if override_path is None:
        return library
    overridden = apply_override(library, load_toml_path(override_path), str(override_path))
    return replace(overridden, override_path=override_path)
