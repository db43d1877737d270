"""Run the app, migrate the database, seed the demo clinic, manage staff accounts."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ketaclinic.cli.output import fail
from ketaclinic.settings import load_settings

if TYPE_CHECKING:  # SQLAlchemy loads when a command opens the database, not at start-up
    from ketaclinic.store.db import Database

SHUTDOWN_GRACE_S = 5  # seconds a stopping server waits for open requests and live streams


SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def open_database(url: str | None = None, *, option: str = "--db") -> Database:
    """The database named by `url` (default: the environment's), migrated to the newest schema.

    A URL that names no SQLite or PostgreSQL database, or one that cannot be opened, is one line
    naming `option` and exit 2.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, OperationalError

    from ketaclinic.store.audit import audit_chain_key
    from ketaclinic.store.db import Database
    from ketaclinic.store.migrate import upgrade

    settings = load_settings()
    if url is None:
        database = Database.for_settings(settings)
        upgrade(database.engine)
        return database
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        fail(f"{option}: not a database URL (sqlite:///PATH or postgresql+psycopg://...)")
    if backend not in SUPPORTED_BACKENDS:
        fail(f"{option}: {backend!r} is not a supported database ({' or '.join(SUPPORTED_BACKENDS)})")
    database = Database.from_url(url, audit_key=audit_chain_key(settings.secret_key))
    try:
        upgrade(database.engine)
    except OperationalError as exc:
        database.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else "no answer"
        fail(f"{option}: cannot open the database: {reason}")
    return database


def _print_demo_logins() -> None:
    from ketaclinic.services.demo.clinic import DEMO_LOGINS

    typer.echo("Demo logins (synthetic clinic):")
    for username, role, password, _name in DEMO_LOGINS:
        typer.echo(f"  {role:<11} {username:<11} password: {password}")


def _read_password(from_stdin: bool, prompt: str) -> str:
    """A password from one line of stdin, or typed twice at a hidden prompt; empty is bad input."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    if not password:
        fail("password: empty")
    return password


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
        workers: Annotated[
            int,
            typer.Option(
                min=1,
                help="Server processes sharing the port (more than 1 needs PostgreSQL): each is"
                " stateless, live events reach all of them through the database.",
            ),
        ] = 1,
    ) -> None:
        """Serve the web app (migrating the database first)."""
        import uvicorn

        from ketaclinic.services.demo import is_seeded
        from ketaclinic.web.app import WORKER_APP_FACTORY, create_app, log_requests_to_stderr

        settings = load_settings()
        if workers > 1 and settings.is_sqlite:
            fail(
                "--workers: more than one server process needs PostgreSQL (KETACLINIC_DATABASE_URL);"
                " on SQLite live events reach only the process that wrote them"
            )
        database = open_database()
        plural = f", {workers} processes" if workers > 1 else ""
        typer.echo(f"ketaclinic on http://{host}:{port}/  (database: {database.dialect}{plural})")
        if is_seeded(database):
            _print_demo_logins()
        log_requests_to_stderr()
        # An open live stream would hold a stopping server for up to an hour (its lifetime); after this
        # grace it is cut, and the browser reconnects to the server that replaces it.
        options: dict[str, Any] = {
            "host": host,
            "port": port,
            "log_level": "warning",
            "access_log": False,
            "timeout_graceful_shutdown": SHUTDOWN_GRACE_S,
        }
        if workers == 1:
            uvicorn.run(create_app(settings, database), **options)
            return
        database.dispose()  # each process opens its own
        uvicorn.run(WORKER_APP_FACTORY, factory=True, workers=workers, **options)

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

        password = _read_password(password_stdin, "Password")
        actor = accounts.create_user(
            open_database(), SYSTEM, username=username, role=role, password=password, full_name=full_name
        )
        typer.echo(f"added {actor.username} ({actor.role_name})")

    @user_app.command("deactivate")
    def user_deactivate(username: str) -> None:
        """Shut an account out: every login ends and every API token is revoked at once."""
        from ketaclinic.services import accounts
        from ketaclinic.services.permissions import SYSTEM

        accounts.deactivate_user(open_database(), SYSTEM, username)
        typer.echo(f"deactivated {username.strip().lower()}")

    @user_app.command("activate")
    def user_activate(username: str) -> None:
        """Let a deactivated account log in again (its old logins and tokens stay ended)."""
        from ketaclinic.services import accounts
        from ketaclinic.services.permissions import SYSTEM

        accounts.activate_user(open_database(), SYSTEM, username)
        typer.echo(f"activated {username.strip().lower()}")

    @user_app.command("reset-password")
    def user_reset_password(
        username: str,
        password_stdin: Annotated[
            bool, typer.Option("--password-stdin", help="Read the temporary password from stdin.")
        ] = False,
    ) -> None:
        """Set a temporary password; the user's logins end and they must change it at next login."""
        from ketaclinic.services import accounts
        from ketaclinic.services.permissions import SYSTEM

        password = _read_password(password_stdin, "Temporary password")
        accounts.reset_password(open_database(), SYSTEM, username, password)
        typer.echo(
            f"temporary password set for {username.strip().lower()}: they must change it at next login"
        )

    @user_app.command("token")
    def user_token(
        username: str,
        name: Annotated[str, typer.Option(help="What the token is for.")],
        days: Annotated[
            int | None,
            typer.Option(help="Days until it expires (1-365; default KETACLINIC_API_TOKEN_DAYS)."),
        ] = None,
    ) -> None:
        """Issue an API token acting as USERNAME; the secret is printed once."""
        from ketaclinic.services import api_tokens
        from ketaclinic.services.permissions import SYSTEM

        info, secret = api_tokens.issue_api_token_for(
            open_database(),
            SYSTEM,
            username,
            name,
            expires_in_days=days,
            default_days=load_settings().api_token_days,
        )
        typer.echo(secret)
        typer.echo(f"expires {info.expires_at:%Y-%m-%d %H:%M} UTC", err=True)

    @user_app.command("list")
    def user_list() -> None:
        """Every staff account and its state."""
        from ketaclinic.services import accounts
        from ketaclinic.services.permissions import SYSTEM

        for row in accounts.list_users(open_database(), SYSTEM):
            state = (
                "deactivated"
                if not row.active
                else "must change password"
                if row.must_change_password
                else "active"
            )
            typer.echo(f"{row.username:<20} {row.role:<11} {state}")
