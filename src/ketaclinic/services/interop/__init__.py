"""Interoperability use cases: FHIR export and import, REDCap export, letters; each read is audited."""
