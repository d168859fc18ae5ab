"""The dashboard socket against the real Redis channel layer (msgpack on the wire)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import override_settings

from kbtc_site.asgi import application
from trading import push
from trading.services import controls
from trading.tests import factories
from trading.tests.test_dashboard import PAYLOADS

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ORIGIN = [(b"origin", b"http://127.0.0.1")]


@pytest.fixture(autouse=True)
async def _close_the_orm_threads_connection() -> AsyncIterator[None]:
    """The consumer's ORM calls run in one shared thread whose connection outlives the
    test: left open, the test database cannot be dropped at the end of the run."""
    yield
    await database_sync_to_async(connections.close_all)()


async def _connect() -> WebsocketCommunicator:
    assert type(get_channel_layer()).__name__ == "RedisChannelLayer"
    communicator = WebsocketCommunicator(application, "/ws/dashboard/", headers=ORIGIN)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@override_settings(ANONYMOUS_READS=True)
async def test_connecting_sends_a_snapshot_of_every_widget():
    await database_sync_to_async(factories.lane_state)()
    communicator = await _connect()
    snapshot = await communicator.receive_from(timeout=5)
    for widget in (
        "sidebar",
        "market-panel",
        "signal-paper",
        "health-panel",
        "positions-paper",
        "stats-paper",
        "stats-live",
        "flagged-panel",
    ):
        assert f'id="{widget}"' in snapshot
    trades = await communicator.receive_from(timeout=5)
    assert trades.startswith('<div id="trades-panel"')
    await communicator.disconnect()


@override_settings(ANONYMOUS_READS=True)
@pytest.mark.parametrize("topic", sorted(PAYLOADS))
async def test_a_published_payload_arrives_as_its_rendered_partial(topic):
    communicator = await _connect()
    await communicator.receive_from(timeout=5)  # the snapshot
    await communicator.receive_from(timeout=5)  # the trades table
    await push.Publisher().publish(topic, PAYLOADS[topic])
    frame = await communicator.receive_from(timeout=5)
    expected = {
        "market": 'id="market-panel"',
        "signal": 'id="signal-paper"',
        "position": 'id="positions-paper"',
        "equity": 'id="sidebar"',
        "health": 'id="health-panel"',
        "trade": 'id="stats-paper"',
    }[topic]
    assert expected in frame
    if topic in ("market", "equity"):
        tick = await communicator.receive_from(timeout=5)
        assert tick.startswith('{"chart"')
    if topic == "trade":
        trades = await communicator.receive_from(timeout=5)
        assert trades.startswith('<div id="trades-panel"')
    await communicator.disconnect()


@override_settings(ANONYMOUS_READS=True)
async def test_a_control_change_rerenders_the_sidebar_after_commit():
    communicator = await _connect()
    await communicator.receive_from(timeout=5)  # the snapshot
    await communicator.receive_from(timeout=5)  # the trades table
    actor = controls.Actor(label="tester", source="test")
    await database_sync_to_async(controls.trading_pause_set)(paused=True, actor=actor)
    frame = await communicator.receive_from(timeout=5)
    assert 'id="sidebar"' in frame
    assert "paused" in frame
    await communicator.disconnect()


@override_settings(ANONYMOUS_READS=False)
async def test_an_anonymous_socket_is_closed_with_a_code_htmx_does_not_retry():
    communicator = WebsocketCommunicator(application, "/ws/dashboard/", headers=ORIGIN)
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4403


@override_settings(ANONYMOUS_READS=True)
async def test_the_server_can_close_every_dashboard_socket_with_code_1000():
    communicator = await _connect()
    await communicator.receive_from(timeout=5)  # the snapshot
    await communicator.receive_from(timeout=5)  # the trades table
    await push.close_dashboards()
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 1000}
    await communicator.disconnect()


@override_settings(ANONYMOUS_READS=False)
async def test_a_socket_with_a_stale_or_forged_session_cookie_is_closed_like_an_anonymous_one():
    cookie = (b"cookie", b"sessionid=" + b"x" * 32)
    communicator = WebsocketCommunicator(application, "/ws/dashboard/", headers=[*ORIGIN, cookie])
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4403


@override_settings(ANONYMOUS_READS=False)
async def test_a_socket_from_another_origin_is_refused():
    communicator = WebsocketCommunicator(
        application, "/ws/dashboard/", headers=[(b"origin", b"http://evil.example")]
    )
    connected, _ = await communicator.connect()
    assert not connected
