"""What a FHIR export covers (identified or de-identified, from which day) and the resources it collects."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from ketaclinic.errors import ConflictError
from ketaclinic.interop import fhir_base

# The Bulk Data file order: referenced resources before the ones that point at them.
RESOURCE_TYPES = (
    "Patient",
    "Medication",
    "Condition",
    "MedicationRequest",
    "Encounter",
    "MedicationDispense",
    "MedicationAdministration",
    "Observation",
    "QuestionnaireResponse",
    "AdverseEvent",
    "Consent",
)


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """What an export covers: identified or de-identified, and from which day on."""

    deidentified: bool = False
    since: date | None = None


@dataclass(slots=True)
class Collected:
    """The resources an export gathers: by type, in the Bulk Data file order, each once."""

    resources: dict[str, list[fhir_base.Resource]] = field(
        default_factory=lambda: {t: [] for t in RESOURCE_TYPES}
    )

    seen: dict[str, fhir_base.Resource] = field(default_factory=dict)

    def add(self, resource: fhir_base.Resource) -> None:
        """Keep a resource under its type, once (a lot's Medication is shared by the sessions it served)."""
        key = f"{resource['resourceType']}/{resource['id']}"
        earlier = self.seen.get(key)
        if earlier is not None:
            if earlier != resource:  # a mapping fault: two different resources under one id
                raise ConflictError(f"the export would hold two different {key}")
            return
        self.seen[key] = resource
        self.resources[resource["resourceType"]].append(resource)

    def all(self) -> Iterator[fhir_base.Resource]:
        """Every resource, type by type."""
        for resource_type in RESOURCE_TYPES:
            yield from self.resources[resource_type]
