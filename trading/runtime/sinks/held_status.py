"""The held-contract watch as a sink (``trading.runtime.held_status``): it learns the held
tickers from the records (and the positions a restored engine holds), asks the exchange
what became of each, and hands a result it finds to the daemon as a market event, so the
session journals it and the engine settles the position, as a lifecycle message would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from marketdata.kalshi.errors import KalshiError
from marketdata.kalshi.wire import MarketInfo
from marketdata.model.events import Event
from trading.engine.records import PositionOpened
from trading.runtime.held_status import HeldContractWatch
from trading.runtime.network import NetworkFeed
from trading.runtime.session import SessionOutput
from trading.runtime.sinks.base import Sink


class _FeedLookup:
    """The network feed's own REST client, once it has one."""

    def __init__(self, feed: NetworkFeed) -> None:
        self.feed = feed

    async def get_market(self, ticker: str) -> MarketInfo:
        rest = self.feed.rest
        if rest is None:
            raise KalshiError(None, "not_connected", "the Kalshi REST client is not connected yet")
        return await rest.get_market(ticker)


class HeldStatusSink(Sink):
    name = "held_status"

    def __init__(
        self, feed: NetworkFeed, inject: Callable[[Event], None], *, watch_every_s: float = 1.0
    ) -> None:
        self.feed = feed
        self.watch = HeldContractWatch(_FeedLookup(feed), inject)
        self.watch_every_s = watch_every_s
        self._kalshi_state = ""

    def start(self, records: Sequence[SessionOutput], *, restored: bool = False) -> None:
        for item in records:
            if isinstance(item, PositionOpened):
                self.watch.hold(item.ticker, item.position_uid, since_ts=item.ts)

    def consume(self, event: Event | None, produced: Sequence[SessionOutput], now: int) -> None:
        self.watch.consume(produced, now)

    async def run(self, stop: asyncio.Event) -> None:
        checking = asyncio.create_task(self.watch.run(stop))
        try:
            while not stop.is_set():
                self._reconnects()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.watch_every_s)
        finally:
            await checking

    def _reconnects(self) -> None:
        """After the Kalshi socket comes back, lifecycle messages may have been missed."""
        for feed in self.feed.health():
            if feed.get("name") != "kalshi":
                continue
            state = str(feed.get("state", ""))
            if state == "connected" and self._kalshi_state not in ("", "connected"):
                self.watch.check_soon()
            self._kalshi_state = state

    def health(self) -> dict[str, Any]:
        return {"held_contracts": self.watch.health()}
