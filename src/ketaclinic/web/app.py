"""The FastAPI application: JSON API under /api/v1, HTML screens, static assets, error handling.

Route modules in `ketaclinic.web.routes` are discovered: each exposes `router` and may declare `NAV`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import pkgutil
from collections.abc import AsyncIterator
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ketaclinic import __version__
from ketaclinic.dosing.bounds import (
    MAX_CONTAINER_VOLUME_ML,
    MAX_HEIGHT_CM,
    MAX_WEIGHT_KG,
    MIN_CONTAINER_VOLUME_ML,
    MIN_HEIGHT_CM,
    MIN_WEIGHT_KG,
)
from ketaclinic.dosing.pump import DEFAULT_RESOLUTION_ML_H, pump_ml_h_text
from ketaclinic.monitoring import ACTION_LABELS
from ketaclinic.services.audit import checkpoint_if_due
from ketaclinic.settings import Settings, load_settings
from ketaclinic.store.db import Database
from ketaclinic.web import routes
from ketaclinic.web.nav import NavItem
from ketaclinic.web.openapi import PROBLEM_RESPONSES, install_openapi
from ketaclinic.web.problems import install_error_handlers
from ketaclinic.web.registry_forms import vocabulary as registry_vocabulary
from ketaclinic.web.security import SecurityMiddleware

WEB_DIR = Path(__file__).parent
# `ketaclinic serve --workers N` imports this factory in each of its N processes (uvicorn's factory=True).
WORKER_APP_FACTORY = "ketaclinic.web.app:create_worker_app"
SWAGGER_UI_DIR = Path(fastapi_offline.__file__).parent / "static"
# How often the server looks at the audit chain's head (one-row read) to see whether a checkpoint is due.
CHECKPOINT_POLL_S = 30.0


def _number(value: float | int | None, digits: int = 1) -> str:
    """A number to `digits` places; one that rounds to zero is 0.0, never -0.0."""
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    return text.removeprefix("-") if float(text.replace(",", "")) == 0 else text


def _pump_rate(pump_ml_h: float, resolution_ml_h: float | None) -> str:
    """A planned pump rate exactly as the pump is set (plans stored before resolutions: 0.1 mL/h)."""
    return pump_ml_h_text(pump_ml_h, resolution_ml_h or DEFAULT_RESOLUTION_ML_H)


def build_templates() -> Jinja2Templates:
    """Jinja2 with the project's filters."""
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    templates.env.filters["num"] = _number
    templates.env.filters["pump_rate"] = _pump_rate
    templates.env.globals["default_pump_resolution_ml_h"] = DEFAULT_RESOLUTION_ML_H
    templates.env.globals["bounds"] = {
        "min_weight_kg": MIN_WEIGHT_KG,
        "max_weight_kg": MAX_WEIGHT_KG,
        "min_height_cm": MIN_HEIGHT_CM,
        "max_height_cm": MAX_HEIGHT_CM,
        "min_container_volume_ml": MIN_CONTAINER_VOLUME_ML,
        "max_container_volume_ml": MAX_CONTAINER_VOLUME_ML,
    }
    templates.env.globals["app_version"] = __version__
    templates.env.globals["registry_vocabulary"] = registry_vocabulary()
    templates.env.globals["action_labels"] = {action.value: label for action, label in ACTION_LABELS.items()}
    return templates


async def _checkpoint_if_due(settings: Settings, db: Database, *, starting: bool = False) -> None:
    """The scheduled checkpoint, off the event loop; a failure is logged, never stops the server."""
    try:
        await asyncio.to_thread(
            checkpoint_if_due,
            db,
            settings.audit_checkpoint_file,
            interval_min=settings.audit_checkpoint_interval_min,
            every_events=settings.audit_checkpoint_every_events,
            starting=starting,
        )
    except Exception:  # a full disk or a database restart: try again at the next poll
        logging.getLogger("ketaclinic.audit").exception("audit checkpoint failed; retrying")


async def write_checkpoints(settings: Settings, db: Database, poll_s: float = CHECKPOINT_POLL_S) -> None:
    """After the start's checkpoint, anchor the audit chain's head on the clinic's schedule.

    Every server process polls; the file's lock and newest line make them write one checkpoint per
    due moment between them (services/audit.py).
    """
    while True:
        await asyncio.sleep(poll_s)
        await _checkpoint_if_due(settings, db)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    # The head is anchored before the first request: a restored or emptied database shows at once.
    await _checkpoint_if_due(settings, app.state.db, starting=True)
    writer = asyncio.create_task(write_checkpoints(settings, app.state.db))
    try:
        yield
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """Build the app; `settings` and `db` default to the environment's."""
    settings = settings or load_settings()
    db = db or Database.for_settings(settings)
    app = FastAPI(
        title="ketaclinic",
        version=__version__,
        description="Ketamine infusion service for refractory chronic pain. Errors are problem+json.",
        docs_url=None,  # routes/api_docs.py serves /docs from the app's own copy of Swagger UI
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.templates = build_templates()
    install_error_handlers(app)
    install_openapi(app)
    # HSTS only where the installation says it runs behind TLS (the same switch as secure cookies).
    app.add_middleware(SecurityMiddleware, hsts=settings.secure_cookies)
    # Swagger UI for /docs from the fastapi-offline package (no CDN, no copy in this tree); mounted
    # before /static, which would otherwise answer the path.
    app.mount("/static/swagger-ui", StaticFiles(directory=str(SWAGGER_UI_DIR)), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")
    nav: list[NavItem] = []
    app.state.routes = []  # every route of the route modules, for a 405's Allow (web/problems.py)
    for module_info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{routes.__name__}.{module_info.name}")
        # Every operation declares the same problem+json answers (web/openapi.py).
        app.include_router(module.router, responses=PROBLEM_RESPONSES)
        app.state.routes.extend(r for r in module.router.routes if isinstance(r, APIRoute))
        nav.extend(getattr(module, "NAV", []))
    app.state.templates.env.globals["nav_items"] = sorted(nav, key=lambda item: (item.order, item.label))
    logging.getLogger("ketaclinic").setLevel(logging.INFO)
    return app


def log_requests_to_stderr() -> None:
    """The app's one line per request (user id, route, status, duration) on stderr; once per process.

    uvicorn's own access log stays off: it would add the raw path and query string, which can name a
    patient.
    """
    logger = logging.getLogger("ketaclinic")
    if any(getattr(h, _SERVE_HANDLER, False) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    setattr(handler, _SERVE_HANDLER, True)
    logger.addHandler(handler)


_SERVE_HANDLER = "ketaclinic_serve"


def create_worker_app() -> FastAPI:
    """One server process of `serve --workers N`: the environment's settings, its requests logged.

    Each process is stateless: what processes must share lives in the database (logins, tokens, login
    throttling, the audit chain's head) or in the checkpoint file under its lock, and live events
    reach every process through PostgreSQL's NOTIFY.
    """
    log_requests_to_stderr()
    return create_app()
