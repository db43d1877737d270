"""Run the app, migrate the database, seed the demo clinic, add users."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from ketaclinic.cli.output import fail
from ketaclinic.settings import load_settings
from ketaclinic.store.db import Database


def open_database() -> Database:
    """The database named by the environment, migrated to the newest schema."""
    from ketaclinic.store.migrate import upgrade

    database = Database.for_settings(load_settings())
    upgrade(database.engine)
    return database


def _print_demo_logins() -> None:
    from ketaclinic.services.demo.clinic import DEMO_LOGINS

    typer.echo("Demo logins (synthetic clinic):")
    for username, role, password, _name in DEMO_LOGINS:
        typer.echo(f"  {role:<11} {username:<11} password: {password}")


def register(app: typer.Typer) -> None:
    """Add serve, db, demo and user commands."""
    db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
    user_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
    app.add_typer(db_app, name="db")
    app.add_typer(user_app, name="user")

    @app.command("serve")
    def serve(
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    ) -> None:
        """Serve the web app (migrating the database first)."""
        import uvicorn

        from ketaclinic.services.demo import is_seeded
        from ketaclinic.web.app import create_app

        settings = load_settings()
        database = open_database()
        typer.echo(f"ketaclinic on http://{host}:{port}/  (database: {database.dialect})")
        if is_seeded(database):
            _print_demo_logins()
        # The app logs one line per request (user id, route template, status, duration); uvicorn's own
        # access log would add the raw path and query string, which can name a patient.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logging.getLogger("ketaclinic").addHandler(handler)
        uvicorn.run(
            create_app(settings, database), host=host, port=port, log_level="warning", access_log=False
        )

    @db_app.command("upgrade")
    def db_upgrade() -> None:
        """Apply every migration."""
        from ketaclinic.store.migrate import current_heads

        database = open_database()
        typer.echo(f"database at revision {', '.join(current_heads(database.engine))}")

    @app.command("demo")
    def demo(
        reset: Annotated[bool, typer.Option("--reset", help="Wipe the database first.")] = False,
    ) -> None:
        """Fill the database with the synthetic demo clinic and print its logins."""
        from ketaclinic.services.demo import seed_demo
        from ketaclinic.store.migrate import reset as reset_schema

        database = open_database()
        if reset:
            reset_schema(database.engine)
        context = seed_demo(database, config=load_settings())
        typer.echo(f"demo clinic ready: {len(context.patient_ids) or 'existing'} synthetic patients")
        _print_demo_logins()

    @user_app.command("add")
    def user_add(
        username: str,
        role: Annotated[str, typer.Option(help="admin, physician, nurse or researcher.")],
        password_stdin: Annotated[
            bool, typer.Option("--password-stdin", help="Read the password from stdin.")
        ] = False,
        full_name: Annotated[str, typer.Option(help="Display name.")] = "",
    ) -> None:
        """Add a staff account."""
        from ketaclinic.services import accounts
        from ketaclinic.services.permissions import SYSTEM

        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        if not password:
            fail("password: empty")
        actor = accounts.create_user(
            open_database(), SYSTEM, username=username, role=role, password=password, full_name=full_name
        )
        typer.echo(f"added {actor.username} ({actor.role_name})")
