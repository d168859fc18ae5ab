"""Kalshi market objects parsed into exact, typed values (exchange-protocols.md §1.3 to §1.4):
markets, series, order books, public trades, and the field readers every Kalshi parser uses
(account objects: ``account_wire``; WS frames: ``ws_parse``).

Every number goes through ``units`` (prices → $0.0001 units, counts → hundredths, money →
micro-dollars); a missing or malformed required field raises ``WireFormatError``. Optional
fields are ``None`` when absent, never a made-up value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from marketdata.model.events import (
    BookSnapshot,
    Level,
    MarketPhase,
    MarketStatus,
    PublicTrade,
    Side,
)
from marketdata.model.units import WireFormatError, parse_dollars, parse_fp
from marketdata.wiretime import parse_time_ms

# Kalshi's market ``status`` field → our phase. ``inactive`` is a paused market: nothing may
# be entered, so it reads as closed until an unpause re-activates it.
STATUS_PHASE: dict[str, MarketPhase] = {
    "initialized": "listed",
    "unopened": "listed",
    "active": "open",
    "open": "open",
    "inactive": "closed",
    "closed": "closed",
    "determined": "determined",
    "disputed": "determined",
    "amended": "determined",
    "settled": "finalized",
    "finalized": "finalized",
}


def field(obj: Mapping[str, Any], name: str) -> Any:
    """A required key; absent or null raises."""
    value = obj.get(name)
    if value is None:
        raise WireFormatError(f"missing field {name!r}")
    return value


def text(obj: Mapping[str, Any], name: str) -> str:
    value = field(obj, name)
    if not isinstance(value, str) or not value:
        raise WireFormatError(f"{name}: expected a non-empty string, got {value!r}")
    return value


def optional_text(obj: Mapping[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise WireFormatError(f"{name}: expected a string, got {value!r}")
    return value


def side_value(value: object, name: str) -> Side:
    if value == "yes" or value == "no":
        return value
    raise WireFormatError(f"{name}: expected 'yes' or 'no', got {value!r}")


def mapping(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise WireFormatError(f"{name}: expected an object, got {type(value).__name__}")
    return value


def levels(value: object, name: str) -> tuple[Level, ...]:
    """``[[price_dollars, count_fp], ...]`` → levels ascending by price.

    An absent, null or empty side is an empty book side (protocols §1.4); the order on the
    wire is sorted defensively because the docs disagree about it (§7 point 8).
    """
    if value is None:
        return ()
    if not isinstance(value, list):
        raise WireFormatError(f"{name}: expected a list of levels, got {type(value).__name__}")
    rows: list[Level] = []
    for row in value:
        if not isinstance(row, list | tuple) or len(row) != 2:
            raise WireFormatError(f"{name}: bad level {row!r}")
        price = parse_dollars(row[0], f"{name} price")
        count = parse_fp(row[1], f"{name} count")
        if not 0 < price < 10_000 or count < 0:
            raise WireFormatError(f"{name}: level out of range {row!r}")
        rows.append((price, count))
    rows.sort()
    return tuple(rows)


# --- markets and series ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketInfo:
    ticker: str
    event_ticker: str
    status: str  # Kalshi's own status word
    open_ts: int
    close_ts: int
    strike: float | None
    result: Side | None

    @property
    def phase(self) -> MarketPhase:
        return STATUS_PHASE.get(self.status, "closed")

    def contains(self, now_ms: int) -> bool:
        return self.open_ts <= now_ms < self.close_ts

    def meta(
        self, *, fee_type: str = "quadratic", fee_multiplier: Fraction = Fraction(1)
    ) -> MarketMeta:
        """What this listing says of the market, with its series' fees."""
        return MarketMeta(
            ticker=self.ticker,
            phase=self.phase,
            open_ts=self.open_ts,
            close_ts=self.close_ts,
            strike=self.strike,
            result=self.result,
            fee_type=fee_type,
            fee_multiplier=fee_multiplier,
        )

    def status_event(
        self, ts: int, *, fee_type: str = "quadratic", fee_multiplier: Fraction = Fraction(1)
    ) -> MarketStatus:
        """The listing's status (no receive time: REST is a poll, not a stream)."""
        event = self.meta(fee_type=fee_type, fee_multiplier=fee_multiplier).status_event(ts, None)
        assert event is not None  # a listing always has its open time
        return event


DECIDED_PHASES: frozenset[MarketPhase] = frozenset({"determined", "finalized"})


@dataclass(frozen=True, slots=True)
class MarketMeta:
    """What the client knows of a market, merged from REST and lifecycle messages."""

    ticker: str
    phase: MarketPhase
    open_ts: int | None
    close_ts: int | None
    strike: float | None
    result: Side | None = None
    fee_type: str = "quadratic"
    fee_multiplier: Fraction = Fraction(1)

    # True once an ``event_fee_update`` set this market's fees: the event-level override
    # then wins over the series' fees that every REST refresh passes to ``remember``.
    fee_override: bool = False

    def status_event(self, ts: int, recv_ts: int | None) -> MarketStatus | None:
        """The one way a Kalshi market becomes a ``MarketStatus`` (REST listing or WS
        lifecycle); None while its open time is unknown.

        ``result`` is carried only in ``determined``/``finalized``: interfaces.md §3
        ("determined with result") and the SDK3 status lifecycle (closed → determined →
        finalized). A result seen beside any other status (a paused or re-opened market, a
        REST read racing the determination) is not a settlement signal; the value itself is
        kept here and shows again once the phase is decided.
        """
        if self.open_ts is None:
            return None
        return MarketStatus(
            ts=ts,
            ticker=self.ticker,
            status=self.phase,
            strike=self.strike,
            open_ts=self.open_ts,
            close_ts=self.close_ts,
            result=self.result if self.phase in DECIDED_PHASES else None,
            fee_type=self.fee_type,
            fee_multiplier=self.fee_multiplier,
            recv_ts=recv_ts,
        )


def strike_value(value: object, name: str = "floor_strike") -> float | None:
    if value is None:
        return None
    # JSON numbers only; Python's json also reads NaN/Infinity, which are not prices.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise WireFormatError(f"{name}: expected a number, got {value!r}")
    return float(value)


def result_value(value: object) -> Side | None:
    # "" (live), "scalar" or absent: no yes/no result yet; never default one (domain §11.8).
    if value == "yes" or value == "no":
        return value
    return None


def parse_market(obj: object) -> MarketInfo:
    market = mapping(obj, "market")
    return MarketInfo(
        ticker=text(market, "ticker"),
        event_ticker=text(market, "event_ticker"),
        status=text(market, "status"),
        open_ts=parse_time_ms(field(market, "open_time"), "open_time"),
        close_ts=parse_time_ms(field(market, "close_time"), "close_time"),
        strike=strike_value(market.get("floor_strike")),
        result=result_value(market.get("result")),
    )


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    ticker: str
    fee_type: str
    fee_multiplier: Fraction


def parse_series(obj: object) -> SeriesInfo:
    series = mapping(obj, "series")
    return SeriesInfo(
        ticker=text(series, "ticker"),
        fee_type=text(series, "fee_type"),
        fee_multiplier=fee_fraction(field(series, "fee_multiplier")),
    )


def fee_fraction(value: object, name: str = "fee_multiplier") -> Fraction:
    """A fee multiplier (JSON number or decimal string) → exact ``Fraction``; never negative."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise WireFormatError(f"{name}: expected a number, got {value!r}")
    try:
        # str() first: Fraction(0.1) would carry the binary float's error into every fee.
        fraction = Fraction(str(value))
    except ValueError:
        raise WireFormatError(f"{name}: not a number: {value!r}") from None
    if fraction < 0:
        raise WireFormatError(f"{name}: negative: {value!r}")
    return fraction


def parse_orderbook(body: object, ticker: str, ts: int) -> BookSnapshot:
    """``{"orderbook_fp": {"yes_dollars": [...], "no_dollars": [...]}}`` → a snapshot."""
    book = mapping(field(mapping(body, "response"), "orderbook_fp"), "orderbook_fp")
    return BookSnapshot(
        ts=ts,
        ticker=ticker,
        yes=levels(book.get("yes_dollars"), "yes_dollars"),
        no=levels(book.get("no_dollars"), "no_dollars"),
    )


def parse_public_trade(obj: object) -> PublicTrade:
    trade = mapping(obj, "trade")
    taker = trade.get("taker_outcome_side") or trade.get("taker_side")
    return PublicTrade(
        ts=parse_time_ms(field(trade, "created_time"), "created_time"),
        ticker=text(trade, "ticker"),
        yes_price=parse_dollars(field(trade, "yes_price_dollars"), "yes_price_dollars"),
        count=parse_fp(field(trade, "count_fp"), "count_fp"),
        taker_side=side_value(taker, "taker_outcome_side"),
        trade_id=str(trade.get("trade_id") or ""),
    )
