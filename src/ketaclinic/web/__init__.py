"""ketaclinic.web."""
