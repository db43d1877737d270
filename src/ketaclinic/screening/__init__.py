"""ketaclinic.screening."""
