"""Settings from environment variables, with safe defaults for a single-machine clinic install."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ketaclinic.errors import InputError

DEFAULT_VAR_DIR = Path("var")
# Local policy: an API token's lifetime when its creator picks none, and the longest it may be given
# (a year, so every token is looked at again).
DEFAULT_API_TOKEN_DAYS = 90
MAX_API_TOKEN_DAYS = 365
DEFAULT_MAIL_FROM = "clinic@localhost"
DEFAULT_PUBLIC_URL = "http://localhost:8000"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the app reads from its environment."""

    database_url: str
    secret_key: str
    var_dir: Path
    idle_timeout_min: int = 15
    idle_warning_min: int = 2  # local policy: how long before the idle logout an open screen warns
    # Local policy: a login ends this long after it began, however active (a shared workstation left
    # logged in overnight is closed by morning).
    session_max_hours: int = 12
    # Local policy: how long a new API token answers unless its creator picks another lifetime.
    api_token_days: int = DEFAULT_API_TOKEN_DAYS
    config_dir: Path | None = None
    secure_cookies: bool = False
    audit_checkpoints: Path | None = None  # None: var_dir / "audit-checkpoints"
    # Local policy: how often the server anchors the audit chain's head outside the database.
    audit_checkpoint_interval_min: int = 60
    audit_checkpoint_every_events: int = 1000
    # The live event stream: a comment this often keeps proxies from closing it and re-checks the login;
    # after `live_stream_max_s` it ends and the browser reconnects (no connection lives for ever).
    live_heartbeat_s: float = 15.0
    live_stream_max_s: float = 3600.0
    # Messages to patients (docs/messages.md): the SMTP server (None: e-mail is not set up, messages
    # wait queued), the From address, and the address patients reach the app at (links in messages).
    smtp_url: str | None = None
    mail_from: str = DEFAULT_MAIL_FROM
    public_url: str = DEFAULT_PUBLIC_URL

    @property
    def is_sqlite(self) -> bool:
        """True when the store is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def audit_checkpoint_file(self) -> Path:
        """The append-only file of audit chain checkpoints (KETACLINIC_AUDIT_CHECKPOINTS)."""
        return self.audit_checkpoints or self.var_dir / "audit-checkpoints"


def _read_or_create_secret(var_dir: Path) -> str:
    """Keep a generated secret key in var/ so sessions survive a restart."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key + "\n", encoding="utf-8")
    path.chmod(0o600)
    return key


def _whole_number(
    source: Mapping[str, str], name: str, default: int, unit: str = "minutes", maximum: int | None = None
) -> int:
    """A whole number from 1 (to `maximum`) from the environment, or an InputError naming the variable."""
    raw = source.get(name, str(default)).strip()
    if not raw.isdecimal() or int(raw) < 1 or (maximum is not None and int(raw) > maximum):
        bound = f"between 1 and {maximum}" if maximum is not None else "of at least 1"
        raise InputError(f"expected a whole number of {unit} {bound}, got {raw!r}", field=name)
    return int(raw)


def _flag(source: Mapping[str, str], name: str) -> bool:
    """A 0/1 switch from the environment, or an InputError naming the variable."""
    raw = source.get(name, "0").strip()
    if raw not in ("0", "1"):
        raise InputError(f"expected 0 or 1, got {raw!r}", field=name)
    return raw == "1"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read KETACLINIC_* variables; generate and keep the secret key on first start."""
    source = os.environ if env is None else env
    var_dir = Path(source.get("KETACLINIC_VAR_DIR", str(DEFAULT_VAR_DIR)))
    database_url = (
        source.get("KETACLINIC_DATABASE_URL") or f"sqlite:///{(var_dir / 'ketaclinic.db').as_posix()}"
    )
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    secret_key = source.get("KETACLINIC_SECRET_KEY") or _read_or_create_secret(var_dir)
    config_dir = source.get("KETACLINIC_CONFIG_DIR")
    checkpoints = source.get("KETACLINIC_AUDIT_CHECKPOINTS")
    return Settings(
        database_url=database_url,
        secret_key=secret_key,
        var_dir=var_dir,
        idle_timeout_min=_whole_number(source, "KETACLINIC_IDLE_TIMEOUT_MIN", 15),
        idle_warning_min=_whole_number(source, "KETACLINIC_IDLE_WARNING_MIN", 2),
        session_max_hours=_whole_number(source, "KETACLINIC_SESSION_MAX_HOURS", 12, unit="hours"),
        api_token_days=_whole_number(
            source,
            "KETACLINIC_API_TOKEN_DAYS",
            DEFAULT_API_TOKEN_DAYS,
            unit="days",
            maximum=MAX_API_TOKEN_DAYS,
        ),
        config_dir=Path(config_dir) if config_dir else None,
        secure_cookies=_flag(source, "KETACLINIC_SECURE_COOKIES"),
        audit_checkpoints=Path(checkpoints) if checkpoints else None,
        audit_checkpoint_interval_min=_whole_number(source, "KETACLINIC_AUDIT_CHECKPOINT_INTERVAL_MIN", 60),
        audit_checkpoint_every_events=_whole_number(
            source, "KETACLINIC_AUDIT_CHECKPOINT_EVERY_EVENTS", 1000, unit="events"
        ),
        live_heartbeat_s=float(_whole_number(source, "KETACLINIC_LIVE_HEARTBEAT_S", 15, unit="seconds")),
        live_stream_max_s=float(_whole_number(source, "KETACLINIC_LIVE_STREAM_MAX_S", 3600, unit="seconds")),
        smtp_url=source.get("KETACLINIC_SMTP_URL") or None,
        mail_from=source.get("KETACLINIC_MAIL_FROM") or DEFAULT_MAIL_FROM,
        public_url=_public_url(source.get("KETACLINIC_PUBLIC_URL") or DEFAULT_PUBLIC_URL),
    )


def _public_url(raw: str) -> str:
    """The app's address as patients reach it, without a trailing slash, or an InputError."""
    url = raw.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url) < 10:
        raise InputError(
            f"expected an http:// or https:// address, got {raw!r}", field="KETACLINIC_PUBLIC_URL"
        )
    return url
