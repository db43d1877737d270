"""The `ketaclinic` command: the same use cases as the web app, from a terminal.

Each module in `ketaclinic.cli.commands` exposes `register(app)`; they are discovered so that a
capability adds its commands without touching this file.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Annotated

import typer

from ketaclinic import __version__
from ketaclinic.cli import commands
from ketaclinic.cli.output import fail_on_bad_input

app = typer.Typer(
    name="ketaclinic",
    help="Ketamine infusion service for refractory chronic pain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"ketaclinic {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """Ketamine infusion service for refractory chronic pain."""


for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
    importlib.import_module(f"{commands.__name__}.{module_info.name}").register(app)


def main() -> None:
    """Run the CLI; bad input becomes one line on stderr and exit code 2."""
    with fail_on_bad_input():
        app(prog_name="ketaclinic")
    sys.exit(0)
