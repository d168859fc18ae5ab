"""What the public can see: the market as of the last event the server has released.

The core runs up to a second ahead of the clock (it computes whole seconds); the server
releases each event when simulated time reaches its ``ts`` and feeds it here. REST reads and
WS snapshots come from this state, so a snapshot followed by the deltas released after it is
always exactly the book, and nothing is ever visible before its time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from marketdata.model.book import OrderBook
from marketdata.model.events import (
    BookDelta,
    BookSnapshot,
    Event,
    MarketStatus,
    PublicTrade,
    SpotTicker,
)


@dataclass
class MarketStats:
    volume: int = 0  # hundredths
    open_interest: int = 0
    last_price: int = 0  # YES price units of the last trade (0 before any)
    trades: deque[PublicTrade] = field(default_factory=lambda: deque(maxlen=5000))


TickerKey = tuple[int | None, int | None, int, int, int, int]


def opens_position(trade: PublicTrade) -> bool:
    """Anonymous prints cannot say whether they open or close positions; call 5 in 8 opening,
    decided by the trade id so every observer (and every replay) counts the same."""
    return int(trade.trade_id[-1], 16) < 10 if trade.trade_id else True


class PublicState:
    def __init__(self) -> None:
        self.books: dict[str, OrderBook] = {}
        self.stats: dict[str, MarketStats] = {}
        self.status: dict[str, MarketStatus] = {}
        self.spot: SpotTicker | None = None
        self.now = 0
        self._ticker_keys: dict[str, TickerKey] = {}

    def book(self, ticker: str) -> OrderBook:
        book = self.books.get(ticker)
        if book is None:
            book = self.books[ticker] = OrderBook(ticker)
        return book

    def market_stats(self, ticker: str) -> MarketStats:
        stats = self.stats.get(ticker)
        if stats is None:
            stats = self.stats[ticker] = MarketStats()
        return stats

    def apply(self, event: Event) -> str | None:
        """Fold one released event in; returns a ticker whose WS ``ticker`` fields changed."""
        self.now = max(self.now, event.ts)
        if isinstance(event, BookSnapshot | BookDelta):
            self.book(event.ticker).apply(event)
            return self._ticker_if_changed(event.ticker)
        if isinstance(event, PublicTrade):
            stats = self.market_stats(event.ticker)
            stats.volume += event.count
            stats.last_price = event.yes_price
            if opens_position(event):
                stats.open_interest += event.count
            else:
                stats.open_interest = max(0, stats.open_interest - event.count)
            stats.trades.append(event)
            return self._ticker_if_changed(event.ticker)
        if isinstance(event, MarketStatus):
            self.status[event.ticker] = event
        elif isinstance(event, SpotTicker):
            self.spot = event
        return None

    def top(self, ticker: str) -> TickerKey:
        book, stats = self.book(ticker), self.market_stats(ticker)
        bid, ask = book.best_yes_bid, book.best_yes_ask
        bid_size = book.size_at("yes", bid) if bid is not None else 0
        ask_size = book.size_at("no", 10_000 - ask) if ask is not None else 0
        return bid, ask, bid_size, ask_size, stats.last_price, stats.volume

    def _ticker_if_changed(self, ticker: str) -> str | None:
        key = self.top(ticker)
        if self._ticker_keys.get(ticker) == key:
            return None
        self._ticker_keys[ticker] = key
        return ticker
