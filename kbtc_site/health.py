"""``/healthz``: each configured dependency, plus the trader's heartbeat.

Non-200 only when a configured dependency (database; Redis where configured) is down.
The trader heartbeat is reported ("running", "stale", "not running") but never fails the
check: the web tier is healthy whether or not the daemon is up. Beside it, ``trader.reported``
is what the running trader last said of itself on its ``health`` topic: each feed's state and
malformed-frame count, its database writes and Redis publishes, events it failed on, and
overrides it could not apply, so a trader that beats but cannot trade well is visible here.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from trading import live
from trading.selectors import trader_heartbeat

FEED_FIELDS = (
    "state",
    "malformed",
    "malformed_reasons",
    "handler_errors",
    "reconnects",
    "last_message_age_ms",
    "last_error",
)
TRADER_FIELDS = ("db", "redis", "event_errors", "orders_unfilled", "params_error")


def check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"; the message says why
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "vendor": connection.vendor}


def check_redis() -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(str(settings.ENV.redis_url), socket_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        client.close()
    return {"ok": True}


def trader_reported_payload() -> dict[str, Any] | None:
    """The trader's latest ``health`` payload as published; None when there is none (or the
    cache that holds it is away: the Redis check says so)."""
    try:
        return live.latest_payloads().get(("health", ""))
    except Exception:
        return None


def trader_reported() -> dict[str, Any] | None:
    """The trader's latest ``health`` payload, trimmed for ``/healthz``."""
    payload = trader_reported_payload()
    if payload is None:
        return None
    reported: dict[str, Any] = {"ts": payload.get("ts")}
    reported.update({name: payload[name] for name in TRADER_FIELDS if name in payload})
    reported["feeds"] = {
        feed.get("name", "?"): {name: feed.get(name) for name in FEED_FIELDS}
        for feed in payload.get("feeds", [])
    }
    return reported


def healthz(request: HttpRequest) -> JsonResponse:
    started = time.monotonic()
    checks: dict[str, dict[str, Any]] = {"database": check_database()}
    if settings.ENV.redis_url:
        checks["redis"] = check_redis()
    healthy = all(check["ok"] for check in checks.values())
    trader: dict[str, Any] = (
        trader_heartbeat() if checks["database"]["ok"] else {"state": "unknown"}
    )
    # The report is cached in Redis where Redis is configured: not read when the check has
    # just found it down (a server that never answers would hold this page).
    if trader["state"] != "not running" and checks.get("redis", {"ok": True})["ok"]:
        reported = trader_reported()
        if reported is not None:
            trader["reported"] = reported
    body = {
        "status": "ok" if healthy else "degraded",
        "checks": checks,
        "trader": trader,
        "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
    }
    return JsonResponse(body, status=200 if healthy else 503)
