"""ketaclinic.pharmacology."""
