"""Typed settings from the environment (one place, parsed once at startup).

No environment at all gives the embedded demo profile. ``DATABASE_URL`` (plus
``REDIS_URL``) selects the server profile used by tests and production; ``KBTC_ENV=production``
adds the production safety checks. A bad value stops startup with the variable's name and
what it expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kbtc_core.net import on_loopback

BASE_DIR = Path(__file__).resolve().parent.parent


# Days kept by default: (embedded demo, server).
RETENTION_DEFAULTS = {"events": (1, 14), "book_snapshots": (2, 30), "decisions": (3, 90)}


class Env(BaseSettings):
    """Every setting KBTC reads; the field name upper-cased is the variable's name."""

    # An empty variable counts as unset (as docker-compose env files write them).
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_ignore_empty=True)

    kbtc_env: Literal["development", "production"] = "development"
    kbtc_secret_key: str = ""
    kbtc_debug: bool = False
    kbtc_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost"]
    )
    kbtc_csrf_trusted_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    kbtc_api_auth: bool = True
    kbtc_anonymous_reads: bool | None = None
    kbtc_log_format: Literal["console", "json"] | None = None
    kbtc_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    kbtc_data_dir: Path = BASE_DIR / "var"
    kbtc_db_conn_max_age: int = Field(default=0, ge=0)
    kbtc_heartbeat_stale_s: int = Field(default=15, ge=1)
    kbtc_backtest_stale_s: int = Field(default=60, ge=1)
    kbtc_db_wait_s: int = Field(default=30, ge=0)
    kbtc_series_ticker: str = "KXBTC15M"
    kbtc_history: Path | None = None
    # Real KXBTC15M settlements (CSV of Kalshi's settled markets) for the simulator.
    kbtc_settled: Path | None = None
    kbtc_sim_spread: Literal["real", "tight"] = "real"
    kbtc_sim_seed: int = 7
    kbtc_sim_speed: float = Field(default=60.0, gt=0)
    # Unset: on exactly when the market feeds are not on loopback (see ``wall_clock_ticks``).
    kbtc_wall_clock_ticks: bool | None = None
    # Discord webhooks, one per channel (domain.md §8); unset = that channel is off.
    discord_trades_webhook: str = ""
    discord_live_trades_webhook: str = ""
    discord_risk_webhook: str = ""
    discord_heartbeat_webhook: str = ""
    discord_errors_webhook: str = ""
    discord_attribution_webhook: str = ""
    # The original's single shared bearer token for its scripts (domain.md §9.1), beside the
    # per-user tokens; empty: not accepted.
    dashboard_api_token: str = ""

    # /metrics: with a token, scrapers send it as a bearer token; without, loopback only.
    kbtc_metrics_token: str = ""

    # Retention (kbtc_site/retention.py), in days of the trading clock; unset: the profile's
    # default (``retention_days``). Events are archived before they are deleted.
    kbtc_retain_events_days: int | None = Field(default=None, ge=1)
    kbtc_retain_book_snapshots_days: int | None = Field(default=None, ge=1)
    kbtc_retain_decisions_days: int | None = Field(default=None, ge=1)

    # Backups (docs/runbooks/backups.md): local dumps, and S3-compatible storage when a bucket
    # is set. The schedule is a crontab in UTC that ``sync_schedules`` writes to beat.
    kbtc_backup_dir: Path | None = None  # default: KBTC_DATA_DIR/backups
    kbtc_backup_schedule: str = "30 3 * * *"
    kbtc_backup_keep_days: int = Field(default=7, ge=1)
    kbtc_backup_s3_bucket: str = ""
    kbtc_backup_s3_prefix: str = "kbtc/"
    kbtc_backup_s3_endpoint_url: str = ""  # empty: AWS itself
    kbtc_backup_s3_region: str = "us-east-1"
    kbtc_backup_s3_access_key_id: str = ""
    kbtc_backup_s3_secret_access_key: str = ""
    kbtc_backup_s3_keep_days: int = Field(default=30, ge=1)
    port: int = Field(default=8000, ge=1, le=65535)

    database_url: str | None = None
    redis_url: str | None = None

    # Which Kalshi: ``KALSHI_ENV`` picks its URLs; an explicit KALSHI_API_URL/WS_URL wins.
    kalshi_env: Literal["demo", "prod"] | None = None
    kalshi_api_url: str = "https://external-api.kalshi.com/trade-api/v2"
    kalshi_ws_url: str = "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
    coinbase_ws_url: str = "wss://advanced-trade-ws.coinbase.com"
    binance_api_url: str = "https://api.binance.us"
    kalshi_api_key_id: str = ""
    kalshi_private_key_path: Path | None = None

    @field_validator("kbtc_allowed_hosts", "kbtc_csrf_trusted_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator(
        "discord_trades_webhook",
        "discord_live_trades_webhook",
        "discord_risk_webhook",
        "discord_heartbeat_webhook",
        "discord_errors_webhook",
        "discord_attribution_webhook",
    )
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        # A typo here would otherwise surface only as a failing channel at the first post.
        parts = urlsplit(value)
        if value and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise ValueError("an http:// or https:// webhook URL")
        return value

    @field_validator("kbtc_backup_schedule")
    @classmethod
    def _crontab(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("a crontab of 5 fields (minute hour day month weekday), in UTC")
        return value

    @model_validator(mode="after")
    def _backup_keys_in_pairs(self) -> Env:
        if bool(self.kbtc_backup_s3_access_key_id) != bool(self.kbtc_backup_s3_secret_access_key):
            names = "KBTC_BACKUP_S3_ACCESS_KEY_ID, KBTC_BACKUP_S3_SECRET_ACCESS_KEY"
            raise ValueError(f"{names}: set both or neither")
        return self

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("a postgres:// or postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://")):
            raise ValueError("a redis:// or rediss:// URL")
        return value

    @model_validator(mode="after")
    def _production_is_safe(self) -> Env:
        if self.kbtc_env != "production":
            return self
        if len(self.kbtc_secret_key) < 50:
            raise ValueError("KBTC_SECRET_KEY: production needs a secret key of 50+ characters")
        if not self.kbtc_api_auth:
            raise ValueError("KBTC_API_AUTH: production refuses to run with API auth off")
        if self.kbtc_debug:
            raise ValueError("KBTC_DEBUG: production refuses to run with debug on")
        if self.database_url is None or self.redis_url is None:
            raise ValueError("DATABASE_URL, REDIS_URL: production needs PostgreSQL and Redis")
        return self

    @field_validator("dashboard_api_token")
    @classmethod
    def _token_is_long(cls, value: str) -> str:
        # It acts as an operator with no password and no expiry: a guessable one is a hole.
        if value and len(value) < 32:
            raise ValueError("at least 32 characters (or empty to turn it off)")
        return value

    @property
    def embedded(self) -> bool:
        """No database URL: the one-process demo on SQLite and in-memory layers."""
        return self.database_url is None

    def retention_days(self, table: Literal["events", "book_snapshots", "decisions"]) -> int:
        """As set, else the default: the demo keeps little (it must cap its own disk), a
        server keeps weeks (the archive keeps the events beyond)."""
        value = getattr(self, f"kbtc_retain_{table}_days")
        if value is not None:
            return int(value)
        return RETENTION_DEFAULTS[table][0 if self.embedded else 1]

    @property
    def backup_dir(self) -> Path:
        return self.kbtc_backup_dir or self.kbtc_data_dir / "backups"

    @property
    def discord_webhooks(self) -> dict[str, str]:
        """Channel name → webhook URL, for the channels that are on."""
        urls = {
            "trades": self.discord_trades_webhook,
            "live_trades": self.discord_live_trades_webhook,
            "risk": self.discord_risk_webhook,
            "heartbeat": self.discord_heartbeat_webhook,
            "errors": self.discord_errors_webhook,
            "attribution": self.discord_attribution_webhook,
        }
        return {channel: url for channel, url in urls.items() if url}

    @property
    def kalshi_urls(self) -> tuple[str, str]:
        """(REST, WS) base URLs: explicit ones win over ``KALSHI_ENV``'s, which win over
        the defaults (production's public market data, read-only without a key)."""
        api, ws = KALSHI_ENV_URLS.get(
            self.kalshi_env or "", (self.kalshi_api_url, self.kalshi_ws_url)
        )
        if "kalshi_api_url" in self.model_fields_set:
            api = self.kalshi_api_url
        if "kalshi_ws_url" in self.model_fields_set:
            ws = self.kalshi_ws_url
        return api, ws

    @property
    def kalshi_named(self) -> bool:
        """Whether the exchange was named (``KALSHI_ENV`` or both URLs): live mode needs it,
        never a silent default to production."""
        explicit = {"kalshi_api_url", "kalshi_ws_url"} <= self.model_fields_set
        return self.kalshi_env is not None or explicit

    @property
    def production(self) -> bool:
        return self.kbtc_env == "production"

    @property
    def wall_clock_ticks(self) -> bool:
        """The trader's wall-clock ticks in quiet spells (interfaces.md §4): as set, else on
        when the market feeds are remote (the real exchanges, whose time is wall time) and
        off when one is on loopback (the simulator listens only there, and its heartbeats
        carry simulated time, which a wall-clock tick would jump)."""
        if self.kbtc_wall_clock_ticks is not None:
            return self.kbtc_wall_clock_ticks
        feeds = (self.kalshi_api_url, self.kalshi_ws_url, self.coinbase_ws_url)
        return not any(on_loopback(url) for url in feeds)


# exchange-protocols.md §1.1 (the recommended hosts) and §2.1
KALSHI_ENV_URLS: dict[str, tuple[str, str]] = {
    "prod": (
        "https://external-api.kalshi.com/trade-api/v2",
        "wss://external-api-ws.kalshi.com/trade-api/ws/v2",
    ),
    "demo": (
        "https://external-api.demo.kalshi.co/trade-api/v2",
        "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2",
    ),
}


def describe_error(error: ValidationError) -> str:
    """One line per bad variable: its name and what it expected."""
    lines = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        given = item.get("input")
        shown = "" if name == "" or isinstance(given, dict) else f" (got {given!r})"
        lines.append(f"{name or 'settings'}: {message}{shown}")
    return "; ".join(lines)


def load_env() -> Env:
    """Parse the environment or stop startup naming the variable that is wrong."""
    try:
        return Env()
    except ValidationError as error:
        raise ImproperlyConfigured(f"bad environment: {describe_error(error)}") from None
