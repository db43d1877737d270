"""ketaclinic: a ketamine infusion service for refractory chronic pain, end to end."""

__version__ = "0.1.0"
