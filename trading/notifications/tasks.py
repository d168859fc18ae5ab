"""The Celery task that posts one embed (interfaces.md §11: side effects leave the trader).

In the server profile a worker runs it; in the embedded profile Celery is eager and it runs
in the caller's thread, which for the trader is the notification sink's own thread
(``sink.NotificationSink``), never the trading loop.
"""

from __future__ import annotations

import functools
from typing import Any

import httpx
import structlog
from celery import shared_task

from trading.notifications import status
from trading.notifications.transport import TIMEOUT_S, deliver

log = structlog.get_logger(__name__)


@functools.cache
def _client() -> httpx.Client:
    """One client per process (made in it, so a forked worker child gets its own): a new
    one costs an SSL context, about 80 ms here, and a kept one reuses the connection."""
    return httpx.Client(timeout=TIMEOUT_S)


@shared_task(name="notifications.post", ignore_result=True)
def post_notification(channel: str, payload: dict[str, Any]) -> str:
    """Post ``payload`` to ``channel``'s webhook with §8's retries; "off" when the channel
    has no URL, else "ok" or "failed" (the failure is logged and shown on the health
    panel; retrying later would post it out of order, so it is not re-queued)."""
    url = status.webhooks().get(channel)
    if not url:
        return "off"
    delivery = deliver(url, payload, client=_client())
    status.delivery_record(channel, delivery)
    if not delivery.ok:
        title = payload.get("embeds", [{}])[0].get("title", "")
        log.error(
            "notification_failed",
            channel=channel,
            title=title,
            attempts=delivery.attempts,
            error=delivery.error,
        )
        return "failed"
    return "ok"
