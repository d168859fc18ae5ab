from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from kbtc_site.celery import app as celery_app
from trading.notifications.embeds import CHANNELS
from trading.tests.notifications.webhook import WebhookServer, webhook_server


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    with webhook_server() as running:
        yield running


@pytest.fixture
def webhooks(settings: Any, server: WebhookServer) -> WebhookServer:
    """Every channel on, pointing at the local server; channel states in a fresh
    in-process cache."""
    settings.KBTC = {**settings.KBTC, "DISCORD_WEBHOOKS": {c: server.url(c) for c in CHANNELS}}
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "n"}
    }
    cache.clear()
    return server


@pytest.fixture
def eager() -> Iterator[None]:
    """Celery as the embedded profile runs it: the task in the caller's thread."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = before
