"""NetworkFeed's hot path without sockets: time, stale ticks, status phases, held tickers."""

from __future__ import annotations

from marketdata.kalshi.signing import KalshiSigner
from marketdata.kalshi.wire import MarketInfo
from marketdata.model.events import ClockTick, MarketStatus, SpotTrade
from marketdata.sim.auth import generate_key_pair
from trading.runtime.network import NetworkFeed

T0 = 1_767_225_600_000


class FakeRotation:
    def __init__(self) -> None:
        self.seen: list[object] = []
        self.positions: list[tuple[str, int]] = []

        class Selector:
            markets: dict[str, MarketInfo] = {}

            def update_markets(self, markets, now):
                for market in markets:
                    self.markets[market.ticker] = market

        self.selector = Selector()

    def on_event(self, event) -> None:
        self.seen.append(event)

    def set_position(self, ticker: str, count: int) -> None:
        self.positions.append((ticker, count))


def make_feed(sink, positions=None) -> tuple[NetworkFeed, FakeRotation]:
    private, _ = generate_key_pair()
    feed = NetworkFeed(
        kalshi_api_url="http://127.0.0.1:1/trade-api/v2",
        kalshi_ws_url="ws://127.0.0.1:1/trade-api/ws/v2",
        coinbase_ws_url="ws://127.0.0.1:1/coinbase",
        signer=KalshiSigner.from_pem("k", private),
        positions=positions,
    )
    rotation = FakeRotation()
    feed.rotation = rotation  # type: ignore[assignment]
    feed._sink = sink
    return feed, rotation


def status(ticker: str, phase: str, ts: int) -> MarketStatus:
    return MarketStatus(
        ts=ts,
        ticker=ticker,
        status=phase,  # type: ignore[arg-type]
        strike=90_000.0,
        open_ts=T0,
        close_ts=T0 + 900_000,
    )


def test_now_is_the_latest_event_time_and_a_tick_that_does_not_advance_it_is_dropped():
    got: list[object] = []
    feed, _ = make_feed(got.append)
    feed.deliver(ClockTick(ts=T0 + 1000))
    feed.deliver(SpotTrade(ts=T0 + 1500, price=1.0, size=1.0, trade_id="a"))
    feed.deliver(ClockTick(ts=T0 + 1500))  # a heartbeat at "now": nothing new
    feed.deliver(ClockTick(ts=T0 + 1200))  # behind "now"
    feed.deliver(SpotTrade(ts=T0 + 1400, price=1.0, size=1.0, trade_id="b"))  # passed on
    assert feed.now() == T0 + 1500
    assert [type(e).__name__ for e in got] == ["ClockTick", "SpotTrade", "SpotTrade"]
    assert feed.stale_ticks == 2


def test_rest_lists_add_only_phases_the_stream_has_not_shown():
    got: list[MarketStatus] = []
    feed, rotation = make_feed(got.append)
    feed.deliver(ClockTick(ts=T0 + 60_000))
    got.clear()
    market = MarketInfo("KXBTC15M-X-00", "KXBTC15M-X", "active", T0, T0 + 900_000, 9e4, None)
    feed.on_market_list([market])
    assert [(e.ticker, e.status, e.ts) for e in got] == [("KXBTC15M-X-00", "open", T0 + 60_000)]
    feed.on_market_list([market])  # nothing new
    feed.deliver(status("KXBTC15M-X-00", "closed", T0 + 900_000))
    feed.on_market_list([market])  # a stale list must not reopen it
    feed.deliver(status("KXBTC15M-X-00", "open", T0 + 900_001))  # nor a late frame
    assert [e.status for e in got] == ["open", "closed"]
    # a market the stream lists before REST does is taught to the selector
    feed.deliver(status("KXBTC15M-Y-15", "listed", T0 + 900_002))
    assert "KXBTC15M-Y-15" in rotation.selector.markets


def test_held_tickers_follow_the_lanes_positions():
    held: dict[str, int] = {}
    feed, rotation = make_feed(lambda e: None, positions=lambda: held)
    feed.deliver(ClockTick(ts=T0 + 1000))
    held["A"] = 500
    feed.deliver(ClockTick(ts=T0 + 2000))
    held.clear()
    feed.deliver(ClockTick(ts=T0 + 3000))
    assert rotation.positions == [("A", 500), ("A", 0)]
