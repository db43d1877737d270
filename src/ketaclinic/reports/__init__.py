"""ketaclinic.reports."""
