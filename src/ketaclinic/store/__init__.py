"""ketaclinic.store."""
