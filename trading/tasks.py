"""Celery tasks of the trading app: thin wrappers over selectors and services."""

from __future__ import annotations

import structlog
from celery import shared_task

from trading.selectors import trader_heartbeat

log = structlog.get_logger(__name__)


@shared_task(name="trading.check_trader_heartbeat")
def check_trader_heartbeat() -> str:
    """Log loudly when the trader should be beating but is not."""
    state = trader_heartbeat()["state"]
    if state == "stale":
        log.error("trader_heartbeat_stale")
    return str(state)
