"""Recorder and reader: the journal is exactly the consumed stream, in order."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from marketdata.model.events import BookDelta, BookSnapshot, ClockTick, MarketStatus, SpotTrade
from marketdata.models import (
    Candle,
    Market,
    OrderBookSnapshot,
    PublicTradeRecord,
    RecordedEvent,
    RecordingSession,
)
from marketdata.recorder import Recorder, iter_events, session_gaps
from marketdata.tests.factories import START_TS, market_with_own_orders

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections():
    """The recorder's ORM thread keeps its connection; the test database can't be dropped
    while it is open."""
    yield
    await sync_to_async(connections.close_all)()


def _count(model):
    return sync_to_async(lambda: model.objects.count())()


async def _read(**filters):
    events = await sync_to_async(lambda: list(iter_events(**filters)))()
    return events


async def _record_all(events, **options):
    recorder = Recorder(**options)
    stop = asyncio.Event()
    writer = asyncio.create_task(recorder.run(stop))
    for index, event in enumerate(events):
        recorder.record(event)
        if index % 500 == 0:
            await asyncio.sleep(0)
    stop.set()
    await writer
    return recorder


async def test_stream_through_recorder_and_reader_is_identical():
    stream = market_with_own_orders(6_000, seed=11)
    awkward = 'back\\slash\ttab "quote"\nline ü €'  # COPY text escapes, JSON escapes, UTF-8
    stream[100:100] = [SpotTrade(ts=stream[100].ts, price=0.1 + 0.2, size=1e-8, trade_id=awkward)]
    stream = stream[:6_000]
    assert {event.kind for event in stream} == {
        "spot_trade",
        "spot_ticker",
        "book_snapshot",
        "book_delta",
        "public_trade",
        "market_status",
        "order_update",
        "own_fill",
        "clock_tick",
    }
    recorder = await _record_all(stream, batch_size=700, flush_interval_s=0.05)

    assert (recorder.recorded, recorder.dropped, recorder.buffered) == (6_000, 0, 0)
    assert await _read(session_id=recorder.session_id) == stream
    assert await _count(RecordedEvent) == 6_000


async def test_reader_filters_by_time_and_kind_in_stored_order():
    stream = market_with_own_orders(3_000, seed=3)
    await _record_all(stream, batch_size=256, flush_interval_s=0.05)
    start, end = stream[500].ts, stream[2_500].ts

    window = await _read(start_ts=start, end_ts=end, kinds=["book_delta", "clock_tick"])

    expected = [e for e in stream if start <= e.ts < end and e.kind in ("book_delta", "clock_tick")]
    assert window == expected


async def test_a_second_session_replays_after_the_first():
    first = market_with_own_orders(400, seed=1)
    second = market_with_own_orders(300, seed=2)
    await _record_all(first, batch_size=100)
    await _record_all(second, batch_size=100)
    assert await _read() == first + second


async def test_it_derives_candles_snapshots_trades_and_markets():
    stream = market_with_own_orders(2_000, seed=5)  # about 4 minutes of event time
    await _record_all(stream, batch_size=1_000, flush_interval_s=0.05)

    span_s = (stream[-1].ts - stream[0].ts) / 1000
    minutes = await sync_to_async(
        lambda: list(Candle.objects.filter(source="live", interval_s=60).order_by("open_time"))
    )()
    assert len(minutes) == int(span_s // 60)  # closed minutes only, the open one is not stored
    assert all(c.low <= min(c.open, c.close) and c.high >= max(c.open, c.close) for c in minutes)
    trades = sum(1 for e in stream if e.kind == "public_trade")
    assert await _count(PublicTradeRecord) == trades
    snapshots = await _count(OrderBookSnapshot)
    assert snapshots == pytest.approx(span_s / 30, abs=1)  # one open book, one per 30 s
    markets = await sync_to_async(lambda: list(Market.objects.all()))()
    latest = {e.ticker: e.status for e in stream if isinstance(e, MarketStatus)}
    assert {m.ticker: m.status for m in markets} == latest
    assert list(latest.values()).count("open") == 1


async def test_snapshots_hold_the_book_as_of_each_30s_boundary_and_results_are_stored():
    ticker = "KXBTC15M-T"
    t0 = START_TS
    stream = [
        MarketStatus(
            ts=t0, ticker=ticker, status="open", strike=87_000.5, open_ts=t0, close_ts=t0 + 900_000
        ),
        BookSnapshot(ts=t0 + 1, ticker=ticker, yes=((4000, 500), (4100, 300)), no=((5800, 200),)),
        BookDelta(ts=t0 + 29_999, ticker=ticker, side="yes", price=4200, delta=100),
        BookDelta(ts=t0 + 30_000, ticker=ticker, side="yes", price=4300, delta=100),
        ClockTick(ts=t0 + 61_000),
        MarketStatus(
            ts=t0 + 900_500,
            ticker=ticker,
            status="determined",
            strike=87_000.5,
            open_ts=t0,
            close_ts=t0 + 900_000,
            result="yes",
        ),
        ClockTick(ts=t0 + 930_000),
    ]
    await _record_all(stream)

    rows = await sync_to_async(
        lambda: list(
            OrderBookSnapshot.objects.order_by("ts").values_list(
                "yes_bids", "no_bids", "best_yes_bid", "best_yes_ask", "obi"
            )
        )
    )()
    assert [r[0] for r in rows] == [
        [[4200, 100], [4100, 300], [4000, 500]],  # 12:00:30 excludes the delta at :30.000
        [[4300, 100], [4200, 100], [4100, 300], [4000, 500]],  # 12:01:00
        [[4300, 100], [4200, 100], [4100, 300], [4000, 500]],  # 12:15:00, the close
    ]  # and none after the market is determined
    assert (str(rows[0][2]), str(rows[0][3])) == ("0.4200", "0.4200")
    assert rows[0][4] == pytest.approx(900 / 1100)
    market = await sync_to_async(lambda: Market.objects.get(ticker=ticker))()
    assert (market.status, market.result, str(market.strike)) == ("determined", "yes", "87000.50")


async def test_record_drops_and_counts_beyond_the_buffer_bound_without_waiting():
    recorder = Recorder(buffer_bound=100, batch_size=10)
    for event in market_with_own_orders(250, seed=9):
        recorder.record(event)  # no writer running: nothing drains
    assert (recorder.emitted, recorder.buffered, recorder.dropped) == (250, 100, 150)
    await recorder.close(timeout_s=5)
    assert recorder.recorded == 100
    assert recorder.session_id is not None
    session_id = recorder.session_id
    assert await _read() == market_with_own_orders(100, seed=9)
    gaps_and_session = await sync_to_async(
        lambda: (
            session_gaps(session_id),
            RecordingSession.objects.values_list("recorded", "dropped").get(),
        )
    )()
    assert gaps_and_session == ([], (100, 150))  # trailing drops show in the session row


async def test_stats_expose_the_counters():
    recorder = Recorder(buffer_bound=2, batch_size=10)
    for _ in range(3):
        recorder.record(SpotTrade(ts=START_TS, price=1.0, size=1.0))
    stats = recorder.stats()
    assert (stats.emitted, stats.recorded, stats.dropped, stats.buffered, stats.flush_errors) == (
        3,
        0,
        1,
        2,
        0,
    )
    await recorder.close(timeout_s=5)
    assert Counter(e.kind for e in await _read()) == {"spot_trade": 2}


def test_journal_json_is_event_to_dict_for_every_kind():
    import json

    from marketdata.model.events import event_to_dict
    from marketdata.recorder.derive import journal_json

    seen = set()
    for event in market_with_own_orders(3_000, seed=4):
        assert json.loads(journal_json(event)) == event_to_dict(event)
        seen.add(event.kind)
    assert len(seen) == 9


async def test_a_simulator_stream_round_trips():
    from marketdata.sim.stream import generate_events

    stream = list(generate_events(3, START_TS, 5))
    recorder = await _record_all(stream, batch_size=400, flush_interval_s=0.05)
    assert await _read(session_id=recorder.session_id) == stream
