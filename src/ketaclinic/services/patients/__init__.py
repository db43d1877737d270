"""Services: patients (the registry, how a record reads, weights and heights)."""
