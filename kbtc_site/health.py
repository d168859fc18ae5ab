"""``/healthz``: each configured dependency, plus the trader's heartbeat.

Non-200 only when a configured dependency (database; Redis where configured) is down;
``status`` also reads "degraded" (with 200) when the trader reports a trouble that needs
the operator (the health panel's red ones: lost journal events, an unreachable store).
The trader heartbeat is reported ("running", "stale", "not running") but never fails the
check: the web tier is healthy whether or not the daemon is up. Beside it, ``trader.reported``
is what the running trader last said of itself on its ``health`` topic: each feed's state and
malformed-frame count, its database writes and Redis publishes, events it failed on, and
overrides it could not apply, so a trader that beats but cannot trade well is visible here.
``notifications`` is each Discord channel's state (off, ok, failing with its last error).

That detail (process ids, host names, error texts) is for operators and, where anonymous
reads are on (the demo), for everyone; an anonymous caller in production gets only the
verdict: ``status``, each check's ``ok`` and the trader's ``state``.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from kbtc_core.permissions import is_operator
from trading import push
from trading.health_panel import trader_troubles
from trading.notifications.status import channel_states
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
TRADER_FIELDS = (
    "db",
    "redis",
    "event_errors",
    "orders_unfilled",
    "params_error",
    "recorder",
    "held_contracts",
)


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
        return push.latest_payloads().get(("health", ""))
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
    # The health panel's list, the same words: what needs the operator is "bad".
    reported["troubles"] = [
        {"level": t["level"], "text": f"{t['label']}: {t['text']}"}
        for t in trader_troubles(payload)
    ]
    return reported


def may_see_detail(request: HttpRequest, *, database_ok: bool) -> bool:
    """Anonymous reads on, or an operator: by session or by ``Authorization: Bearer``. Who is
    asking is read from the database: with it down, only the verdict (never a 500)."""
    if settings.ANONYMOUS_READS:
        return True
    if not database_ok:
        return False
    if is_operator(getattr(request, "user", None)):
        return True
    try:
        found = TokenAuthentication().authenticate(Request(request))
    except AuthenticationFailed:
        return False
    return found is not None and is_operator(found[0])


def verdict_only(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": body["status"],
        "checks": {name: {"ok": check["ok"]} for name, check in body["checks"].items()},
        "trader": {"state": body["trader"]["state"]},
    }


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
    # A trader trouble that needs the operator (losing journal events, an unreachable store,
    # refused parameters) degrades the verdict; the code stays 200, since the web tier
    # itself is up and restarting it would not help.
    troubled = any(t["level"] == "bad" for t in trader.get("reported", {}).get("troubles", []))
    body = {
        "status": "ok" if healthy and not troubled else "degraded",
        "checks": checks,
        "trader": trader,
        # Reported, never failing the check; read from the cache, so only when it is up.
        "notifications": channel_states() if checks.get("redis", {"ok": True})["ok"] else None,
        "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
    }
    if not may_see_detail(request, database_ok=checks["database"]["ok"]):
        body = verdict_only(body)
    return JsonResponse(body, status=200 if healthy else 503)
