"""The server profile's path: the sink hands posts to Redis, a real Celery worker process
posts them with §8's rules, and the channel states it writes reach this process's health
view through the shared cache."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from kbtc_site.celery_workers import celery_workers
from trading.notifications.embeds import CHANNELS
from trading.notifications.sink import NotificationSink
from trading.notifications.status import KEY, channel_states
from trading.tests.notifications import records
from trading.tests.notifications.records import T0
from trading.tests.notifications.webhook import Answer, WebhookServer

pytestmark = [pytest.mark.slow, pytest.mark.redis]


@pytest.fixture
def worker(settings: Any, server: WebhookServer) -> Iterator[subprocess.Popen[bytes]]:
    urls = {channel: server.url(channel) for channel in CHANNELS}
    settings.KBTC = {**settings.KBTC, "DISCORD_WEBHOOKS": urls}
    cache.delete_many([KEY.format(channel) for channel in CHANNELS])
    env = {**os.environ, **{f"DISCORD_{c.upper()}_WEBHOOK": url for c, url in urls.items()}}
    assert env["REDIS_URL"] == django_settings.ENV.redis_url
    with celery_workers(1, env=env, loglevel="INFO", timeout_s=60) as [process]:
        yield process


def states() -> dict[str, dict[str, str]]:
    return {row["channel"]: row for row in channel_states()}


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


async def test_a_worker_process_posts_what_the_sink_queued_with_the_transport_rules(worker, server):
    server.script(Answer(429, {"Retry-After": "0.3"}))  # trades: waits, then posts again
    sink = NotificationSink(bankrolls={"paper": 1_000_000_000})  # the default dispatch
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    sink.consume([records.opened()], T0)
    await asyncio.to_thread(server.wait_for, 2)
    server.script(Answer(400, body=b"bad embed"))  # risk: given up, the channel is failing
    sink.consume([records.breaker()], T0 + 1000)
    await asyncio.to_thread(server.wait_for, 3)
    stop.set()
    await task

    first, again, risk = server.posts
    assert first.channel == again.channel == "trades"
    assert first.body == again.body
    assert again.at - first.at >= 0.3  # Retry-After honoured by the worker
    assert risk.title == "[PAPER] Circuit breaker tripped: DAILY_LOSS"
    await asyncio.to_thread(wait_until, lambda: states()["risk"]["state"] == "failing")
    assert states()["risk"]["last_error"] == "HTTP 400: bad embed"
    assert states()["trades"]["state"] == "ok"


async def test_the_trader_never_waits_for_a_worker_stuck_on_a_hanging_webhook(worker, server):
    server.hang()
    sink = NotificationSink(bankrolls={"paper": 1_000_000_000})
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    for n in range(200):
        sink.consume([records.opened(position_uid=f"p{n}")], T0)
    await asyncio.to_thread(server.wait_for, 1)
    assert server.in_flight == 1  # the worker is held by the first post
    stop.set()
    await task  # every post is on the broker: nothing was left for the stop to wait on
    assert sink.waiting == 0
    assert sink.dropped == 0
    server.release()
    await asyncio.to_thread(server.wait_for, 200, "", 60.0)
