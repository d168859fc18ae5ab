"""The sink fed what the real session produces over a simulated market (seed 7, the demo's
market): every trade posts, the heartbeat follows the trading clock, and the bankroll the
posts show is the engine's."""

from __future__ import annotations

import asyncio

import pytest

from marketdata.sim.prices import history_candles
from marketdata.sim.stream import generate_events, history_for
from trading.engine.params import DEFAULT_PARAMS
from trading.engine.records import PositionClosed, PositionOpened
from trading.notifications.sink import NotificationSink
from trading.runtime.session import new_session, paper_venues

pytestmark = pytest.mark.usefixtures("webhooks", "eager")

START = 1_767_225_600_000  # 2026-01-01 00:00 UTC
SEED = 7
MINUTES = 120
BANKROLL = 1_000_000_000


async def test_the_sessions_records_post_as_the_engine_traded(server):
    history = history_for(SEED, START, MINUTES)
    session = new_session(
        DEFAULT_PARAMS,
        bankroll=BANKROLL,
        venues=paper_venues(200),
        warmup=history_candles(history, START, count=60),
    )
    # The wall clock runs with the trading clock here (speed 1): no wall-minute throttling.
    sink = NotificationSink(bankrolls={"paper": BANKROLL}, wall=lambda: session.now / 1000)
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    opened = closed = compared = 0
    for event in generate_events(SEED, START, MINUTES, history):
        produced = session.feed(event)
        sink.consume(produced, session.now)
        for record in produced:
            opened += isinstance(record, PositionOpened)
            if isinstance(record, PositionClosed):
                closed += 1
                lane = session.engine.lanes["paper"]
                if lane.position is None:  # flat: the sink's bankroll is the engine's
                    assert sink.bankrolls["paper"] == lane.breaker.bankroll
                    compared += 1
    await asyncio.to_thread(server.wait_for, opened + closed + 4)
    stop.set()
    await task

    assert opened >= 3  # the demo's market trades in its first two hours
    assert compared == closed
    titles = [post.title for post in server.on("trades")]
    assert sum(title.startswith("[PAPER] Trade opened") for title in titles) == opened
    assert sum(title.startswith("[PAPER] Trade closed") for title in titles) == closed
    uptimes = [post.field("Uptime") for post in server.on("heartbeat")]
    assert uptimes == ["1m 0s", "31m 0s", "1h 1m", "1h 31m"]
