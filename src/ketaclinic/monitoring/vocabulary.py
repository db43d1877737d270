"""Vocabularies of the charting screen: adverse events, rescue medications, routes, the pregnancy check.

No doses live here: only names and the unit a dose is charted in (UCUM).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ketaclinic.errors import NotFoundError


class AdverseEventKind(StrEnum):
    """Adverse events charted during or after a ketamine infusion."""

    DISSOCIATION = "dissociation"
    HALLUCINATIONS = "hallucinations"
    NAUSEA_VOMITING = "nausea_vomiting"
    HYPERTENSION = "hypertension"
    TACHYCARDIA = "tachycardia"
    OVERSEDATION = "oversedation"
    DESATURATION = "desaturation"
    DELIRIUM = "delirium"
    NIGHTMARES = "nightmares"
    LARYNGOSPASM = "laryngospasm"
    HEADACHE = "headache"
    DIZZINESS = "dizziness"
    OTHER = "other"


class AdverseEventSeverity(StrEnum):
    """Severity of an adverse event as charted by the clinician."""

    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class PregnancyCheck(StrEnum):
    """How pregnancy was excluded at check-in (asked of every patient not recorded as male)."""

    NEGATIVE_TEST = "negative_test"
    DECLARED_NOT_PREGNANT = "declared_not_pregnant"
    NOT_APPLICABLE = "not_applicable"

    @property
    def label(self) -> str:
        """The answer as the nurse reads it."""
        return self.value.replace("_", " ")


# Routes offered when charting a dose: a premedication is usually oral, a rescue dose intravenous.
PREMEDICATION_ROUTES: tuple[str, ...] = ("PO", "IV", "SL")
RESCUE_ROUTES: tuple[str, ...] = ("IV", "PO", "SL", "IM", "inhaled")


@dataclass(frozen=True, slots=True)
class RescueMedication:
    """A medication given to treat an adverse event; doses are charted in `unit` (UCUM)."""

    key: str
    label: str
    unit: str


RESCUE_MEDICATIONS: tuple[RescueMedication, ...] = (
    RescueMedication("midazolam", "Midazolam", "mg"),
    RescueMedication("lorazepam", "Lorazepam", "mg"),
    RescueMedication("ondansetron", "Ondansetron", "mg"),
    RescueMedication("clonidine", "Clonidine", "ug"),
    RescueMedication("labetalol", "Labetalol", "mg"),
    RescueMedication("metoprolol", "Metoprolol", "mg"),
    RescueMedication("oxygen", "Oxygen", "L/min"),
    RescueMedication("paracetamol", "Paracetamol (acetaminophen)", "mg"),
    RescueMedication("other", "Other (name it in the note)", ""),
)


def rescue_medication(key: str) -> RescueMedication:
    """The rescue medication `key`; an unknown key is a NotFoundError naming the field."""
    for med in RESCUE_MEDICATIONS:
        if med.key == key:
            return med
    known = ", ".join(m.key for m in RESCUE_MEDICATIONS)
    raise NotFoundError(f"unknown rescue medication {key!r} (known: {known})", field="medication")
