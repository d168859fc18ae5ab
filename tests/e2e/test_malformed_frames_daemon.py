"""Malformed frames on the live feeds as the daemon sees them.

The simulator cuts a share of its WebSocket frames in half (broken JSON) on both sockets,
Kalshi's book deltas among them. The clients count and log each one and never raise; a lost
delta shows as a sequence gap and the book is fetched again. What the daemon must show: it
keeps trading, nothing it did is lost (every closed trade written, the books balance), no
event failed in the session, and its health payload counts the malformed frames per feed.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest

from kbtc_core.db import db_call
from marketdata.history.backfill import backfill
from marketdata.kalshi.signing import KalshiSigner
from marketdata.ratelimit import Backoff
from marketdata.recorder import Recorder
from marketdata.sim.faults import FaultConfig
from marketdata.sim.testing import running_simulator
from trading.engine.records import PositionClosed
from trading.models import BotState, Trade
from trading.runtime.daemon import DaemonConfig
from trading.runtime.factory import build_daemon
from trading.runtime.network import NetworkFeed
from trading.runtime.sinks import Observer
from trading.runtime.warmup import table_candles

from .test_network_daemon import BANKROLL, SEED, START, STEP_S, until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MINUTES = 75
MALFORMED = 0.01  # one frame in a hundred arrives cut in half


async def test_the_daemon_trades_on_through_malformed_frames_and_counts_them(caplog):
    caplog.set_level(logging.WARNING)
    closed: list[PositionClosed] = []

    def observe(event, produced):
        closed.extend(item for item in produced if isinstance(item, PositionClosed))

    faults = FaultConfig(malformed=MALFORMED)
    async with running_simulator(seed=SEED, start_ms=START, days=1, faults=faults) as sim:
        await db_call(backfill)(
            base_url=sim.binance_api_url, start_ms=START - 16 * 3600 * 1000, end_ms=START
        )
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
            recorder=Recorder(label="e2e-malformed", flush_interval_s=0.05),
            start_ts=START,
            sinks=[Observer(observe)],
        )
        await daemon.prepare()
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        try:
            await until(lambda: feed.kalshi is not None and feed.kalshi.valid_books, "a book")
            for _ in range(MINUTES * 60 // STEP_S):
                target = await sim.advance(STEP_S)
                await until(lambda t=target: (feed.latest_ts or 0) >= t - 1000, "the stream")
                while daemon.writer.pending > 1000:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            health = daemon.health_payload()
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)

    feeds = {f["name"]: f for f in health["feeds"]}
    for name in ("coinbase", "kalshi"):
        assert feeds[name]["malformed"] > 0, f"no malformed {name} frame reached the client"
        assert feeds[name]["malformed_reasons"].get("bad json", 0) > 0
        assert feeds[name]["handler_errors"] == 0
    # a cut delta leaves a gap in the book's sequence, which is healed by a fresh snapshot
    assert feeds["kalshi"]["seq_gaps"] > 0
    assert feeds["kalshi"]["resnapshots"] > 0
    logged = [r for r in caplog.records if "feed_malformed_frame" in r.getMessage()]
    assert len(logged) == sum(feeds[name]["malformed"] for name in feeds)
    assert daemon.errors == 0 == health["event_errors"]
    assert closed, "the daemon stopped trading"

    trades = await db_call(lambda: list(Trade.objects.order_by("closed_at", "id")))()
    assert [t.position_uid for t in trades] == [c.position_uid for c in closed]
    total = sum(c.pnl for c in closed)
    state = await db_call(BotState.objects.get)(lane="paper")
    assert state.bankroll == (Decimal(BANKROLL) + total) / 1_000_000
