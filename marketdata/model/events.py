"""Normalised market events (interfaces.md §3).

Every adapter (Kalshi WS/REST, Coinbase WS, the paper venue, the simulator's in-process
stream) produces exactly these values; the recorder stores them as ``kind`` + fields; the
daemon, the backtester and the tests feed them to the engine. Time is ``ts``, the exchange
time in integer milliseconds UTC; ``recv_ts`` is our socket-read time for live feeds (None
when replayed or generated). Prices are YES-space price units, counts hundredths of a
contract, money micro-dollars (``units``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar, Literal

from marketdata.model.frozen import fast_init

Side = Literal["yes", "no"]
Action = Literal["buy", "sell"]
MarketPhase = Literal["listed", "open", "closed", "determined", "finalized"]
OrderStatus = Literal["resting", "canceled", "executed"]
Level = tuple[int, int]  # (price units, count hundredths)


@fast_init
@dataclass(frozen=True, slots=True)
class SpotTrade:
    kind: ClassVar[str] = "spot_trade"
    ts: int
    price: float
    size: float
    trade_id: str = ""
    recv_ts: int | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class SpotTicker:
    kind: ClassVar[str] = "spot_ticker"
    ts: int
    price: float
    best_bid: float | None = None
    best_ask: float | None = None
    recv_ts: int | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A full Kalshi book: bids only, YES and NO sides, each ``(price, count)``."""

    kind: ClassVar[str] = "book_snapshot"
    ts: int
    ticker: str
    yes: tuple[Level, ...]
    no: tuple[Level, ...]
    recv_ts: int | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class BookDelta:
    """A signed change of resting size at one price on one side (price in that side's space)."""

    kind: ClassVar[str] = "book_delta"
    ts: int
    ticker: str
    side: Side
    price: int
    delta: int
    client_order_id: str | None = None
    recv_ts: int | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class PublicTrade:
    kind: ClassVar[str] = "public_trade"
    ts: int
    ticker: str
    yes_price: int
    count: int
    taker_side: Side
    trade_id: str = ""
    recv_ts: int | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class MarketStatus:
    """A contract's metadata and lifecycle phase; ``result`` only once determined."""

    kind: ClassVar[str] = "market_status"
    ts: int
    ticker: str
    status: MarketPhase
    strike: float | None
    open_ts: int
    close_ts: int | None
    result: Side | None = None
    fee_type: str = "quadratic"
    fee_multiplier: Fraction = Fraction(1)
    recv_ts: int | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class OrderUpdate:
    kind: ClassVar[str] = "order_update"
    ts: int
    order_id: str
    client_order_id: str
    ticker: str
    side: Side
    action: Action
    status: OrderStatus
    yes_price: int
    filled_count: int
    remaining_count: int
    recv_ts: int | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class OwnFill:
    kind: ClassVar[str] = "own_fill"
    ts: int
    trade_id: str
    order_id: str
    client_order_id: str
    ticker: str
    side: Side
    action: Action
    yes_price: int
    count: int
    fee: int
    is_taker: bool
    recv_ts: int | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class ClockTick:
    """Emitted by the driver whenever event time crosses a whole second."""

    kind: ClassVar[str] = "clock_tick"
    ts: int
    recv_ts: int | None = None


Event = (
    SpotTrade
    | SpotTicker
    | BookSnapshot
    | BookDelta
    | PublicTrade
    | MarketStatus
    | OrderUpdate
    | OwnFill
    | ClockTick
)

# Whatever takes events one at a time: the feeds deliver to it, the daemon is one.
EventSink = Callable[[Event], None]

EVENT_TYPES: dict[str, type[Any]] = {
    cls.kind: cls
    for cls in (
        SpotTrade,
        SpotTicker,
        BookSnapshot,
        BookDelta,
        PublicTrade,
        MarketStatus,
        OrderUpdate,
        OwnFill,
        ClockTick,
    )
}


class EventFormatError(ValueError):
    """A stored or transmitted event could not be decoded."""


def event_to_dict(event: Event) -> dict[str, Any]:
    """Plain-JSON fields of an event (``kind`` not included): tuples become lists,
    the fee multiplier a ``"p/q"`` string."""
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        if isinstance(value, Fraction):
            value = str(value)
        elif isinstance(value, tuple):
            value = [list(level) for level in value]
        fields[field.name] = value
    return fields


def event_from_dict(kind: str, fields: dict[str, Any]) -> Event:
    """Inverse of ``event_to_dict``; unknown kinds or fields raise ``EventFormatError``."""
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise EventFormatError(f"unknown event kind {kind!r}")
    values = dict(fields)
    try:
        if cls is BookSnapshot:
            values["yes"] = tuple((int(p), int(c)) for p, c in values["yes"])
            values["no"] = tuple((int(p), int(c)) for p, c in values["no"])
        if cls is MarketStatus and "fee_multiplier" in values:
            values["fee_multiplier"] = Fraction(values["fee_multiplier"])
        event: Event = cls(**values)
    except (TypeError, ValueError, KeyError) as exc:
        raise EventFormatError(f"bad {kind} event {fields!r}: {exc}") from exc
    return event
