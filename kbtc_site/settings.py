"""The one settings module. Everything variable comes from ``env.ENV``."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF, UNSAFE_INLINE

from kbtc_site.env import BASE_DIR, load_env
from kbtc_site.logging import build_logging

django_stubs_ext.monkeypatch()  # lets admin/queryset classes be subscripted at runtime

ENV = load_env()
EMBEDDED = ENV.embedded

DEBUG = ENV.kbtc_debug
# The embedded demo needs no secret from the user: it makes one per data directory.
if ENV.kbtc_secret_key:
    SECRET_KEY = ENV.kbtc_secret_key
else:
    _key_file = ENV.kbtc_data_dir / "secret_key"
    if not _key_file.exists():
        ENV.kbtc_data_dir.mkdir(parents=True, exist_ok=True)
        _key_file.write_text(secrets.token_urlsafe(64))
        _key_file.chmod(0o600)
    SECRET_KEY = _key_file.read_text().strip()

ALLOWED_HOSTS = ENV.kbtc_allowed_hosts
CSRF_TRUSTED_ORIGINS = ENV.kbtc_csrf_trusted_origins

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "channels",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "django_celery_beat",
    "kbtc_site",
    "marketdata",
    "trading",
    "backtests",
    "attribution",
    "mlgate",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "kbtc_core.input_bounds.RequestBoundsMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out login
]

# Login lockout (django-axes): five failed passwords for one username from one address lock
# that pair out for half an hour; keyed on the pair so that nobody can lock the operator out
# from elsewhere by guessing at their name. Unlock: ``manage.py axes_reset_username NAME``
# (or ``axes_reset_ip``, ``axes_reset``), or delete the access attempts in the admin.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429

ROOT_URLCONF = "kbtc_site.urls"
ASGI_APPLICATION = "kbtc_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if EMBEDDED:
    ENV.kbtc_data_dir.mkdir(parents=True, exist_ok=True)
    DATABASES: dict[str, dict[str, Any]] = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ENV.kbtc_data_dir / "kbtc.sqlite3",
            "OPTIONS": {
                # WAL lets the dashboard read while the trader writes; the busy timeout and
                # IMMEDIATE transactions stop "database is locked" under that concurrency.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
else:
    DATABASES = {"default": dict(dj_database_url.parse(str(ENV.database_url)))}
    DATABASES["default"]["CONN_MAX_AGE"] = ENV.kbtc_db_conn_max_age
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = ENV.kbtc_db_conn_max_age > 0
    DATABASES["default"]["OPTIONS"] = {"connect_timeout": 5}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if ENV.redis_url:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [ENV.redis_url],
                "prefix": "kbtc:channels",
                "capacity": 100,
                "expiry": 60,
                "group_expiry": 86400,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": ENV.redis_url,
            "KEY_PREFIX": "kbtc",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = ENV.kbtc_data_dir / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
if not ENV.production:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the source folders outside production, so the demo needs no
# collectstatic step; production serves the collected, compressed copies.
WHITENOISE_USE_FINDERS = not ENV.production
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "/admin/login/"

# Security: strict in production (behind a TLS-terminating proxy), relaxed for loopback demo.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the cookie for hx-post
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# The one body bound: Django's forms, the API's JSON parser and kbtc_core/input_bounds.py's
# middleware all read it. Every legitimate body is a few hundred bytes (a control or an
# override); a megabyte leaves room for an admin form and none for a memory-filling upload.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1_048_576
# Scripts only from our own files (no inline script, no eval): an injected <script> or
# on*= attribute does nothing. Inline styles stay allowed: the partials draw bars with
# style="width: …" and the API docs page (drf-spectacular's template) has a <style> block.
# Swagger UI draws its icons from data: images.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
if ENV.production:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Anonymous reads: on in the loopback-only demo, off in production unless asked for.
ANONYMOUS_READS = (
    ENV.kbtc_anonymous_reads if ENV.kbtc_anonymous_reads is not None else not ENV.production
)
API_AUTH = ENV.kbtc_api_auth
DASHBOARD_API_TOKEN = ENV.dashboard_api_token

REST_FRAMEWORK = {
    # Bearer tokens first: an unauthenticated or wrong-token call then gets 401 with a
    # WWW-Authenticate header; the browser's session (with CSRF) is tried when no token is sent.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "kbtc_site.dashboard_token.DashboardTokenAuthentication",
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["kbtc_core.permissions.OperatorOrReadOnly"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "kbtc_site.api_errors.api_exception_handler",
    # JSON only, bounded in size and depth, no NaN/Infinity (kbtc_core/input_bounds.py).
    "DEFAULT_PARSER_CLASSES": ["kbtc_core.input_bounds.BoundedJSONParser"],
}
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": timedelta(days=90),
    "TOKEN_LIMIT_PER_USER": 10,
}
SPECTACULAR_SETTINGS = {
    # Swagger UI served from the sidecar package: the docs page works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "TITLE": "KBTC API",
    "DESCRIPTION": (
        "The original's paths and answer shapes (status, trades, equity, stats, controls)"
        " plus positions, decisions and the controls' state. Every path answers with and"
        " without a trailing slash. Writes need an operator: `Authorization: Bearer <token>`"
        " (a per-user token from `manage.py create_api_token`, or `DASHBOARD_API_TOKEN`) or"
        " a staff session with CSRF. Money and prices are float dollars (display figures)."
    ),
    "PREPROCESSING_HOOKS": ["kbtc_site.schema.drop_slash_twins"],
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Lanes and trading modes are the same choice set (paper/live): one schema name for both.
    "ENUM_NAME_OVERRIDES": {
        "PaperLiveEnum": "trading.models.Lane",
        "StudyStatusEnum": "backtests.models.StudyStatus",
    },
}

# Celery: Redis broker in the server profile; eager (in-process) in the embedded demo.
CELERY_BROKER_URL = ENV.redis_url or "memory://"
CELERY_TASK_ALWAYS_EAGER = EMBEDDED
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 3600
CELERY_TASK_SOFT_TIME_LIMIT = 3300
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 7200}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
DJANGO_CELERY_BEAT_TZ_AWARE = True

LOGGING = build_logging(
    json=(ENV.kbtc_log_format or ("json" if ENV.production else "console")) == "json",
    level=ENV.kbtc_log_level,
)

KBTC: dict[str, Any] = {
    "SERIES_TICKER": ENV.kbtc_series_ticker,
    "HEARTBEAT_STALE_S": ENV.kbtc_heartbeat_stale_s,
    "BACKTEST_STALE_S": ENV.kbtc_backtest_stale_s,
    "DB_WAIT_S": ENV.kbtc_db_wait_s,
    "HISTORY": ENV.kbtc_history,
    "SETTLED": ENV.kbtc_settled,
    "SIM_SPREAD": ENV.kbtc_sim_spread,
    "SIM_SEED": ENV.kbtc_sim_seed,
    "SIM_SPEED": ENV.kbtc_sim_speed,
    "WALL_CLOCK_TICKS": ENV.wall_clock_ticks,
    "DATA_DIR": ENV.kbtc_data_dir,
    "KALSHI_API_URL": ENV.kalshi_urls[0],
    "KALSHI_WS_URL": ENV.kalshi_urls[1],
    "KALSHI_ENV": ENV.kalshi_env,
    "KALSHI_NAMED": ENV.kalshi_named,
    "COINBASE_WS_URL": ENV.coinbase_ws_url,
    "BINANCE_API_URL": ENV.binance_api_url,
    "KALSHI_API_KEY_ID": ENV.kalshi_api_key_id,
    "KALSHI_PRIVATE_KEY_PATH": ENV.kalshi_private_key_path,
    "DISCORD_WEBHOOKS": ENV.discord_webhooks,
    "METRICS_TOKEN": ENV.kbtc_metrics_token,
    "RETAIN_EVENTS_DAYS": ENV.retention_days("events"),
    "RETAIN_BOOK_SNAPSHOTS_DAYS": ENV.retention_days("book_snapshots"),
    "RETAIN_DECISIONS_DAYS": ENV.retention_days("decisions"),
    "BACKUP_DIR": ENV.backup_dir,
    "BACKUP_SCHEDULE": ENV.kbtc_backup_schedule,
    "BACKUP_KEEP_DAYS": ENV.kbtc_backup_keep_days,
    "BACKUP_S3_BUCKET": ENV.kbtc_backup_s3_bucket,
    "BACKUP_S3_PREFIX": ENV.kbtc_backup_s3_prefix,
    "BACKUP_S3_ENDPOINT_URL": ENV.kbtc_backup_s3_endpoint_url,
    "BACKUP_S3_REGION": ENV.kbtc_backup_s3_region,
    "BACKUP_S3_ACCESS_KEY_ID": ENV.kbtc_backup_s3_access_key_id,
    "BACKUP_S3_SECRET_ACCESS_KEY": ENV.kbtc_backup_s3_secret_access_key,
    "BACKUP_S3_KEEP_DAYS": ENV.kbtc_backup_s3_keep_days,
}
