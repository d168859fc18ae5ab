"""Coinbase WS client: frame parsing without sockets, then against the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.coinbase.ws import CoinbaseWsClient
from marketdata.model.events import ClockTick, SpotTicker, SpotTrade
from marketdata.ratelimit import Backoff
from marketdata.sim.testing import running_simulator
from marketdata.tests.kalshi_fixtures import Collector, until

TICKER = {
    "channel": "ticker",
    "client_id": "",
    "timestamp": "2023-02-09T20:30:37.167359596Z",
    "sequence_num": 0,
    "events": [
        {
            "type": "update",
            "tickers": [
                {
                    "type": "ticker",
                    "product_id": "BTC-USD",
                    "price": "21932.98",
                    "best_bid": "21932.97",
                    "best_ask": "21932.99",
                    "volume_24_h": "1",
                }
            ],
        }
    ],
}


def offline() -> tuple[CoinbaseWsClient, Collector]:
    collector = Collector()
    return CoinbaseWsClient("ws://unused", collector), collector


def test_a_ticker_frame_becomes_a_spot_ticker_at_exchange_time():
    client, collector = offline()
    client.dispatch(json.dumps(TICKER), recv_ts=99)
    assert collector.events == [
        SpotTicker(
            ts=1675974637167, price=21932.98, best_bid=21932.97, best_ask=21932.99, recv_ts=99
        )
    ]


def test_trades_come_out_in_time_order_and_snapshots_are_not_replayed():
    client, collector = offline()
    trade = {
        "trade_id": "1",
        "product_id": "BTC-USD",
        "price": "100.5",
        "size": "0.1",
        "side": "BUY",
        "time": "2023-02-09T20:30:38.000Z",
    }
    later = {**trade, "trade_id": "2", "time": "2023-02-09T20:30:39.000Z"}
    frame = {
        "channel": "market_trades",
        "timestamp": "2023-02-09T20:30:39Z",
        "sequence_num": 0,
        "events": [
            {"type": "snapshot", "trades": [trade]},
            {"type": "update", "trades": [later, trade]},
        ],
    }
    client.dispatch(json.dumps(frame), recv_ts=1)
    assert [e.trade_id for e in collector.events] == ["1", "2"]
    assert isinstance(collector.events[0], SpotTrade)


def test_a_heartbeat_is_liveness_and_a_clock_tick_at_its_own_time():
    client, collector = offline()
    frame = {
        "channel": "heartbeats",
        "timestamp": "2023-06-23T20:31:56Z",
        "sequence_num": 0,
        "events": [
            {
                "current_time": "2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.5",
                "heartbeat_counter": "3049",
            }
        ],
    }

    async def go() -> None:
        client.dispatch(json.dumps(frame), recv_ts=5)

    asyncio.run(go())
    assert collector.events == [ClockTick(ts=1687552316121, recv_ts=5)]
    assert client.stats.last_alive_ms is not None


def test_sequence_gaps_are_counted_and_late_frames_dropped():
    client, collector = offline()
    for seq in (0, 1, 3, 2, 4):
        client.dispatch(json.dumps({**TICKER, "sequence_num": seq}), recv_ts=1)
    assert client.stats.seq_gaps == 1
    assert len(collector.events) == 4  # seq 2 arrived after 3: out of order, ignored


def test_a_bad_price_is_malformed_counted_and_emits_nothing():
    client, collector = offline()
    bad = json.loads(json.dumps(TICKER))
    bad["events"][0]["tickers"][0]["price"] = "NaN"
    client.dispatch(json.dumps(bad), recv_ts=1)
    client.dispatch("{not json", recv_ts=1)
    assert collector.events == []
    assert client.stats.malformed == 2


@contextlib.asynccontextmanager
async def live(sim, **kwargs):
    collector = Collector()
    client = CoinbaseWsClient(
        sim.coinbase_ws_url, collector, backoff=Backoff(0.05, 0.2, floor_s=0.01), **kwargs
    )
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    try:
        yield client, collector
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_it_streams_spot_ticker_trades_and_simulated_time():
    async with running_simulator() as sim, live(sim) as (client, collector):
        await client.wait_connected()
        await asyncio.sleep(0.2)
        await sim.advance(30)
        await until(
            lambda: any(
                isinstance(e, ClockTick) and e.ts >= sim.now() - 1000 for e in collector.events
            )
        )
        assert {"spot_ticker", "spot_trade", "clock_tick"} <= collector.kinds()
        ticks = [e.ts for e in collector.events if isinstance(e, ClockTick)]
        assert ticks == sorted(ticks)
        assert max(ticks) <= sim.now()
        assert all(e.recv_ts is not None for e in collector.events)
        assert client.stats.malformed == 0
        assert client.stats.seq_gaps == 0


async def test_heartbeats_flowing_in_a_quiet_market_keep_the_connection():
    # The simulator beats once per wall second; a 3 s timeout leaves room for a loaded CI
    # machine while 7 s of silence would still cross it twice.
    async with running_simulator() as sim, live(sim, heartbeat_timeout_s=3.0) as (client, _):
        await client.wait_connected()
        await asyncio.sleep(7.0)  # no market data: the clock is stepped and still
        assert client.stats.reconnects == 0
        assert client.stats.liveness_timeouts == 0


async def test_no_heartbeat_within_the_timeout_reconnects_and_resubscribes():
    async with (
        running_simulator() as sim,
        live(sim, heartbeat_timeout_s=1.0) as (client, collector),
    ):
        await until(
            lambda: (
                len(sim.exchange.coinbase) == 1
                and "heartbeats" in next(iter(sim.exchange.coinbase.values())).channels
            )
        )
        (session,) = sim.exchange.coinbase.values()
        session.last_wall = time.monotonic() + 3600  # this connection's heartbeats stop
        await until(lambda: client.stats.liveness_timeouts == 1, timeout_s=5)
        await until(lambda: client.stats.connects == 2)
        before = len(collector.events)
        await sim.advance(5)
        await until(lambda: len(collector.events) > before)
        assert client.stats.reconnects == 1


async def test_a_dropped_connection_and_faulty_frames_are_survived():
    async with running_simulator() as sim, live(sim) as (client, collector):
        await client.wait_connected()
        sim.set_faults(seq_skip=0.1, malformed=0.05)
        for _ in range(3):
            await sim.advance(20)
        (outbox,) = sim.exchange.coinbase
        transport = outbox.request.transport
        assert transport is not None
        transport.abort()
        await until(lambda: client.stats.connects == 2)
        sim.set_faults(seq_skip=0.0, malformed=0.0)
        before = len(collector.events)
        await sim.advance(10)
        await until(lambda: len(collector.events) > before)
        assert client.stats.seq_gaps >= 1
        assert client.stats.malformed >= 1


@settings(max_examples=300, deadline=None)
@given(
    channel=st.sampled_from(["ticker", "market_trades", "heartbeats", "subscriptions", "x"]),
    events=st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(
                st.sampled_from(
                    [
                        "type",
                        "tickers",
                        "trades",
                        "price",
                        "best_bid",
                        "time",
                        "product_id",
                        "size",
                        "current_time",
                        "trade_id",
                    ]
                ),
                inner,
                max_size=5,
            ),
        ),
        max_leaves=12,
    ),
    seq=st.one_of(st.none(), st.integers(), st.text(max_size=3)),
)
def test_fuzzed_coinbase_frames_never_crash_and_bad_ones_emit_nothing(channel, events, seq):
    client, collector = offline()
    frame = {
        "channel": channel,
        "timestamp": "2023-02-09T20:30:37Z",
        "sequence_num": seq,
        "events": events,
    }
    client.dispatch(json.dumps(frame), recv_ts=1)
    assert client.stats.handler_errors == 0
    if client.stats.malformed:
        assert collector.events == []
    for event in collector.events:
        assert not isinstance(event, SpotTicker | SpotTrade) or event.price > 0
