from __future__ import annotations

import asyncio
import datetime as dt
import socket
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from channels.layers import get_channel_layer
from django.test import override_settings
from structlog.testing import capture_logs

from trading import push
from trading.runtime.outbox import Outbox
from trading.tests.test_dashboard import PAYLOADS


class RecordingLayer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sent.append((group, message))


class FlakyLayer(RecordingLayer):
    """Refuses every send while ``down`` (Redis away), records them otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        if self.down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        await super().group_send(group, message)


@pytest.fixture
def layer(monkeypatch: pytest.MonkeyPatch) -> RecordingLayer:
    recording = RecordingLayer()
    monkeypatch.setattr(push, "get_channel_layer", lambda: recording)
    return recording


@pytest.mark.parametrize("topic", sorted(PAYLOADS))
def test_every_documented_topic_payload_survives_msgpack(topic):
    payload = PAYLOADS[topic]
    push.assert_plain_json(payload)
    message = {"type": "live.message", "topic": topic, "payloads": [payload]}
    assert msgpack.unpackb(msgpack.packb(message)) == message


@pytest.mark.parametrize(
    "bad",
    [
        {"price": Decimal("0.42")},
        {"at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
        {"obi": float("nan")},
        {"levels": [(4200, 100)]},
        {1: "int key"},
    ],
)
async def test_publish_refuses_anything_but_plain_json(bad, layer):
    with pytest.raises(TypeError):
        await push.Publisher().publish("market", bad)
    assert layer.sent == []


async def test_publish_refuses_unknown_topics(layer):
    with pytest.raises(ValueError, match="unknown topic"):
        await push.Publisher().publish("prices", {})


async def test_a_burst_is_coalesced_to_the_latest_payload_at_five_per_second(layer):
    publisher = push.Publisher()
    for n in range(20):
        await publisher.publish("market", {"ts": n})
    await publisher.drain()
    sent = [message["payloads"] for _, message in layer.sent]
    assert sent == [[{"ts": 0}], [{"ts": 19}]]
    assert publisher.coalesced == 18


async def test_one_lanes_burst_does_not_hide_the_other_lane(layer):
    publisher = push.Publisher()
    await publisher.publish("signal", {"lane": "paper", "n": 1})
    await publisher.publish("signal", {"lane": "live", "n": 2})
    await publisher.publish("signal", {"lane": "paper", "n": 3})
    await publisher.drain()
    groups = {group for group, _ in layer.sent}
    assert groups == {"kbtc.signal"}
    assert layer.sent[1][1]["payloads"] == [{"lane": "live", "n": 2}, {"lane": "paper", "n": 3}]


async def test_topics_are_throttled_independently(layer):
    publisher = push.Publisher()
    await publisher.publish("market", {"ts": 1})
    await publisher.publish("health", {"ts": 1})
    assert len(layer.sent) == 2


async def test_the_latest_payload_is_kept_for_a_reconnecting_page(layer):
    publisher = push.Publisher()
    await publisher.publish("equity", {"lane": "paper", "bankroll": 5})
    latest = await _latest()
    assert latest[("equity", "paper")] == {"lane": "paper", "bankroll": 5}


async def _latest() -> dict[tuple[str, str], dict[str, Any]]:
    from asgiref.sync import sync_to_async

    return await sync_to_async(push.latest_payloads)()


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> FlakyLayer:
    flaky = FlakyLayer()
    monkeypatch.setattr(push, "get_channel_layer", lambda: flaky)
    return flaky


async def test_a_failed_delayed_send_is_counted_logged_once_and_its_newest_payload_follows(flaky):
    # 0.5 s: the second publish is delayed, even on a busy machine
    publisher = push.Publisher(min_interval_s=0.5)
    await publisher.publish("signal", {"lane": "paper", "n": 0})  # immediate
    flaky.down = True
    with capture_logs() as logs:
        await publisher.publish("signal", {"lane": "live", "n": 1})  # delayed: fails unseen
        await publisher.drain()  # nothing escapes the background task
        assert publisher.delayed_failures == 1
        for n in (2, 3):  # the outage goes on: each publish reports the last failed send
            with pytest.raises(push.DelayedPublishError, match="delayed send of signal failed"):
                await publisher.publish("signal", {"lane": "paper", "n": n})
            await publisher.drain()
        flaky.down = False
        with pytest.raises(push.DelayedPublishError, match="ConnectionError: Error 111"):
            await publisher.publish("signal", {"lane": "paper", "n": 4})
        await publisher.drain()
    assert publisher.delayed_failures == 3
    # the live lane's payload waited through the outage; the paper lane's newest replaced
    # the ones that could not be sent
    assert [message["payloads"] for _, message in flaky.sent] == [
        [{"lane": "paper", "n": 0}],
        [{"lane": "live", "n": 1}, {"lane": "paper", "n": 4}],
    ]
    events = [entry["event"] for entry in logs]
    assert events == ["delayed_publish_failed", "delayed_publish_recovered"]
    assert logs[0]["topic"] == "signal"
    assert publisher.failing == 0
    await publisher.publish("signal", {"lane": "paper", "n": 5})  # nothing left to report


async def test_a_failed_immediate_send_keeps_its_payload_for_the_next_flush(flaky):
    publisher = push.Publisher(min_interval_s=0)
    flaky.down = True
    with pytest.raises(ConnectionError):
        await publisher.publish("position", {"lane": "live", "positions": []})
    flaky.down = False
    await publisher.publish("position", {"lane": "paper", "positions": []})
    assert flaky.sent[0][1]["payloads"] == [
        {"lane": "live", "positions": []},
        {"lane": "paper", "positions": []},
    ]


class SlowLayer(RecordingLayer):
    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await asyncio.sleep(0.1)
        await super().group_send(group, message)


async def test_payloads_that_arrive_during_a_delayed_send_get_a_flush_of_their_own(monkeypatch):
    slow = SlowLayer()
    monkeypatch.setattr(push, "get_channel_layer", lambda: slow)
    publisher = push.Publisher(min_interval_s=0.05)
    await publisher.publish("market", {"ts": 1})
    await publisher.publish("market", {"ts": 2})  # delayed
    await asyncio.sleep(0.1)  # its send is under way
    await publisher.publish("market", {"ts": 3})
    await publisher.drain()
    sent = [message["payloads"] for _, message in slow.sent]
    assert sent == [[{"ts": 1}], [{"ts": 2}], [{"ts": 3}]]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def redis_url_away() -> dict[str, Any]:
    """Channel-layer settings for a real Redis layer on a port nothing listens on."""
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    return {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
    }


async def test_a_delayed_send_refused_by_redis_is_counted_by_the_outbox_and_caught_up(
    redis_url_away,
):
    """A real Redis layer: the daemon's outbox publishes, the layer goes away during a
    delayed send, comes back, and a dashboard's channel receives the newest payload."""
    publisher = push.Publisher(min_interval_s=0.5)  # the second publish is delayed
    outbox = Outbox()
    with capture_logs() as logs:
        outbox.put("market", "", {"ts": 1})
        await outbox.publish_pending(publisher)  # sent
        with override_settings(CHANNEL_LAYERS=redis_url_away):
            outbox.put("market", "", {"ts": 2})
            await outbox.publish_pending(publisher)  # within 0.5 s: delayed, returns at once
            await publisher.drain()  # the delayed send is refused in the background
            assert publisher.delayed_failures == 1
            assert outbox.failures == 0
            for ts in (3, 4):  # each publish reports the last failed send; the outbox counts
                outbox.put("market", "", {"ts": ts})
                await outbox.publish_pending(publisher)
                await publisher.drain()
            assert outbox.failures == 2
            assert outbox.failing == 2
            assert "DelayedPublishError: delayed send of market failed" in outbox.last_failure
        layer = get_channel_layer()  # the configured layer again: Redis is back
        assert layer is not None
        channel = await layer.new_channel()  # a dashboard's
        await layer.group_add(push.topic_group("market"), channel)
        outbox.put("market", "", {"ts": 5})
        await outbox.publish_pending(publisher)  # reports the send of ts 4; keeps ts 5
        await publisher.drain()
        received = await asyncio.wait_for(layer.receive(channel), 5)
        assert received["payloads"] == [{"ts": 5}]  # the newest: ts 2-4 were replaced
        outbox.put("market", "", {"ts": 6})
        await outbox.publish_pending(publisher)
        await publisher.drain()
        await layer.group_discard(push.topic_group("market"), channel)
    assert outbox.failures == 3
    assert outbox.failing == 0
    events = [entry["event"] for entry in logs]
    assert events.count("delayed_publish_failed") == 1  # once for the outage
    assert events.count("publish_failed") == 1  # the outbox logs at 1, 10, 100 failures
    assert events.count("publish_recovered") == 1
