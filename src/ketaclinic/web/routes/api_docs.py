"""The API reference page: Swagger UI served from the app's own static copy (no CDN)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

router = APIRouter()


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def api_docs(request: Request) -> Response:
    """Swagger UI over this app's OpenAPI document; it works with no network."""
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "api_docs.html", {"title": request.app.title, "openapi_url": request.app.openapi_url}
    )
