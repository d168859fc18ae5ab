"""The paper venue: immediate-or-cancel fills against the displayed book, in event time.

An order is due ``latency_ms`` after the decision (event time, so a replay reproduces it).
At its due time it walks the contract's current book level by level up to its limit and
never beyond the displayed size; what the book cannot fill is cancelled (interfaces.md
§8, domain.md §13 point 7). Buying YES or selling NO takes the YES asks; buying NO or
selling YES hits the YES bids. Every fill is a taker fill charged with the shared fee
function, rounded per order (§6). Settlement is the engine's: it closes a position at
its contract's result; the venue only refuses to fill on a contract that is no longer
open.

The venue keeps its own books (fed the same events as the engine), so it reads the book as
it stood at the due time: the driver calls ``execute_due(t)`` before it applies an event of
time ``t``. Paper fills do not consume the displayed book: the simulator never sees them.

It reports like an exchange account (``trading.venues.base``): an ``OwnFill`` per level
filled, then the order's terminal ``OrderUpdate``. One paper venue serves every paper-like
lane of a driver over the same books.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from marketdata.model.book import LevelFill, OrderBook
from marketdata.model.events import (
    Action,
    BookDelta,
    BookSnapshot,
    Event,
    MarketPhase,
    MarketStatus,
    OrderUpdate,
    OwnFill,
    Side,
)
from marketdata.model.fees import OrderFeeAccumulator
from trading.engine.intents import CancelOrder, ClosePosition, Intent, PlaceOrder
from trading.venues.base import VenueReport

Walk = Literal["asks", "bids"]
_NONE: tuple[VenueReport, ...] = ()


@dataclass(slots=True)
class PaperOrder:
    lane: str
    client_order_id: str
    ticker: str
    walk: Walk  # "asks": buy YES / sell NO; "bids": buy NO / sell YES
    limit: int  # YES-space: the highest ask taken, or the lowest bid hit
    count: int
    ts: int  # decision time
    due_ts: int
    side: Side = "yes"
    action: Action = "buy"


@dataclass(slots=True)
class _Market:
    status: MarketPhase = "open"
    fee_type: str = "quadratic"
    fee_multiplier: Fraction = field(default_factory=lambda: Fraction(1))


def walk_for(intent: PlaceOrder | ClosePosition) -> Walk:
    """Which side of the YES book an order takes."""
    buying_yes = intent.side == "yes" if isinstance(intent, PlaceOrder) else intent.side == "no"
    return "asks" if buying_yes else "bids"


class PaperVenue:
    name = "paper"
    exchange_run: int | None = None  # the engine's own venue: no exchange account

    def __init__(self, latency_ms: int = 0) -> None:
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        self.latency_ms = latency_ms
        self.books: dict[str, OrderBook] = {}
        self.markets: dict[str, _Market] = {}
        self.queue: list[PaperOrder] = []  # in submission order; due times never decrease

    # --- market data ---------------------------------------------------------------------

    def on_event(self, event: Event) -> Sequence[VenueReport]:
        # One class per isinstance: a union (``BookDelta | BookSnapshot``) is checked
        # several times slower, and this runs for every event of the stream.
        if isinstance(event, BookDelta):
            book = self.books.get(event.ticker)
            if book is None:
                book = self.books[event.ticker] = OrderBook(event.ticker)
            book.apply_delta(event.side, event.price, event.delta, event.ts)
        elif isinstance(event, BookSnapshot):
            book = self.books.get(event.ticker)
            if book is None:
                book = self.books[event.ticker] = OrderBook(event.ticker)
            book.apply(event)
        elif isinstance(event, MarketStatus):
            self.markets[event.ticker] = _Market(event.status, event.fee_type, event.fee_multiplier)
            if event.status == "finalized":
                self.books.pop(event.ticker, None)
        return _NONE

    # --- orders --------------------------------------------------------------------------

    def submit(self, intent: Intent) -> Sequence[VenueReport]:
        """Queue a place/close; a cancel of a queued order ends it at once (no fill)."""
        if isinstance(intent, CancelOrder):
            for index, order in enumerate(self.queue):
                if order.lane == intent.lane and order.client_order_id == intent.client_order_id:
                    del self.queue[index]
                    return [_ended(order, intent.ts, 0, "cancelled")]
            return _NONE
        self.queue.append(
            PaperOrder(
                lane=intent.lane,
                client_order_id=intent.client_order_id,
                ticker=intent.ticker,
                walk=walk_for(intent),
                limit=intent.yes_price,
                count=intent.count,
                ts=intent.ts,
                due_ts=intent.ts + self.latency_ms,
                side=intent.side,
                action="buy" if isinstance(intent, PlaceOrder) else "sell",
            )
        )
        return _NONE

    def next_due_ts(self) -> int | None:
        return self.queue[0].due_ts if self.queue else None

    def execute_due(self, now: int) -> Sequence[VenueReport]:
        """Fill every order due at or before ``now`` against the books as they stand."""
        if not self.queue or self.queue[0].due_ts > now:
            return _NONE
        done: list[VenueReport] = []
        while self.queue and self.queue[0].due_ts <= now:
            self._execute(self.queue.pop(0), done)
        return done

    def _execute(self, order: PaperOrder, out: list[VenueReport]) -> None:
        market = self.markets.get(order.ticker)
        book = self.books.get(order.ticker)
        if market is None or market.status != "open" or book is None:
            out.append(_ended(order, order.due_ts, 0, "market_closed"))
            return
        levels: list[LevelFill] = (
            book.walk_asks(order.limit, order.count)
            if order.walk == "asks"
            else book.walk_bids(order.limit, order.count)
        )
        fees = OrderFeeAccumulator(market.fee_type, market.fee_multiplier)
        coid = order.client_order_id
        filled = 0
        for number, level in enumerate(levels, 1):
            filled += level.size
            fill = OwnFill(
                ts=order.due_ts,
                trade_id=f"{coid}#{number}",
                order_id=coid,
                client_order_id=coid,
                ticker=order.ticker,
                side=order.side,
                action=order.action,
                yes_price=level.yes_price,
                count=level.size,
                fee=fees.charge(level.yes_price, level.size, is_taker=True),
                is_taker=True,
            )
            out.append(VenueReport(order.lane, fill))
        reason = "" if filled >= order.count else "partial" if filled else "no_liquidity"
        out.append(_ended(order, order.due_ts, filled, reason))

    # --- restart -------------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """Orders still queued (plain JSON); books and markets come back from events."""
        return [
            {
                "lane": o.lane,
                "client_order_id": o.client_order_id,
                "ticker": o.ticker,
                "walk": o.walk,
                "limit": o.limit,
                "count": o.count,
                "ts": o.ts,
                "due_ts": o.due_ts,
                "side": o.side,
                "action": o.action,
            }
            for o in self.queue
        ]

    def restore(self, state: Iterable[dict[str, Any]]) -> None:
        # Orders saved before side/action were kept take the defaults: in YES space a buy
        # of YES and a sale of NO walk the same asks, so the fills are the same.
        self.queue = [PaperOrder(**order) for order in state]


def _ended(order: PaperOrder, ts: int, filled: int, reason: str) -> VenueReport:
    """The order's terminal update: executed when it filled in full, else cancelled."""
    update = OrderUpdate(
        ts=ts,
        order_id=order.client_order_id,
        client_order_id=order.client_order_id,
        ticker=order.ticker,
        side=order.side,
        action=order.action,
        status="executed" if not reason else "canceled",
        yes_price=order.limit,
        filled_count=filled,
        remaining_count=0,
    )
    return VenueReport(order.lane, update, reason)
