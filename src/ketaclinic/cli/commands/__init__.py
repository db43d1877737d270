"""Command modules; each exposes `register(app: typer.Typer)`."""
