"""Redis away while an operator acts and while the daemon publishes.

The channel layer points at a port nothing listens on (a real ``RedisChannelLayer``, a
real refused connection). A control is one durable transaction plus an audit row; the
announcement on commit only hurries the daemon, which re-reads the controls every second,
so a lost announcement must not turn a committed control into an error for the operator.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import override_settings
from knox.models import AuthToken
from rest_framework.test import APIClient
from structlog.testing import capture_logs

from trading import push, selectors
from trading.models import ControlAudit
from trading.runtime.controls import ControlsWatch
from trading.runtime.outbox import Outbox
from trading.tests import factories


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def redis_away() -> Iterator[str]:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    layers = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
    }
    with override_settings(CHANNEL_LAYERS=layers):
        yield url


@pytest.mark.django_db(transaction=True)
def test_a_control_commits_and_answers_ok_when_its_announcement_cannot_be_sent(redis_away):
    user = factories.operator()
    _, token = AuthToken.objects.create(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    with capture_logs() as logs:
        response = client.post("/api/trading-pause", {"paused": True}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["trading_paused"] == "paused"
    assert selectors.controls_current().paused is True  # what the daemon's poll reads
    assert ControlAudit.objects.get().applied is True
    failed = [entry for entry in logs if entry["event"] == "control_announce_failed"]
    assert failed
    assert failed[0]["action"] == "trading_pause_set"
    assert "Connect" in failed[0]["error"] or "connect" in failed[0]["error"]


@pytest.mark.django_db(transaction=True)
async def test_the_daemons_control_watch_keeps_polling_while_the_layer_is_away(redis_away):
    reads: list[selectors.ControlsSnapshot] = []
    watch = ControlsWatch(reads.append, poll_s=0.05)
    stop = asyncio.Event()
    with capture_logs() as logs:
        tasks = [asyncio.create_task(watch.poll(stop)), asyncio.create_task(watch.listen(stop))]
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*tasks)
    await sync_to_async(connections.close_all)()  # the ORM thread's, or teardown cannot drop the db
    assert len(reads) >= 3  # the database poll carried on
    assert any(entry["event"] == "controls_listen_failed" for entry in logs)


@pytest.fixture
def redis_silent() -> Iterator[str]:
    """A Redis that accepts connections and never answers (a paused server): the kernel
    completes the handshake on a listening socket nobody reads."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        url = f"redis://127.0.0.1:{server.getsockname()[1]}/0"
        layers = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [url]},
            }
        }
        with override_settings(CHANNEL_LAYERS=layers):
            yield url


@pytest.mark.slow  # waits out the Redis client's own ~5 s give-up
@pytest.mark.django_db(transaction=True)
async def test_a_silent_layer_is_logged_and_neither_stops_the_poll_nor_holds_the_stop(redis_silent):
    reads: list[selectors.ControlsSnapshot] = []
    watch = ControlsWatch(reads.append, poll_s=0.05)
    stop = asyncio.Event()
    with capture_logs() as logs:
        tasks = [asyncio.create_task(watch.poll(stop)), asyncio.create_task(watch.listen(stop))]
        await asyncio.sleep(6)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 8)  # the stop is not held
    assert len(reads) >= 20
    failures = [entry for entry in logs if entry["event"] == "controls_listen_failed"]
    assert failures
    assert "timed out" in failures[0]["error"]
    await sync_to_async(connections.close_all)()


async def test_a_silent_layer_cannot_stall_the_daemons_publishing(redis_silent):
    outbox = Outbox(every_s=0.05)
    outbox.put("trade", "paper", {"ts": 1, "lane": "paper"})
    started = time.monotonic()
    with capture_logs() as logs:
        await asyncio.wait_for(outbox.publish_pending(push.Publisher(min_interval_s=0)), 10)
    assert time.monotonic() - started < 5
    assert outbox.failing == 1
    assert outbox.redis_state().startswith("failing")
    assert [entry["event"] for entry in logs] == ["publish_failed"]
