"""PostgreSQL goes away while the daemon trades (the stepped simulator feeds it).

The outage is real: new connections are refused (``ALLOW_CONNECTIONS false``) and the open
ones killed (``pg_terminate_backend``), as ``marketdata/tests/recorder/test_outage.py`` does
to the recorder. The daemon must keep trading on the feed, say on its health payload that
its writes are waiting, write every trade and position once the database is back, and then
say the database is fine again.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import override_settings
from structlog.testing import capture_logs

from trading.models import BotState, OpenPosition, Trade
from trading.services import controls

from .conftest import SteppedDaemon
from .reference_run import closes, elapsed_s, entries, uninterrupted_run

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

OPERATOR = controls.Actor(label="operator", source="api")


async def step_through_outage(sim: SteppedDaemon, seconds: int) -> None:
    """Step without waiting for the writer or the recorder (they cannot keep up: the
    database is away), giving them wall time to try and fail."""
    for _ in range(seconds):
        for event in sim.core.step():
            sim.daemon.on_event(event)
        await asyncio.sleep(0.005)


async def test_trades_closed_during_an_outage_are_written_when_it_ends(outage):
    outputs = uninterrupted_run()
    entry_s = elapsed_s(entries(outputs)[0].ts)
    close_s = elapsed_s(closes(outputs)[0].ts)
    async with SteppedDaemon() as sim:
        await sim.step_to(entry_s - 30)
        await asyncio.to_thread(outage.begin)
        # the first round trip opens and closes with the database away
        await step_through_outage(sim, close_s + 30 - sim.elapsed_s)
        assert closes(sim.outputs), "the trader stopped trading during the outage"
        await sim.wait_for(lambda: sim.daemon.writer.outage_retries > 0, "a failed write")
        health = sim.daemon.health_payload()
        assert health["db"].startswith("retrying"), health["db"]
        assert "writes waiting" in health["db"]

        await asyncio.to_thread(outage.end)
        await sim.wait_for(
            lambda: sim.daemon.writer.pending == 0, "the writer to catch up", within_s=20
        )
        assert sim.daemon.health_payload()["db"] == "ok"  # the past outage is not current
        assert sim.daemon.writer.failed == 0
        assert sim.daemon.errors == 0
        closed = closes(sim.outputs)
        bankroll = sim.engine.lanes["paper"].breaker.bankroll

    def stored() -> tuple[list[str], int, int]:
        trades = list(Trade.objects.order_by("closed_at").values_list("position_uid", flat=True))
        state = BotState.objects.get(lane="paper")
        return trades, OpenPosition.objects.count(), round(state.bankroll * 1_000_000)

    trades, open_rows, saved_bankroll = await sync_to_async(stored)()
    assert trades == [record.position_uid for record in closed]  # nothing lost, in order
    assert open_rows == 0
    assert saved_bankroll == bankroll


async def test_a_stop_during_an_outage_ends_cleanly_and_spills_what_was_not_written(
    outage, tmp_path
):
    outputs = uninterrupted_run()
    close_s = elapsed_s(closes(outputs)[0].ts)
    sim = SteppedDaemon()
    sim.daemon.persistence.spill_dir = tmp_path
    with capture_logs() as logs:
        async with sim:
            await sim.step_to(close_s - 5)
            await asyncio.to_thread(outage.begin)
            await step_through_outage(sim, 10)
            # leaving the block stops the daemon (the SIGTERM path) with the database away
        stopped = [entry for entry in logs if entry["event"] == "trader_stopped"]
    assert stopped, "the daemon did not stop cleanly"
    assert not [entry for entry in logs if entry["event"] == "persist_lost_on_stop"]
    spilled = [entry for entry in logs if entry["event"] == "persist_spilled"]
    assert len(spilled) == 1
    assert spilled[0]["writes"].get("position_close") == 1  # the trade it could not write
    assert "not currently accepting connections" in spilled[0]["error"]
    assert stopped[0]["unwritten"] == spilled[0]["count"] > 0
    assert spilled[0]["path"] == str(tmp_path / "persist-spill-000001.jsonl")
    spill_text = await asyncio.to_thread((tmp_path / "persist-spill-000001.jsonl").read_text)
    assert len(spill_text.splitlines()) == spilled[0]["count"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def redis_away() -> Iterator[None]:
    """The channel layer and the cache (both Redis in production) at a port nothing
    listens on: every publish and announcement is refused."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    layers = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
    }
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    with override_settings(CHANNEL_LAYERS=layers, CACHES=caches):
        yield


@pytest.mark.skipif(not settings.ENV.redis_url, reason="production profile (REDIS_URL) only")
async def test_with_redis_away_the_daemon_trades_and_reads_controls_by_polling(redis_away):
    outputs = uninterrupted_run()
    close_s = elapsed_s(closes(outputs)[0].ts)
    async with SteppedDaemon() as sim:
        await sim.step_to(close_s + 5)
        await sim.wait_for(lambda: sim.daemon.outbox.failing > 0, "a refused publish")
        # the operator pauses; the announcement is refused, the one-second poll reads it
        await sim.control(lambda: controls.trading_pause_set(paused=True, actor=OPERATOR))
        assert sim.engine.paused is True
        await sim.settle()
        health = sim.daemon.health_payload()
        assert health["redis"].startswith("failing"), health["redis"]
        assert "Error" in health["redis"]
        assert health["db"] == "ok"
        closed = closes(sim.outputs)
    assert closed, "the trader stopped trading with Redis away"
    trades = await sync_to_async(
        lambda: list(Trade.objects.order_by("closed_at").values_list("position_uid", flat=True))
    )()
    assert trades == [record.position_uid for record in closed]
