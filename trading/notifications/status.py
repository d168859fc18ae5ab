"""Each channel's state for the health panel and ``/healthz``: off, ok or failing.

The transport task (a Celery worker, or the trader's own thread in the embedded profile)
writes the outcome of every post to the cache; the web process reads it. Off is the
configuration: no webhook URL for that channel.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from django.conf import settings
from django.core.cache import cache

from trading.notifications.embeds import CHANNELS
from trading.notifications.transport import Delivery

log = structlog.get_logger(__name__)

KEY = "notifications:channel:{}"
KEEP_S = 7 * 86_400


def webhooks() -> dict[str, str]:
    urls: dict[str, str] = settings.KBTC["DISCORD_WEBHOOKS"]
    return urls


def delivery_record(channel: str, delivery: Delivery) -> None:
    """Store the outcome; a cache that is away is logged, never raised (the post is done)."""
    state = {
        "state": "ok" if delivery.ok else "failing",
        "last_error": delivery.error,
        "at": time.time(),
        "attempts": delivery.attempts,
    }
    if delivery.ok:
        # Keep the failure that was just recovered from visible as history.
        previous = _read([channel]).get(channel) or {}
        state["last_error"] = previous.get("last_error", "")
    try:
        cache.set(KEY.format(channel), state, KEEP_S)
    except Exception as error:
        log.warning("notification_status_unsaved", channel=channel, error=str(error))


def channel_states() -> list[dict[str, Any]]:
    """One row per channel in §8's order: ``state`` "off" (no URL), "ok" (no failure since
    its last success, or nothing posted yet), "failing" (its last post was given up) or
    "unknown" (the cache that holds it is away), with the last error seen."""
    urls = webhooks()
    stored = _read(list(CHANNELS))
    rows = []
    for channel in CHANNELS:
        if channel not in urls:
            rows.append({"channel": channel, "state": "off", "last_error": ""})
            continue
        if stored is _UNREADABLE:
            rows.append({"channel": channel, "state": "unknown", "last_error": ""})
            continue
        row = stored.get(channel) or {"state": "ok", "last_error": ""}
        rows.append({"channel": channel, "state": row["state"], "last_error": row["last_error"]})
    return rows


_UNREADABLE: dict[str, Any] = {}


def _read(channels: list[str]) -> dict[str, Any]:
    try:
        found = cache.get_many([KEY.format(channel) for channel in channels])
    except Exception as error:
        log.warning("notification_status_unreadable", error=str(error))
        return _UNREADABLE
    return {channel: found.get(KEY.format(channel)) for channel in channels}
