"""The network feed: the real exchange clients, pushing their events into the daemon.

``NetworkFeed`` runs three clients against configured URLs (the real exchanges in
production, the simulator server in the demo and the tests):

- ``CoinbaseWsClient``: BTC-USD ticker and trades, and heartbeats as ``ClockTick``s
  carrying the exchange's time (the simulator's: simulated time), so the stream's clock
  advances in quiet spells (interfaces.md §4);
- ``KalshiWsClient`` (signed handshake): books, public trades and lifecycle changes of the
  wanted tickers; frames without their own time are dated by the feed's latest event time
  (``event_time_fallback``), never by the wall clock, which would jump a 60x simulation;
- ``KalshiRestClient``: market lists for ``ContractRotation`` + ``ContractSelector``, which
  keep the active contract and every ticker the lanes hold subscribed.

Time: "now" is the latest event time over both sockets. Events are passed on with their own
exchange time (the engine and the session take the maximum, so an event a little older than
one from the other socket never moves "now" back); a ``ClockTick`` that does not advance
"now" carries nothing new and is dropped, so a heartbeat never ticks a second twice.

Markets that were already open when the feed connected get no lifecycle message; the REST
list supplies them: every market whose phase advanced (listed → open → closed → …) beyond
what the stream has shown becomes a ``MarketStatus`` at the current event time.

The Kalshi WS connects only once Coinbase has given the first event time, so nothing is
dated before the stream has a clock.

With ``wall_clock_ticks`` (the real exchanges only: ``trading.runtime.wall_clock``), a
``QuietTicker`` feeds ``ClockTick``s at wall seconds through ``deliver`` whenever no event
has advanced "now" for a second, so time exits and the expiry guard still run if both
sockets go quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any

import structlog

from marketdata.coinbase.ws import CoinbaseWsClient
from marketdata.kalshi.errors import KalshiError
from marketdata.kalshi.rest import KalshiRestClient
from marketdata.kalshi.signing import KalshiSigner
from marketdata.kalshi.wire import MarketInfo
from marketdata.kalshi.ws import KalshiWsClient
from marketdata.model.events import ClockTick, Event, EventSink, MarketStatus
from marketdata.ratelimit import Backoff
from marketdata.selection import ContractRotation, ContractSelector
from marketdata.wsfeed import ReconnectingFeed, wall_ms
from trading.runtime.wall_clock import QuietTicker

log = structlog.get_logger(__name__)

PHASE_RANK = {"listed": 0, "open": 1, "closed": 2, "determined": 3, "finalized": 4}
_PHASE_STATUS = {  # our phase → Kalshi's REST status word
    "listed": "initialized",
    "open": "active",
    "closed": "closed",
    "determined": "determined",
    "finalized": "finalized",
}
Positions = Callable[[], Mapping[str, int]]


class _Follower:
    """What ``ContractRotation`` talks to: the Kalshi WS client, plus the feed, which turns
    each REST market list into the status events the stream has not shown yet."""

    def __init__(self, feed: NetworkFeed, client: KalshiWsClient) -> None:
        self.feed = feed
        self.client = client

    def set_markets(self, tickers: Iterable[str]) -> None:
        self.client.set_markets(tickers)

    def remember_markets(self, markets: Iterable[MarketInfo]) -> None:
        markets = list(markets)
        self.client.remember_markets(
            markets, fee_type=self.feed.fee_type, fee_multiplier=self.feed.fee_multiplier
        )
        self.feed.on_market_list(markets)


class NetworkFeed:
    """A daemon ``Feed`` (``await feed(sink, stop)``) over the exchange clients."""

    def __init__(
        self,
        *,
        kalshi_api_url: str,
        kalshi_ws_url: str,
        coinbase_ws_url: str,
        signer: KalshiSigner,
        series_ticker: str = "KXBTC15M",
        refresh_s: float = 60.0,
        clock_ms: Callable[[], int] = wall_ms,
        heartbeat_timeout_s: float = 10.0,
        ping_timeout_s: float = 30.0,
        backoff: Callable[[], Backoff] | None = None,
        positions: Positions | None = None,
        wall_clock_ticks: bool = False,
        account_channels: tuple[str, ...] = (),
    ) -> None:
        self.kalshi_api_url = kalshi_api_url
        # The live lane's authenticated fill stream (``("fill",)``); paper lanes fill in their
        # own venue (interfaces.md §3) and need none.
        self.account_channels = account_channels
        self.kalshi_ws_url = kalshi_ws_url
        self.coinbase_ws_url = coinbase_ws_url
        self.signer = signer
        self.series_ticker = series_ticker
        self.refresh_s = refresh_s
        self.clock_ms = clock_ms
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.ping_timeout_s = ping_timeout_s
        self.backoff = backoff
        self.positions = positions  # the lanes' open positions: ticker → count
        self.fee_type = "quadratic"
        self.fee_multiplier = Fraction(1)
        self.latest_ts: int | None = None
        self.events = 0
        self.stale_ticks = 0
        self._sink: EventSink | None = None
        self._phase: dict[str, int] = {}  # ticker → rank of the latest phase passed on
        self._held: dict[str, int] = {}
        self._clock = asyncio.Event()  # set by the first event time
        self.coinbase: CoinbaseWsClient | None = None
        self.kalshi: KalshiWsClient | None = None
        self.rotation: ContractRotation | None = None
        self.rest: KalshiRestClient | None = None
        # Only where event time is wall time (the real exchanges), never on the simulator.
        self.quiet_ticker = (
            QuietTicker(now=self.now, deliver=self.deliver, clock_ms=clock_ms)
            if wall_clock_ticks
            else None
        )

    # --- clients (the latency bench overrides these to time them) --------------------------

    def make_coinbase(self, on_event: EventSink) -> CoinbaseWsClient:
        return CoinbaseWsClient(
            self.coinbase_ws_url,
            on_event,
            heartbeat_timeout_s=self.heartbeat_timeout_s,
            backoff=self.backoff() if self.backoff else None,
            clock_ms=self.clock_ms,
        )

    def make_kalshi(self, on_event: EventSink) -> KalshiWsClient:
        return KalshiWsClient(
            self.kalshi_ws_url,
            self.signer,
            on_event,
            series_prefix=f"{self.series_ticker}-",
            account_channels=self.account_channels,
            ping_timeout_s=self.ping_timeout_s,
            backoff=self.backoff() if self.backoff else None,
            clock_ms=self.clock_ms,
            event_time_fallback=self.now,
        )

    # --- the hot path --------------------------------------------------------------------

    def now(self) -> int | None:
        return self.latest_ts

    def deliver(self, event: Event) -> None:
        """One event from either socket (or a REST-made status) to the daemon."""
        latest = self.latest_ts
        if latest is None or event.ts > latest:
            self.latest_ts = event.ts
            if latest is None:
                self._clock.set()
        elif isinstance(event, ClockTick):
            self.stale_ticks += 1
            return  # "now" already there: a tick would carry nothing
        if isinstance(event, MarketStatus):
            rank = PHASE_RANK[event.status]
            if rank < self._phase.get(event.ticker, -1):
                return  # the stream already showed a later phase
            self._phase[event.ticker] = rank
            if self.rotation is not None and event.ticker not in self.rotation.selector.markets:
                self._learn(event)
        self.events += 1
        if self.rotation is not None:
            self.rotation.on_event(event)
        assert self._sink is not None
        self._sink(event)
        if self.positions is not None:
            self._sync_positions()

    def _learn(self, event: MarketStatus) -> None:
        """A market the REST list has not shown yet (listed since the last refresh): the
        selector learns it from the stream, so rotation at its open need not wait for REST."""
        if event.close_ts is None:
            return
        assert self.rotation is not None
        market = MarketInfo(
            ticker=event.ticker,
            event_ticker=event.ticker.rsplit("-", 1)[0],
            status=_PHASE_STATUS[event.status],
            open_ts=event.open_ts,
            close_ts=event.close_ts,
            strike=event.strike,
            result=event.result,
        )
        self.rotation.selector.update_markets([market], self.latest_ts or event.ts)

    def _sync_positions(self) -> None:
        assert self.positions is not None
        held = self.positions()
        if held == self._held:
            return
        rotation = self.rotation
        for ticker in set(held) | set(self._held):
            count = held.get(ticker, 0)
            if count != self._held.get(ticker, 0) and rotation is not None:
                rotation.set_position(ticker, count)
        self._held = dict(held)

    def on_market_list(self, markets: Iterable[MarketInfo]) -> None:
        now = self.latest_ts
        if now is None:
            return
        for market in sorted(markets, key=lambda m: (m.open_ts, m.ticker)):
            if market.close_ts <= now or market.phase not in ("listed", "open"):
                continue
            if PHASE_RANK[market.phase] <= self._phase.get(market.ticker, -1):
                continue
            self.deliver(
                market.status_event(now, fee_type=self.fee_type, fee_multiplier=self.fee_multiplier)
            )

    # --- the loop ------------------------------------------------------------------------

    async def __call__(self, sink: EventSink, stop: asyncio.Event) -> None:
        self._sink = sink
        self.rest = rest = KalshiRestClient(self.kalshi_api_url, self.signer)
        self.coinbase = self.make_coinbase(self.deliver)
        self.kalshi = kalshi = self.make_kalshi(self.deliver)
        self.rotation = ContractRotation(
            rest,
            _Follower(self, kalshi),
            ContractSelector(),
            series_ticker=self.series_ticker,
            refresh_s=self.refresh_s,
            now_ms=lambda: self.latest_ts if self.latest_ts is not None else wall_ms(),
        )
        tasks = [asyncio.create_task(self.coinbase.run(stop))]
        if self.quiet_ticker is not None:
            tasks.append(asyncio.create_task(self.quiet_ticker.run(stop)))
            log.info("wall_clock_ticks_on", quiet_ms=self.quiet_ticker.quiet_ms)
        try:
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._clock.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waits:
                    waiter.cancel()
            if stop.is_set():
                return
            await self._read_fees(rest)
            tasks.append(asyncio.create_task(kalshi.run(stop)))
            tasks.append(asyncio.create_task(self.rotation.run(stop)))
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await rest.aclose()

    async def _read_fees(self, rest: KalshiRestClient) -> None:
        try:
            series = await rest.get_series(self.series_ticker)
        except KalshiError as exc:
            log.warning("series_fees_unavailable", error=str(exc), assumed=self.fee_type)
            return
        self.fee_type, self.fee_multiplier = series.fee_type, series.fee_multiplier

    # --- health --------------------------------------------------------------------------

    def health(self) -> list[dict[str, Any]]:
        """One entry per socket for the ``health`` topic (``trading.push``): the client's
        ``FeedStats`` plus the schema's ``name`` and ``last_message_age_ms``."""
        now = self.clock_ms()
        feeds: list[dict[str, Any]] = []
        clients: list[ReconnectingFeed | None] = [self.coinbase, self.kalshi]
        for client in clients:
            if client is None:
                continue
            stats = client.stats.as_dict()
            last = stats["last_message_ms"]
            feeds.append(
                {
                    "name": stats["feed"],
                    **stats,
                    "last_message_age_ms": None if last is None else max(0, now - last),
                }
            )
        if feeds and self.rotation is not None:
            active = self.rotation.selector.active
            feeds[-1]["active_ticker"] = active.ticker if active else None
            feeds[-1]["market_refreshes"] = self.rotation.refreshes
            feeds[-1]["market_refresh_errors"] = self.rotation.refresh_errors
        return feeds
