"""Services: screening."""
