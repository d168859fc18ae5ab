"""Wall-clock ticks in quiet spells (interfaces.md §4), on a stepped fake wall clock.

The ticker is the network feed's own (``NetworkFeed(wall_clock_ticks=True)``), looked at
with ``check()`` as its loop does every 100 ms, so no test sleeps.
"""

from __future__ import annotations

import dataclasses

import pytest

from kbtc_site.env import Env
from marketdata.kalshi.signing import KalshiSigner
from marketdata.model.events import ClockTick, Event, SpotTrade
from marketdata.sim.auth import generate_key_pair
from marketdata.sim.core import SimCore
from marketdata.sim.prices import history_candles
from marketdata.sim.stream import history_for
from trading.engine.intents import ClosePosition
from trading.engine.params import DEFAULT_PARAMS
from trading.engine.records import PositionClosed, PositionOpened
from trading.runtime.network import NetworkFeed
from trading.runtime.session import SessionOutput, new_session, paper_venues

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
LOOK_MS = 100  # the ticker's poll


class SteppedClock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def make_feed(sink, clock: SteppedClock, *, wall_clock_ticks: bool = True) -> NetworkFeed:
    private, _ = generate_key_pair()
    feed = NetworkFeed(
        kalshi_api_url="https://api.example.com/trade-api/v2",
        kalshi_ws_url="wss://ws.example.com/trade-api/ws/v2",
        coinbase_ws_url="wss://coinbase.example.com",
        signer=KalshiSigner.from_pem("k", private),
        clock_ms=clock,
        wall_clock_ticks=wall_clock_ticks,
    )
    feed._sink = sink
    return feed


def ticks(events: list[Event]) -> list[int]:
    return [e.ts for e in events if isinstance(e, ClockTick)]


def look_until(feed: NetworkFeed, clock: SteppedClock, until_ms: int) -> None:
    """Step the wall clock to ``until_ms``, looking every 100 ms (the ticker's loop)."""
    ticker = feed.quiet_ticker
    assert ticker is not None
    while clock.ms + LOOK_MS <= until_ms:
        clock.ms += LOOK_MS
        ticker.check()


def test_a_quiet_stream_gets_a_tick_at_each_wall_second_after_a_quiet_second() -> None:
    got: list[Event] = []
    clock = SteppedClock(T0 + 250)
    feed = make_feed(got.append, clock)
    feed.deliver(SpotTrade(ts=T0 + 200, price=1.0, size=1.0, trade_id="a"))
    look_until(feed, clock, T0 + 1250)  # the first look (T0+350) saw the trade
    assert ticks(got) == []  # quiet for less than a second of wall time
    look_until(feed, clock, T0 + 1350)
    assert ticks(got) == [T0 + 1000]  # a wall second, newer than the trade
    look_until(feed, clock, T0 + 5050)
    assert ticks(got) == [T0 + 1000, T0 + 2000, T0 + 3000, T0 + 4000, T0 + 5000]
    assert all(e.recv_ts is not None and 0 <= e.recv_ts - e.ts < 1000 for e in got[1:])
    assert feed.now() == T0 + 5000
    # the stream comes back: no tick until it has been quiet for a second again
    feed.deliver(SpotTrade(ts=T0 + 5300, price=1.0, size=1.0, trade_id="b"))
    look_until(feed, clock, T0 + 6050)
    assert ticks(got)[-1] == T0 + 5000
    look_until(feed, clock, T0 + 6150)
    assert ticks(got)[-1] == T0 + 6000
    assert feed.quiet_ticker is not None
    assert feed.quiet_ticker.injected == 6


def test_a_live_stream_gets_no_extra_ticks() -> None:
    """Gaps of up to 900 ms between events (the sparse end of a live feed), looked at
    every 100 ms as the loop does: "now" keeps moving, so nothing is added."""
    got: list[Event] = []
    clock = SteppedClock(T0)
    feed = make_feed(got.append, clock)
    ts = T0
    for n in range(200):
        ts += 300 + 300 * (n % 3)  # 300, 600, 900 ms apart
        look_until(feed, clock, ts + 40)
        feed.deliver(SpotTrade(ts=ts, price=1.0, size=1.0, trade_id=str(n)))
    assert ticks(got) == []
    assert feed.quiet_ticker is not None
    assert feed.quiet_ticker.injected == 0


def test_a_tick_is_never_at_or_before_the_latest_event_time() -> None:
    got: list[Event] = []
    clock = SteppedClock(T0 + 100)
    feed = make_feed(got.append, clock)
    # the exchange's clock runs 1.5 s ahead of ours
    feed.deliver(SpotTrade(ts=T0 + 1600, price=1.0, size=1.0, trade_id="a"))
    look_until(feed, clock, T0 + 1900)
    assert ticks(got) == []  # quiet for a second, but wall second T0+1000 is behind "now"
    look_until(feed, clock, T0 + 2000)
    assert ticks(got) == [T0 + 2000]


def test_nothing_is_ticked_before_the_stream_has_a_clock() -> None:
    got: list[Event] = []
    clock = SteppedClock(T0)
    feed = make_feed(got.append, clock)
    look_until(feed, clock, T0 + 10_000)
    assert got == []


def test_quiet_ticks_reach_the_engine_and_the_expiry_guard_fires() -> None:
    """The market goes quiet with a position held: only the wall-clock ticks move "now",
    and the expiry guard closes the position at the first second with < 180 s left."""
    history = history_for(7, T0, 60)
    session = new_session(
        DEFAULT_PARAMS,
        bankroll=1_000_000_000,
        venues=paper_venues(200),
        warmup=history_candles(history, T0, count=60),
    )
    produced: list[SessionOutput] = []
    consumed: list[Event] = []

    def sink(event: Event) -> None:
        consumed.append(event)
        produced.extend(session.feed(event))

    core = SimCore(seed=7, start_ts=T0, history=history)
    clock = SteppedClock(T0)
    feed = make_feed(sink, clock)
    ticker = feed.quiet_ticker
    assert ticker is not None
    for event in core.initial_events():
        feed.deliver(event)
    while not any(isinstance(item, PositionOpened) for item in produced):
        for event in core.step():  # a live stream, in wall time
            clock.ms = event.ts + 50
            feed.deliver(event)
            ticker.check()
    assert ticker.injected == 0
    # From here only the settlement-window guards may exit, so the test is about time.
    session.apply_params(dataclasses.replace(DEFAULT_PARAMS, min_hold_s=3600))
    position = session.engine.lanes["paper"].position
    assert position is not None
    close_ts = session.engine.market.contracts[position.ticker].close_ts
    assert close_ts is not None
    quiet_from = feed.now()
    assert quiet_from is not None
    consumed.clear()

    look_until(feed, clock, close_ts)

    assert all(isinstance(e, ClockTick) for e in consumed)
    seconds = ticks(consumed)
    assert seconds == list(range(seconds[0], seconds[-1] + 1, 1000))
    assert quiet_from < seconds[0] <= quiet_from + 50 + 1000 + LOOK_MS  # after a quiet second
    guard = DEFAULT_PARAMS.expiry_guard_trigger_s * 1000
    exits = [item for item in produced if isinstance(item, ClosePosition)]
    assert [(e.reason, e.position_uid) for e in exits] == [("EXPIRY_GUARD", position.uid)]
    first_due = next(s for s in seconds if close_ts - s < guard)
    assert exits[0].ts == first_due
    closed = [item for item in produced if isinstance(item, PositionClosed)]
    assert [(c.reason, c.ts) for c in closed] == [("EXPIRY_GUARD", first_due + 200)]


def test_the_feed_has_no_ticker_when_off() -> None:
    clock = SteppedClock(T0)
    feed = make_feed(lambda e: None, clock, wall_clock_ticks=False)
    assert feed.quiet_ticker is None


# --- the setting ---------------------------------------------------------------------------

SIM = "http://127.0.0.1:8765"


@pytest.mark.parametrize(
    ("urls", "expected"),
    [
        ({}, True),  # the real exchanges (the defaults)
        (
            {
                "KALSHI_API_URL": f"{SIM}/trade-api/v2",
                "KALSHI_WS_URL": "ws://127.0.0.1:8765/trade-api/ws/v2",
                "COINBASE_WS_URL": "ws://127.0.0.1:8765/coinbase",
            },
            False,
        ),
        ({"COINBASE_WS_URL": "ws://localhost:8765/coinbase"}, False),
        ({"KALSHI_WS_URL": "ws://[::1]:8765/trade-api/ws/v2"}, False),
        ({"KALSHI_API_URL": "https://demo-api.kalshi.co/trade-api/v2"}, True),
    ],
)
def test_wall_clock_ticks_are_on_by_default_only_off_loopback(
    monkeypatch: pytest.MonkeyPatch, urls: dict[str, str], expected: bool
) -> None:
    monkeypatch.delenv("KBTC_WALL_CLOCK_TICKS", raising=False)
    for name in ("KALSHI_API_URL", "KALSHI_WS_URL", "COINBASE_WS_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, url in urls.items():
        monkeypatch.setenv(name, url)
    assert Env().wall_clock_ticks is expected


def test_the_setting_overrides_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBTC_WALL_CLOCK_TICKS", "false")
    assert Env().wall_clock_ticks is False
    monkeypatch.setenv("KBTC_WALL_CLOCK_TICKS", "true")
    monkeypatch.setenv("COINBASE_WS_URL", "ws://127.0.0.1:8765/coinbase")
    assert Env().wall_clock_ticks is True
    monkeypatch.setenv("KBTC_WALL_CLOCK_TICKS", "")  # empty counts as unset
    assert Env().wall_clock_ticks is False
