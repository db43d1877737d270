"""ketaclinic.services."""
