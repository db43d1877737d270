"""What every FHIR resource builder shares: the resource type, references, UCUM quantities, Bundles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ketaclinic.interop.codes import systems

Resource = dict[str, Any]

# The one Medication every ketamine administration and plan points at.
KETAMINE_ID = "ketamine"


def reference(resource_type: str, resource_id: str) -> dict[str, str]:
    """A literal reference `Type/id`."""
    return {"reference": f"{resource_type}/{resource_id}"}


def quantity(value: float, unit: str) -> dict[str, Any]:
    """A UCUM quantity (the unit is its own code)."""
    return {"value": value, "unit": unit, "system": systems().ucum, "code": unit}


def bundle(resources: Iterable[Resource], *, bundle_type: str = "searchset") -> Resource:
    """A Bundle of the resources, each with its fullUrl."""
    entries = [
        {"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
        if bundle_type == "searchset"
        else {"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r}
        for r in resources
    ]
    result: Resource = {"resourceType": "Bundle", "type": bundle_type, "entry": entries}
    if bundle_type == "searchset":
        result["total"] = len(entries)  # FHIR allows a total on search results only
    return result


def references(value: Any) -> Iterable[str]:
    """Every literal `reference` inside a resource."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def unresolved_references(resources: Iterable[Resource]) -> list[str]:
    """The references that point at no resource of the set (an export must have none)."""
    listed = list(resources)
    present = {f"{r['resourceType']}/{r['id']}" for r in listed}
    return sorted({ref for r in listed for ref in references(r) if ref not in present})
