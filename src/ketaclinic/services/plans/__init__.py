"""Services: plans."""
