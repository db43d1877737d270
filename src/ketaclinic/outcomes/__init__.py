"""ketaclinic.outcomes."""
