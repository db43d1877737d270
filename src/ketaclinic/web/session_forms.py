"""The charting screen's forms: how their fields are named to people, and what was typed after an error."""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.datastructures import FormData

from ketaclinic.monitoring.observations import observation_kinds
from ketaclinic.web.forms import FieldWords, error_line, form_errors

# Fields of the chart's forms that are not flowsheet readings: (label, unit as people write it).
_SESSION_FIELDS: dict[str, tuple[str, str]] = {
    "weight_kg": ("Weight today", "kg"),
    "weight_discrepancy_reason": ("Reason if it differs from the plan's weight", ""),
    "early_end_reason": ("Early end reason", ""),
    "start_reason": ("Start reason", ""),
    "premedication": ("Premedication", ""),
    "premedication_none": ("Premedication", ""),
    "premed_dose": ("Premedication dose", ""),
    "pregnancy_check": ("Pregnancy check", ""),
    "rate": ("Rate", ""),
    "pump_ml_h": ("Pump rate", "mL/h"),
    "rate_mg_kg_h": ("Rate", "mg/kg/h"),
    "limit_reason": ("Soft-limit reason", ""),
    "deviation_reason": ("Plan deviation reason", ""),
    "reason": ("Reason", ""),
    "at": ("Time", ""),
    "observation": ("Reading", ""),
    "kind": ("Adverse event", ""),
    "severity": ("Severity", ""),
    "action": ("Action taken", ""),
    "outcome": ("Outcome", ""),
    "medication": ("Medication", ""),
    "dose": ("Dose", ""),
    "route": ("Route", ""),
    "text": ("Addendum", ""),
    "container_ids": ("Containers", ""),
    "container_id": ("Container", ""),
    "volume_drawn_ml": ("Volume drawn", "mL"),
    "diluent": ("Diluent", ""),
    "final_volume_ml": ("Final volume", "mL"),
    "checked_by": ("Checked by (second user)", ""),
    "residual_ml": ("Left in the bag", "mL"),
    "method": ("Waste method", ""),
    "witness": ("Witness", ""),
    "witness_password": ("Witness's password", ""),
    "medication_id": ("Dose", ""),
    "ledger": ("Controlled-substance ledger", ""),
}

# A problem the service names on its own field, shown beside the form's input that carries it.
_FORM_FIELD = {
    "premedication": "premed_medication",
    "premedication_none": "premed_medication",
    "pump_ml_h": "rate",
    "rate_mg_kg_h": "rate",
}


@cache
def chart_words() -> FieldWords:
    """Every field of the chart's forms: readings as their observation kind names them, then the rest."""
    kinds = {key: (kind.short_label, kind.value_unit) for key, kind in observation_kinds().items()}
    return kinds | _SESSION_FIELDS


def typed_back(form_id: str, form: FormData, exc: Exception) -> dict[str, Any]:
    """What the chart shows with a refused form: the error line, each field's error, what was typed."""
    words = chart_words()
    beside = {
        _FORM_FIELD.get(field, field): message
        for field, message in form_errors(exc, top_level=True, words=words).items()
    }
    return {
        "error": error_line(exc, words),
        "typed_form": form_id,
        "typed": {key: str(value) for key, value in form.items() if key != "csrf_token"},
        "field_errors": beside,
    }
