"""Scheduling use cases: the clinic calendar, booking a series on chairs, moving, cancelling, no-shows."""
