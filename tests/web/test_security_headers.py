"""Security headers on pages, the API, public questionnaire pages and static files; /docs offline."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from ketaclinic.services.outcomes.links import LinkIn, issue_link
from ketaclinic.services.permissions import Actor
from ketaclinic.settings import Settings
from ketaclinic.store.db import Database
from ketaclinic.web.app import WEB_DIR, create_app
from ketaclinic.web.downloads import content_disposition
from ketaclinic.web.security import CONTENT_SECURITY_POLICY, csp_with_style_hashes
from tests.services.test_outcomes_service import treated

Client = Callable[[str | None], TestClient]


def _assert_hardened(answer: Response, *, no_store: bool) -> None:
    csp = answer.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'" and directives["form-action"] == "'self'"
    assert directives["base-uri"] == "'none'" and directives["object-src"] == "'none'"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    permissions = answer.headers["permissions-policy"]
    for feature in ("camera", "microphone", "geolocation"):
        assert f"{feature}=()" in permissions
    if no_store:
        assert answer.headers["cache-control"] == "no-store"
    else:
        assert "no-store" not in answer.headers.get("cache-control", "")
    assert "strict-transport-security" not in answer.headers  # secure cookies are off in tests


def test_a_page_an_api_answer_and_an_error_carry_every_header_and_no_store(
    page_client: Callable[[str], TestClient], api_client: Client
) -> None:
    nurse = page_client("nurse")
    _assert_hardened(nurse.get("/patients"), no_store=True)
    login = nurse.get("/login")
    assert "frame-ancestors 'self'" in login.headers["content-security-policy"]  # the re-login dialog
    assert login.headers["x-frame-options"] == "SAMEORIGIN" and login.headers["cache-control"] == "no-store"
    _assert_hardened(api_client("nurse").get("/api/v1/patients"), no_store=True)
    _assert_hardened(api_client(None).get("/api/v1/patients"), no_store=True)  # the 401 too
    _assert_hardened(api_client("nurse").get("/api/v1/patients/999999"), no_store=True)  # a 404


def test_static_files_carry_the_headers_and_may_be_cached(api_client: Client) -> None:
    for asset in (
        "/static/app.css",
        "/static/app.js",
        "/static/htmx.min.js",
        "/static/swagger-ui/swagger-ui.css",
    ):
        answer = api_client(None).get(asset)
        assert answer.status_code == 200, asset
        _assert_hardened(answer, no_store=False)


def test_the_public_questionnaire_page_is_not_stored_and_sends_no_referrer(
    api_client: Client, web_db: Database, web_staff: dict[str, Actor]
) -> None:
    course = treated(web_db, web_staff["nurse"], "H1", 8, {}, series_end=date.today() - timedelta(days=8))
    item = next(f for f in course.followups if f.weeks_after_series == 1)
    token = issue_link(web_db, web_staff["nurse"], LinkIn(followup_item_id=item.id)).token
    page = api_client(None).get(f"/r/{token}")
    assert page.status_code == 200, page.text
    _assert_hardened(page, no_store=True)


def test_hsts_is_sent_when_the_installation_runs_behind_tls(settings: Settings, web_db: Database) -> None:
    secure = Settings(
        database_url=settings.database_url,
        secret_key=settings.secret_key,
        var_dir=settings.var_dir,
        secure_cookies=True,
    )
    answer = TestClient(create_app(secure, web_db)).get("/health")
    assert answer.headers["strict-transport-security"].startswith("max-age=31536000")


def test_docs_serve_swagger_ui_from_the_app_and_the_openapi_path_is_real(app: FastAPI) -> None:
    client = TestClient(app)
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert (
        "/static/swagger-ui/swagger-ui-bundle.js" in docs.text
        and 'data-openapi-url="/api/v1/openapi.json"' in docs.text
    )
    assert "cdn" not in docs.text.lower() and "<script>" not in docs.text
    assert client.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "ketaclinic"
    readme = (WEB_DIR.parents[2] / "README.md").read_text(encoding="utf-8")
    assert "/api/v1/openapi.json" in readme


def test_no_template_has_an_inline_script_handler_or_style() -> None:
    offenders = []
    for template in sorted((WEB_DIR / "templates").rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        for needle in (
            "<script>",
            "javascript:",
            " onclick=",
            " onsubmit=",
            " onchange=",
            " oninput=",
            " onload=",
            "hx-on",
            " style=",
            "<style",
        ):
            if needle in text:
                offenders.append(f"{template.relative_to(WEB_DIR)}: {needle.strip()}")
    assert offenders == []


def test_the_printable_report_allows_exactly_its_own_style_sheet() -> None:
    document = "<html><head><style>body { color: red; }</style></head><body></body></html>"
    policy = csp_with_style_hashes(document)
    assert "style-src 'self' 'sha256-" in policy and "unsafe-inline" not in policy
    assert policy.replace(policy.split("style-src ")[1].split(";")[0], "'self'") == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    ("name", "fallback", "encoded"),
    [
        ("cohort-clinic-default.csv", "cohort-clinic-default.csv", "cohort-clinic-default.csv"),
        (
            'cohort-a"b\r\nSet-Cookie: x=1.csv',
            "cohort-abSet-Cookie: x=1.csv",
            "cohort-a%22b%0D%0ASet-Cookie%3A%20x%3D1.csv",
        ),
        ("kohorte-müller.json", "kohorte-mller.json", "kohorte-m%C3%BCller.json"),
        ("../etc\\passwd", ".._etc_passwd", ".._etc_passwd"),
    ],
)
def test_download_names_are_encoded_and_cannot_split_the_header(
    name: str, fallback: str, encoded: str
) -> None:
    header = content_disposition(name)
    assert header == f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    assert "\r" not in header and "\n" not in header


def test_the_threat_model_table_names_only_tests_that_exist() -> None:
    """docs/security.md's HIPAA and Part 11 table cites test files and tests: each must be there."""
    root = WEB_DIR.parents[2]
    page = (root / "docs" / "security.md").read_text(encoding="utf-8")
    table = page[page.index("## HIPAA 164.312 and 21 CFR Part 11") :]
    cited: list[str] = []
    current = ""
    for match in re.finditer(r"`(tests/[\w/]+\.py)(?:::(\w+))?`|`::(\w+)`", table):
        current = match.group(1) or current
        name = match.group(2) or match.group(3)
        source = (root / current).read_text(encoding="utf-8")
        if name:
            assert f"def {name}(" in source, f"{current}::{name}"
        cited.append(f"{current}::{name}")
    assert len(cited) >= 30
    for requirement in (
        "164.312(a)(1)",
        "(a)(2)(iii) automatic logoff",
        "164.312(e)(1)",
        "11.10(f)",
        "11.300",
    ):
        assert requirement in table
