"""ketaclinic.dosing."""
