"""Interoperability mappings (pure): FHIR R4 resources and REDCap files from plain domain values."""
