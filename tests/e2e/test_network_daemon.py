"""The daemon on the network feeds: the real clients against the simulator over 127.0.0.1.

The simulator runs on a stepped clock; the test moves it a few simulated seconds at a time
and waits until the Coinbase heartbeats (the stream's clock) have brought the daemon to the
same time. Kalshi and Coinbase frames interleave as the sockets deliver them, so the run is
not byte-for-byte reproducible (the in-process tests in ``test_paper_daemon`` cover parity);
what must hold is that it trades, that its books balance to the micro-dollar, that nothing
is logged as an error, and that the health payload shows both feeds connected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

import pytest
from django.conf import settings

from kbtc_core.db import db_call
from marketdata.history.backfill import backfill
from marketdata.kalshi.signing import KalshiSigner
from marketdata.ratelimit import Backoff
from marketdata.recorder import Recorder
from marketdata.sim.testing import running_simulator
from trading.engine.records import PositionClosed
from trading.models import BotState, Trade
from trading.runtime.daemon import DaemonConfig
from trading.runtime.factory import build_daemon
from trading.runtime.network import NetworkFeed
from trading.runtime.sinks import Observer
from trading.runtime.warmup import table_candles

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SEED = 7
START = 1_767_225_600_000  # 2026-01-01 00:00 UTC (synthetic path, seed 7)
HOURS = 2
STEP_S = 5
BANKROLL = 1_000_000_000


async def until(condition, what: str, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit_s} s waiting for {what}")
        await asyncio.sleep(0.005)


async def test_the_daemon_trades_on_the_network_feeds(caplog):
    caplog.set_level(logging.WARNING)
    closed: list[PositionClosed] = []

    def observe(event, produced):
        closed.extend(item for item in produced if isinstance(item, PositionClosed))

    async with running_simulator(seed=SEED, start_ms=START, days=1) as sim:
        # The demo's warm-up: 15-minute candles through the back-fill from the simulator's
        # Binance endpoint into the candles table, then read from the table.
        filled = await db_call(backfill)(
            base_url=sim.binance_api_url, start_ms=START - 16 * 3600 * 1000, end_ms=START
        )
        assert filled.fetched == 16 * 60
        feed = NetworkFeed(
            kalshi_api_url=sim.kalshi_api_url,
            kalshi_ws_url=sim.kalshi_ws_url,
            coinbase_ws_url=sim.coinbase_ws_url,
            signer=KalshiSigner.from_pem(sim.key_id, sim.private_key_pem),
            refresh_s=0.5,
            backoff=lambda: Backoff(0.05, 0.5),
        )
        daemon = build_daemon(
            DaemonConfig(latency_ms=200, bankroll=BANKROLL),
            feeds=[feed],
            candles=lambda before: table_candles(before, count=60),
            recorder=Recorder(label="e2e-network", flush_interval_s=0.05),
            start_ts=START,
            sinks=[Observer(observe)],
        )
        await daemon.prepare()
        assert daemon.session is not None
        assert len(daemon.session.engine.market.candles.closed) >= 20  # warmed up
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        try:
            await until(lambda: feed.kalshi is not None and feed.kalshi.valid_books, "a book")
            for _ in range(HOURS * 3600 // STEP_S):
                target = await sim.advance(STEP_S)
                await until(lambda t=target: (feed.latest_ts or 0) >= t - 1000, "the stream")
                recorder = daemon.recorder
                assert recorder is not None
                while recorder.buffered > 4000 or daemon.writer.pending > 1000:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            health = daemon.health_payload()
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)

    assert daemon.errors == 0
    feeds = {f["name"]: f for f in health["feeds"]}
    assert set(feeds) == {"coinbase", "kalshi"}
    for stats in feeds.values():
        assert stats["state"] == "connected"
        assert stats["messages"] > 0
        assert stats["malformed"] == stats["handler_errors"] == 0
        assert stats["last_message_age_ms"] is not None
    assert feeds["kalshi"]["active_ticker"]
    assert daemon.outbox.failures == 0
    expected_redis = "ok" if settings.ENV.redis_url else "not used (in-memory layer)"
    assert health["redis"] == expected_redis
    assert feed.events > 10_000

    trades = await db_call(lambda: list(Trade.objects.order_by("closed_at", "id")))()
    print(f"{len(trades)} trades, {feed.events} events in {HOURS} simulated hours")
    assert len(trades) == len(closed) > 0
    assert [t.position_uid for t in trades] == [c.position_uid for c in closed]
    total = sum(c.pnl for c in closed)
    assert sum(t.pnl for t in trades) == Decimal(total) / 1_000_000
    state = await db_call(BotState.objects.get)(lane="paper")
    assert state.bankroll == (Decimal(BANKROLL) + total) / 1_000_000
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
