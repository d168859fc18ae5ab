"""Which KXBTC15M contract is live, and which books to keep (domain.md §1.3, §13.1).

``SoonestWindowPolicy`` picks the open market whose 15-minute window contains "now" (the
latest event time, never the wall clock in simulation). ``ContractSelector`` holds that
choice, rotates it when the window closes, and keeps every ticker with an open position in
the wanted set until the position is closed or the market settles; everything else is
unsubscribed. ``ContractRotation`` wires the selector to the REST client (market lists) and
the WS client (``set_markets``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Protocol

import structlog

from marketdata.kalshi.errors import KalshiError
from marketdata.kalshi.wire import MarketInfo
from marketdata.model.events import Event, MarketStatus

log = structlog.get_logger(__name__)

# Our phase → the status word REST would show, to keep the cached market in step with
# lifecycle events.
_PHASE_STATUS = {
    "listed": "initialized",
    "open": "active",
    "closed": "closed",
    "determined": "determined",
    "finalized": "finalized",
}


class SelectionPolicy(Protocol):
    name: str

    def choose(self, markets: Iterable[MarketInfo], now_ms: int) -> MarketInfo | None: ...


class SoonestWindowPolicy:
    """KXBTC15M: the tradeable market whose [open, close) window contains now; if the feed
    ever shows two, the one closing first."""

    name = "soonest_window"

    def choose(self, markets: Iterable[MarketInfo], now_ms: int) -> MarketInfo | None:
        live = [m for m in markets if m.phase == "open" and m.contains(now_ms)]
        return min(live, key=lambda m: (m.close_ts, m.ticker), default=None)


class ContractSelector:
    """The active contract plus the held ones. Pure: time comes in as arguments."""

    def __init__(self, policy: SelectionPolicy | None = None) -> None:
        self.policy: SelectionPolicy = policy or SoonestWindowPolicy()
        self.markets: dict[str, MarketInfo] = {}
        self.active: MarketInfo | None = None
        self.positions: dict[str, int] = {}  # ticker → signed count (hundredths), non-zero
        self.settled: set[str] = set()

    # --- inputs --------------------------------------------------------------------------

    def update_markets(self, markets: Iterable[MarketInfo], now_ms: int) -> bool:
        """Fold in a REST market list; returns True when the active contract changed."""
        for market in markets:
            self.markets[market.ticker] = market
            if market.phase == "finalized":
                self.settled.add(market.ticker)
        return self.select(now_ms)

    def on_market_status(self, event: MarketStatus) -> bool:
        """A lifecycle change; the active contract closing rotates at once."""
        known = self.markets.get(event.ticker)
        if known is not None:
            self.markets[event.ticker] = replace(
                known,
                status=_PHASE_STATUS[event.status],
                close_ts=event.close_ts if event.close_ts is not None else known.close_ts,
                strike=event.strike if event.strike is not None else known.strike,
                result=event.result,
            )
        if event.status == "finalized":
            self.settled.add(event.ticker)
            self.positions.pop(event.ticker, None)
        return self.select(event.ts)

    def set_position(self, ticker: str, count: int) -> None:
        """The position holder reports a ticker's signed count; zero releases it."""
        if count:
            self.positions[ticker] = count
        else:
            self.positions.pop(ticker, None)

    def select(self, now_ms: int) -> bool:
        """Re-choose the active contract at ``now_ms``; True when it changed.

        At close the cached status of the next window may still say ``initialized`` (the
        REST list is up to a minute old), so a listed market whose window has begun counts
        as open for rotation; the next refresh confirms it.
        """
        current = self.active
        if current is not None and current.contains(now_ms) and self._tradeable(current):
            return False
        candidates = [
            replace(m, status="active") if m.phase == "listed" and m.contains(now_ms) else m
            for m in self.markets.values()
        ]
        chosen = self.policy.choose(candidates, now_ms)
        if chosen is not None:
            chosen = self.markets[chosen.ticker]
        changed = (chosen and chosen.ticker) != (current and current.ticker)
        self.active = chosen
        if changed:
            log.info(
                "contract_rotated",
                old=current and current.ticker,
                new=chosen and chosen.ticker,
                at_ms=now_ms,
            )
        return changed

    def _tradeable(self, market: MarketInfo) -> bool:
        latest = self.markets.get(market.ticker, market)
        return latest.phase in ("open", "listed")

    # --- outputs -------------------------------------------------------------------------

    @property
    def held(self) -> frozenset[str]:
        return frozenset(t for t in self.positions if t not in self.settled)

    def wanted(self) -> frozenset[str]:
        """Tickers whose books must stay subscribed: the active one and every held one."""
        active = {self.active.ticker} if self.active is not None else set()
        return frozenset(active) | self.held

    def forget_finished(self, now_ms: int, keep_ms: int = 3_600_000) -> None:
        """Drop cached markets that closed long ago and are neither active nor held."""
        wanted = self.wanted()
        for ticker, market in list(self.markets.items()):
            if ticker not in wanted and market.close_ts < now_ms - keep_ms:
                del self.markets[ticker]
                self.settled.discard(ticker)


class MarketLister(Protocol):
    async def list_markets(
        self, *, series_ticker: str | None = ..., status: str | None = ...
    ) -> list[MarketInfo]: ...


class MarketFollower(Protocol):
    def set_markets(self, tickers: Iterable[str]) -> None: ...

    def remember_markets(self, markets: Iterable[MarketInfo]) -> None: ...


class ContractRotation:
    """Keeps the WS subscription equal to ``selector.wanted()``.

    Feed it every event (``on_event``): event time drives rotation, so a replay or the
    simulator at 60x rotates at the same stream moment as production. ``run`` refreshes the
    market list from REST every ``refresh_s`` (wall seconds), and sooner when the selector
    has no active contract (for example the next window was not listed yet at close).
    """

    def __init__(
        self,
        rest: MarketLister,
        feed: MarketFollower,
        selector: ContractSelector,
        *,
        series_ticker: str = "KXBTC15M",
        refresh_s: float = 60.0,
        retry_s: float = 1.0,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.rest = rest
        self.feed = feed
        self.selector = selector
        self.series_ticker = series_ticker
        self.refresh_s = refresh_s
        self.retry_s = retry_s
        self._now_ms = now_ms
        self.latest_ts: int | None = None
        self.refreshes = 0
        self.refresh_errors = 0
        self._wake = asyncio.Event()

    def now(self) -> int:
        if self.latest_ts is not None:
            return self.latest_ts
        if self._now_ms is not None:
            return self._now_ms()
        raise RuntimeError("no event time yet and no now_ms source")

    def on_event(self, event: Event) -> None:
        if self.latest_ts is None or event.ts > self.latest_ts:
            self.latest_ts = event.ts
        if isinstance(event, MarketStatus):
            changed = self.selector.on_market_status(event)
        else:
            changed = self.selector.select(self.latest_ts)
        if changed or isinstance(event, MarketStatus):
            self.publish()
        if self.selector.active is None:
            self._wake.set()

    def set_position(self, ticker: str, count: int) -> None:
        self.selector.set_position(ticker, count)
        self.publish()

    def publish(self) -> None:
        self.feed.set_markets(self.selector.wanted())

    async def refresh(self) -> None:
        markets: list[MarketInfo] = []
        for status in ("open", "unopened"):
            markets += await self.rest.list_markets(series_ticker=self.series_ticker, status=status)
        self.refreshes += 1
        self.feed.remember_markets(markets)
        self.selector.update_markets(markets, self.now())
        self.selector.forget_finished(self.now())
        self.publish()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.refresh()
            except KalshiError as exc:
                self.refresh_errors += 1
                log.warning("contract_refresh_failed", error=str(exc))
            self._wake.clear()
            wait = self.refresh_s if self.selector.active is not None else self.retry_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    stopper = asyncio.ensure_future(stop.wait())
                    waker = asyncio.ensure_future(self._wake.wait())
                    try:
                        await asyncio.wait({stopper, waker}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        stopper.cancel()
                        waker.cancel()
