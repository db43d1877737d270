"""ketaclinic: a ketamine infusion service for refractory chronic pain, end to end."""

# The one version source: pyproject.toml reads it (dynamic version), and the CLI's --version, the
# OpenAPI document, the health route and the page footer show it.
__version__ = "0.1.0"
