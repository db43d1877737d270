"""Services: patients (registry, how a record reads, weights and heights, allergies, contact, referrer)."""
