"""Shared fixtures: a migrated database per test (SQLite; PostgreSQL when configured), staff, clients."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

from ketaclinic.services import accounts, api_tokens
from ketaclinic.services.permissions import SYSTEM, Actor, Role
from ketaclinic.settings import Settings
from ketaclinic.store.audit import GENESIS_HASH, audit_chain_key
from ketaclinic.store.base import Base
from ketaclinic.store.db import Database, make_engine
from ketaclinic.store.migrate import upgrade
from ketaclinic.store.tables import load_all

PG_URL = os.environ.get("KETACLINIC_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
STAFF_PASSWORD = "correct-horse-battery"
TEST_SECRET_KEY = "test-secret"
TEST_AUDIT_KEY = audit_chain_key(TEST_SECRET_KEY)
CSRF_PATTERN = re.compile(r'name="csrf_token" value="([^"]+)"')

# No per-example deadline: on a loaded CI machine it fails correct code on wall-clock time alone.
hypothesis_settings.register_profile("ketaclinic", deadline=None)
hypothesis_settings.load_profile("ketaclinic")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for every test (migrating once keeps the suite fast)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file we copy
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A private, migrated PostgreSQL schema for this test run."""
    if not PG_URL:
        pytest.skip("KETACLINIC_TEST_DATABASE_URL not set")
    schema = f"kc_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def _wipe_postgres(database: Database) -> None:
    load_all()
    with database.engine.begin() as connection:
        # Replica role skips the append-only triggers, which only a test may do. DELETE, not TRUNCATE:
        # on a few rows it is ~40x faster; ids keep counting, which no test relies on.
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        connection.execute(
            text("INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, :h)"), {"h": GENESIS_HASH}
        )
        connection.execute(
            text("INSERT INTO ledger_head (id, last_seq, last_hash) VALUES (1, 0, :h)"), {"h": GENESIS_HASH}
        )


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """Cheap Argon2 parameters in tests (the production parameters cost ~0.5 s a hash on this machine)."""
    from argon2 import PasswordHasher

    production = accounts.PASSWORD_HASHER
    accounts.PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    accounts.PASSWORD_HASHER = production


@pytest.fixture(scope="session")
def pg_database(pg_url: str) -> Iterator[Database]:
    """One engine for the whole run (connecting costs more than a test)."""
    database = Database.from_url(pg_url, audit_key=TEST_AUDIT_KEY)
    yield database
    database.dispose()


@contextmanager
def open_test_database(request: pytest.FixtureRequest, backend: str, folder: Path) -> Iterator[Database]:
    """A fresh migrated database: a copy of the SQLite template in `folder`, or the run's PG schema wiped."""
    if backend == "postgresql":
        database: Database = request.getfixturevalue("pg_database")
        _wipe_postgres(database)
        yield database
        return
    path = folder / "ketaclinic.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    database = Database.from_url(f"sqlite:///{path}", audit_key=TEST_AUDIT_KEY)
    try:
        yield database
    finally:
        database.dispose()


def database_url(database: Database) -> str:
    """The database's URL as a string a Settings or a subprocess can connect with."""
    return database.engine.url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh migrated database, on every configured backend (services and store tests)."""
    with open_test_database(request, request.param, tmp_path) as database:
        yield database


@pytest.fixture(params=BACKENDS)
def web_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh migrated database for the web and CLI tests, on every configured backend."""
    with open_test_database(request, request.param, tmp_path) as database:
        yield database


@pytest.fixture
def sqlite_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh migrated SQLite database (for what is SQLite's own, e.g. the demo's file)."""
    with open_test_database(request, "sqlite", tmp_path) as database:
        yield database


def make_staff(database: Database) -> dict[str, Actor]:
    """One user per role (plus a second physician for co-signatures)."""
    staff = {}
    for name, role in (
        ("admin", Role.ADMIN),
        ("physician", Role.PHYSICIAN),
        ("physician2", Role.PHYSICIAN),
        ("nurse", Role.NURSE),
        ("researcher", Role.RESEARCHER),
    ):
        staff[name] = accounts.create_user(
            database, SYSTEM, username=name, role=role.value, password=STAFF_PASSWORD, full_name=name.title()
        )
    return staff


@pytest.fixture
def staff(db: Database) -> dict[str, Actor]:
    """Staff in the parametrised database."""
    return make_staff(db)


@pytest.fixture
def settings(tmp_path: Path, web_db: Database) -> Settings:
    """Settings pointing at the test database."""
    return Settings(database_url=database_url(web_db), secret_key=TEST_SECRET_KEY, var_dir=tmp_path)


@pytest.fixture
def web_staff(web_db: Database) -> dict[str, Actor]:
    """Staff in the web tests' database."""
    return make_staff(web_db)


@pytest.fixture
def app(settings: Settings, web_db: Database, web_staff: dict[str, Actor]):  # type: ignore[no-untyped-def]
    """The web app on the test database, with staff present."""
    from ketaclinic.web.app import create_app

    return create_app(settings, web_db)


@pytest.fixture
def api_client(app, web_db: Database, web_staff: dict[str, Actor]) -> Callable[[str | None], TestClient]:  # type: ignore[no-untyped-def]
    """`api_client("nurse")`: a client with that user's bearer token; `api_client(None)`: anonymous."""

    def make(username: str | None) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        if username:
            _info, secret = api_tokens.create_api_token(web_db, web_staff[username], "tests")
            client.headers["Authorization"] = f"Bearer {secret}"
        return client

    return make


def login_page_client(app, username: str, password: str = STAFF_PASSWORD) -> TestClient:  # type: ignore[no-untyped-def]
    """A browser-like client logged in through the form; `client.csrf` holds the session's CSRF token."""
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    form = client.get("/login")
    token = CSRF_PATTERN.search(form.text)
    assert token, "login form has no CSRF token"
    answer = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.text
    home = client.get("/", follow_redirects=True)  # a user who must change their password lands there
    session_token = CSRF_PATTERN.search(home.text)
    assert session_token
    client.csrf = session_token.group(1)
    return client


@pytest.fixture
def page_client(app) -> Callable[[str], TestClient]:  # type: ignore[no-untyped-def]
    """`page_client("nurse")`: logged in through the login form, with `.csrf`."""
    return lambda username: login_page_client(app, username)


# --- browser tests -------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def live_server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app served by uvicorn on a free loopback port, for the browser."""
    import threading
    import time

    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    """Debian's Chromium driven by Playwright (installed by scripts/install-chromium.sh)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("browser tests need /usr/bin/chromium: run `make browser` (scripts/install-chromium.sh)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def browser_login(browser, live_server: str):  # type: ignore[no-untyped-def]
    """`browser_login("nurse")` -> a Playwright page logged in as that user, at the start page."""
    contexts = []
    refused: list[str] = []

    def login(username: str, password: str = STAFF_PASSWORD):  # type: ignore[no-untyped-def]
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server)
        watch_csp(context, refused)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/")
        return page

    yield login
    for context in contexts:
        context.close()
    # Every screen a browser test opens runs under the app's Content-Security-Policy: nothing refused.
    assert refused == [], refused


def watch_csp(context, refused: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Collect the browser's Content-Security-Policy refusals on every page of `context` into `refused`."""

    def on_console(message) -> None:  # type: ignore[no-untyped-def]
        if "Content Security Policy" in message.text or message.text.startswith("Refused to"):
            refused.append(f"{message.page.url if message.page else '?'}: {message.text}")

    context.on("console", on_console)


def screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Save a full-page screenshot under test-artifacts/screenshots/ (look at it)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


RANDOM_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,}")


def without_random_tokens(html: str) -> str:
    """The page without long random tokens (CSRF, nonces): a short identifier can occur in one by chance."""
    return RANDOM_TOKEN.sub("", html)


PHONE = {"width": 360, "height": 740}
WEEK1_PHQ9 = (1, 2, 1, 1, 0, 1, 0, 0, 2)  # total 8 (mild), item 9 = 2: raises the self-harm alert


def answer_week1_questionnaire(page, phq9: Sequence[int] = WEEK1_PHQ9) -> None:  # type: ignore[no-untyped-def]
    """Tick a whole follow-up questionnaire: NRS 5/5/7/3, PGIC 4, `phq9`, every GAD-7 item 1."""
    for name, value in (("nrs_now", "5"), ("nrs_average", "5"), ("nrs_worst", "7"), ("nrs_least", "3")):
        page.locator(f"input[name={name}][value='{value}']").check()
    page.locator("input[name=pgic][value='4']").check()
    for i, v in enumerate(phq9, start=1):
        page.locator(f"input[name=phq9_{i}][value='{v}']").check()
    for i in range(1, 8):
        page.locator(f"input[name=gad7_{i}][value='1']").check()
