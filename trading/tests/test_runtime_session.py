import json

import pytest

from marketdata.model.events import ClockTick, Event, SpotTrade
from marketdata.sim.prices import history_candles
from marketdata.sim.stream import generate_events, history_for
from trading.engine.params import DEFAULT_PARAMS
from trading.engine.records import PositionClosed, trade_list_hash
from trading.runtime.session import new_session, paper_venues, restored_session

START = 1_767_225_600_000  # 2026-01-01 00:00 UTC
SEED = 7
BANKROLL = 1_000_000_000


def session(warmup=(), **kwargs):
    consumed: list[Event] = []
    s = new_session(
        DEFAULT_PARAMS,
        bankroll=BANKROLL,
        venues=paper_venues(200),
        warmup=warmup,
        on_consumed=consumed.append,
        **kwargs,
    )
    return s, consumed


def test_it_emits_a_clock_tick_when_event_time_crosses_a_second():
    s, consumed = session()
    s.feed(SpotTrade(ts=1_500, price=1.0, size=1.0))
    s.feed(SpotTrade(ts=1_900, price=1.0, size=1.0))
    s.feed(SpotTrade(ts=3_100, price=1.0, size=1.0))
    assert [(e.kind, e.ts) for e in consumed] == [
        ("clock_tick", 1000),
        ("spot_trade", 1500),
        ("spot_trade", 1900),
        ("clock_tick", 3000),
        ("spot_trade", 3100),
    ]


def test_a_stream_that_carries_its_ticks_gets_no_extra_ones():
    s, consumed = session()
    for event in (ClockTick(ts=1000), SpotTrade(ts=1500, price=1.0, size=1.0), ClockTick(ts=2000)):
        s.feed(event)
    assert [e.ts for e in consumed] == [1000, 1500, 2000]


def test_replaying_the_consumed_events_reproduces_the_session():
    history = history_for(SEED, START, 60)
    warmup = history_candles(history, START, count=60)
    live, consumed = session(warmup)
    outputs = live.feed_all(generate_events(SEED, START, 60, history))
    replay, again = session(warmup)
    replayed = replay.feed_all(consumed)
    assert again == consumed  # the journal replays without any new tick
    assert trade_list_hash(replayed) == trade_list_hash(outputs)
    assert replay.engine.snapshot() == live.engine.snapshot()


@pytest.mark.slow
def test_a_restart_mid_run_trades_exactly_like_an_uninterrupted_run():
    minutes, stop_at = 180, 90
    history = history_for(SEED, START, minutes)
    warmup = history_candles(history, START, count=60)
    events = list(generate_events(SEED, START, minutes, history))
    whole, _ = session(warmup)
    expected = whole.feed_all(events)
    assert any(isinstance(o, PositionClosed) for o in expected)

    first, consumed = session(warmup)
    cut = next(i for i, e in enumerate(events) if e.ts >= START + stop_at * 60_000)
    before = first.feed_all(events[:cut])
    snapshot = json.loads(json.dumps(first.snapshot()))  # as stored: plain JSON
    second = restored_session(
        DEFAULT_PARAMS, snapshot, venues=paper_venues(200), warmup=warmup, replay=list(consumed)
    )
    after = second.feed_all(events[cut:])
    assert trade_list_hash(before + after) == trade_list_hash(expected)
    assert second.engine.snapshot()["lanes"] == whole.engine.snapshot()["lanes"]
