"""Re-checking a stored plan against today's library and protocols before it is approved."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

from ketaclinic.dosing import (
    DosePlan,
    HardLimitError,
    build_plan,
)
from ketaclinic.errors import ConflictError, InputError, NotFoundError
from ketaclinic.services.plans.weight_override import with_override_breach
from ketaclinic.services.reference import ClinicReference, clinic_library
from ketaclinic.settings import Settings
from ketaclinic.store.tables.plans import DosePlanRow


def build_from_inputs(reference: ClinicReference, inputs: dict[str, Any]) -> DosePlan:
    """The plan of these stored inputs under this library and protocol set (HardLimitError if refused)."""
    return build_plan(
        reference.protocol(inputs["protocol_id"]),
        weight_kg=inputs["weight_kg"],
        height_cm=inputs["height_cm"],
        sex=inputs["sex"],
        dosing_weight=inputs["dosing_weight"],
        concentration_mg_ml=inputs["concentration_mg_ml"],
        volume_ml=inputs["volume_ml"],
        start=date.fromisoformat(inputs["start_date"]),
        model_key=inputs["model_key"] or None,
        library=reference.library,
        choices=inputs.get("choices") or {},  # absent from plans stored before protocols had choices
    )


_SEGMENT_FACTS = ("start_min", "end_min", "rate_mg_h", "rate_mg_kg_h", "pump_ml_h")


# Of a check, what decides it; its message and the limit's source text are wording, not dosing.
_CHECK_FACTS = ("verdict", "quantity", "value", "limit_kind", "limit")


_PREMEDICATION_FACTS = ("drug", "dose_mg", "route", "doses")


_REL_TOL = 1e-9


def _list_facts(label: str, items: Any, keys: tuple[str, ...]) -> list[tuple[str, Any]]:
    """A list's length, then the named keys of each item (1-based), so a shorter list differs first."""
    items = items if isinstance(items, list) else []
    facts: list[tuple[str, Any]] = [(f"{label} count", len(items))]
    for n, item in enumerate(items, start=1):
        facts.extend((f"{label} {n} {key}", item.get(key)) for key in keys)
    return facts


def _dosing_facts(document: dict[str, Any]) -> dict[str, Any]:
    """What approving a plan vouches for, label -> value, in reading order.

    The doses, rates, pump settings, totals, dates and what each check decided; not the PK prediction
    (a model's parameters may be refined), the protocol's prose or the wording of messages.
    """
    facts: list[tuple[str, Any]] = [
        ("drug", document.get("drug")),
        ("context", document.get("context")),
        ("concentration_mg_ml", document.get("concentration_mg_ml")),
        ("dosing_weight_kg", document.get("dosing_weight_kg")),
    ]
    sessions = document.get("sessions") or []
    facts.append(("session count", len(sessions)))
    for n, item in enumerate(sessions, start=1):
        where = f"session {n}"
        facts.append((f"{where} date", item.get("date")))
        facts.append((f"{where} titrated", bool(item.get("titrated"))))
        facts.extend(_list_facts(f"{where} segment", item.get("segments"), _SEGMENT_FACTS))
        facts.append((f"{where} total_mg", item.get("total_mg")))
        if item.get("titrated"):
            facts.extend(
                _list_facts(f"{where} min-path segment", item.get("min_path_segments"), _SEGMENT_FACTS)
            )
            facts.append((f"{where} min_path_total_mg", item.get("min_path_total_mg")))
        facts.extend(_list_facts(f"{where} check", item.get("checks"), _CHECK_FACTS))
    facts.append(("series_total_mg", document.get("series_total_mg")))
    facts.extend(_list_facts("series check", document.get("series_checks"), _CHECK_FACTS))
    facts.extend(_list_facts("choice check", document.get("choice_checks"), _CHECK_FACTS))
    facts.extend(_list_facts("weight override check", document.get("weight_override_checks"), _CHECK_FACTS))
    facts.extend(_list_facts("soft breach", document.get("soft_breaches"), _CHECK_FACTS))
    facts.extend(_list_facts("premedication", document.get("premedication"), _PREMEDICATION_FACTS))
    return dict(facts)


def _same(old: Any, new: Any) -> bool:
    numbers = (int, float)
    if isinstance(old, bool) or isinstance(new, bool):
        return old is new
    if isinstance(old, numbers) and isinstance(new, numbers):
        return math.isclose(old, new, rel_tol=_REL_TOL, abs_tol=1e-12)
    return bool(old == new)


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return "none" if value is None else str(value)


def _first_difference(stored: dict[str, Any], current: dict[str, Any]) -> str | None:
    """The first dosing fact that differs, as 'label old -> new'; None when the plans dose alike."""
    old, new = _dosing_facts(stored), _dosing_facts(current)
    for label in [*old, *(k for k in new if k not in old)]:
        if label not in old or label not in new or not _same(old[label], new[label]):
            return f"{label} {_shown(old.get(label))} -> {_shown(new.get(label))}"
    return None


def recheck(row: DosePlanRow, config: Settings | Path | None) -> None:
    """Refuse (409 naming 'plan') a draft that today's library or protocols refuse or dose differently."""
    reference = clinic_library(config)
    inputs = json.loads(row.inputs_json)
    protocol_id = inputs["protocol_id"]
    if protocol_id not in reference.protocols:
        raise ConflictError(
            f"the protocol {protocol_id!r} is no longer available: create a new plan", field="plan"
        )
    try:
        # Predicted too, so a PK model since removed refuses; the curves themselves are not compared.
        current = build_from_inputs(reference, inputs)
    except HardLimitError as refused:
        raise ConflictError(
            f"the drug library now refuses this plan ({refused.check.message}): create a new plan",
            field="plan",
        ) from None
    except InputError as bad:
        if bad.field == "concentration_mg_ml" and inputs["concentration_mg_ml"] is not None:
            raise ConflictError(
                f"the concentration {inputs['concentration_mg_ml']:g} mg/mL is no longer in the library "
                f"for this protocol ({bad.message}): create a new plan",
                field="plan",
            ) from None
        raise ConflictError(
            f"this draft can no longer be computed ({bad.message}): create a new plan", field="plan"
        ) from None
    except NotFoundError as gone:
        raise ConflictError(
            f"this draft can no longer be computed ({gone.message}): create a new plan", field="plan"
        ) from None
    document = with_override_breach(current, reference.weights, inputs).to_json_dict()
    difference = _first_difference(json.loads(row.plan_json), document)
    if difference is not None:
        raise ConflictError(
            f"this draft computes differently under today's drug library or protocol ({difference}): "
            "create a new plan",
            field="plan",
        )
