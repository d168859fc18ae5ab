from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgpack
import pytest

from trading import live
from trading.tests.test_dashboard import PAYLOADS


class RecordingLayer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sent.append((group, message))


@pytest.fixture
def layer(monkeypatch: pytest.MonkeyPatch) -> RecordingLayer:
    recording = RecordingLayer()
    monkeypatch.setattr(live, "get_channel_layer", lambda: recording)
    return recording


@pytest.mark.parametrize("topic", sorted(PAYLOADS))
def test_every_documented_topic_payload_survives_msgpack(topic):
    payload = PAYLOADS[topic]
    live.assert_plain_json(payload)
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
        await live.Publisher().publish("market", bad)
    assert layer.sent == []


async def test_publish_refuses_unknown_topics(layer):
    with pytest.raises(ValueError, match="unknown topic"):
        await live.Publisher().publish("prices", {})


async def test_a_burst_is_coalesced_to_the_latest_payload_at_five_per_second(layer):
    publisher = live.Publisher()
    for n in range(20):
        await publisher.publish("market", {"ts": n})
    await publisher.drain()
    sent = [message["payloads"] for _, message in layer.sent]
    assert sent == [[{"ts": 0}], [{"ts": 19}]]
    assert publisher.coalesced == 18


async def test_one_lanes_burst_does_not_hide_the_other_lane(layer):
    publisher = live.Publisher()
    await publisher.publish("signal", {"lane": "paper", "n": 1})
    await publisher.publish("signal", {"lane": "live", "n": 2})
    await publisher.publish("signal", {"lane": "paper", "n": 3})
    await publisher.drain()
    groups = {group for group, _ in layer.sent}
    assert groups == {"kbtc.signal"}
    assert layer.sent[1][1]["payloads"] == [{"lane": "live", "n": 2}, {"lane": "paper", "n": 3}]


async def test_topics_are_throttled_independently(layer):
    publisher = live.Publisher()
    await publisher.publish("market", {"ts": 1})
    await publisher.publish("health", {"ts": 1})
    assert len(layer.sent) == 2


async def test_the_latest_payload_is_kept_for_a_reconnecting_page(layer):
    publisher = live.Publisher()
    await publisher.publish("equity", {"lane": "paper", "bankroll": 5})
    latest = await _latest()
    assert latest[("equity", "paper")] == {"lane": "paper", "bankroll": 5}


async def _latest() -> dict[tuple[str, str], dict[str, Any]]:
    from asgiref.sync import sync_to_async

    return await sync_to_async(live.latest_payloads)()
