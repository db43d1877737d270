"""ketaclinic.monitoring."""
