"""Kalshi WebSocket data frames → normalised events (exchange-protocols.md §2.6).

Pure functions of one decoded ``msg`` object plus the frame's timing; they raise
``WireFormatError`` on anything missing or malformed and never default a number. Book prices
stay in their own side's space (``use_yes_price`` is never requested), which is what
``BookDelta`` and the order book expect.

Frames without an exchange timestamp (snapshots, some lifecycle messages) take ``fallback_ts``:
the latest exchange time the connection has seen, else the read time. Wall time would jump a
replayed or simulated stream's clock, and "now" is the latest event time (interfaces.md §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from marketdata.kalshi.account_wire import own_fill, side_action_from
from marketdata.kalshi.wire import (
    field,
    levels,
    mapping,
    optional_text,
    result_value,
    side_value,
    strike_value,
    text,
)
from marketdata.model.events import (
    BookDelta,
    BookSnapshot,
    MarketPhase,
    MarketStatus,
    OrderStatus,
    OrderUpdate,
    OwnFill,
    PublicTrade,
    Side,
)
from marketdata.model.units import (
    PRICE_MAX,
    WireFormatError,
    parse_dollars,
    parse_fp,
)
from marketdata.wiretime import parse_epoch_ms, parse_epoch_s_ms, parse_time_ms


def exchange_ts(msg: Mapping[str, Any]) -> int | None:
    """The frame's own exchange time: ``ts_ms``, else the deprecated ``ts``."""
    if msg.get("ts_ms") is not None:
        return parse_epoch_ms(msg["ts_ms"], "ts_ms")
    stamp = msg.get("ts")
    if stamp is None:
        return None
    if isinstance(stamp, str):
        return parse_time_ms(stamp, "ts")
    return parse_epoch_s_ms(stamp, "ts")


def snapshot(msg: Mapping[str, Any], ts: int, recv_ts: int) -> BookSnapshot:
    # An empty side may be absent, null or [] (protocols §2.6, VER A-38).
    return BookSnapshot(
        ts=ts,
        ticker=text(msg, "market_ticker"),
        yes=levels(msg.get("yes_dollars_fp"), "yes_dollars_fp"),
        no=levels(msg.get("no_dollars_fp"), "no_dollars_fp"),
        recv_ts=recv_ts,
    )


def delta(msg: Mapping[str, Any], ts: int, recv_ts: int) -> BookDelta:
    price = parse_dollars(field(msg, "price_dollars"), "price_dollars")
    if not 0 < price < PRICE_MAX:
        raise WireFormatError(f"price_dollars: {msg['price_dollars']!r} is not a bid price")
    return BookDelta(
        ts=ts,
        ticker=text(msg, "market_ticker"),
        side=side_value(msg.get("side"), "side"),
        price=price,
        delta=parse_fp(field(msg, "delta_fp"), "delta_fp"),
        client_order_id=optional_text(msg, "client_order_id"),
        recv_ts=recv_ts,
    )


def trade(msg: Mapping[str, Any], ts: int, recv_ts: int) -> PublicTrade:
    taker = msg.get("taker_outcome_side") or msg.get("taker_side")
    return PublicTrade(
        ts=ts,
        ticker=text(msg, "market_ticker"),
        yes_price=parse_dollars(field(msg, "yes_price_dollars"), "yes_price_dollars"),
        count=parse_fp(field(msg, "count_fp"), "count_fp"),
        taker_side=side_value(taker, "taker_outcome_side"),
        trade_id=str(msg.get("trade_id") or ""),
        recv_ts=recv_ts,
    )


def ticker(msg: Mapping[str, Any]) -> None:
    """Validated for the malformed-frame count, but no §3 event carries it: the book and
    trades already say everything the ticker summarises."""
    text(msg, "market_ticker")
    for name in ("price_dollars", "yes_bid_dollars", "yes_ask_dollars"):
        if msg.get(name) is not None:
            parse_dollars(msg[name], name)


def fill(msg: Mapping[str, Any], ts: int, recv_ts: int) -> OwnFill:
    return own_fill(
        msg,
        ts=ts,
        trade_id=str(msg.get("trade_id") or ""),
        ticker=text(msg, "market_ticker"),
        recv_ts=recv_ts,
    )


def user_order(msg: Mapping[str, Any], ts: int, recv_ts: int) -> OrderUpdate:
    side, action = side_action_from(msg)
    status = field(msg, "status")
    if status not in ("resting", "canceled", "executed"):
        raise WireFormatError(f"status: unknown order status {status!r}")
    own_ts = msg.get("last_updated_ts_ms")
    order_status: OrderStatus = status
    return OrderUpdate(
        ts=ts if own_ts is None else parse_epoch_ms(own_ts, "last_updated_ts_ms"),
        order_id=text(msg, "order_id"),
        client_order_id=str(msg.get("client_order_id") or ""),
        ticker=text(msg, "ticker"),  # user_order says ``ticker``, not ``market_ticker``
        side=side,
        action=action,
        status=order_status,
        yes_price=parse_dollars(field(msg, "yes_price_dollars"), "yes_price_dollars"),
        filled_count=parse_fp(field(msg, "fill_count_fp"), "fill_count_fp"),
        remaining_count=parse_fp(field(msg, "remaining_count_fp"), "remaining_count_fp"),
        recv_ts=recv_ts,
    )


# --- lifecycle ---------------------------------------------------------------------------


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

    def status_event(self, ts: int, recv_ts: int | None) -> MarketStatus | None:
        if self.open_ts is None:
            return None
        return MarketStatus(
            ts=ts,
            ticker=self.ticker,
            status=self.phase,
            strike=self.strike,
            open_ts=self.open_ts,
            close_ts=self.close_ts,
            result=self.result,
            fee_type=self.fee_type,
            fee_multiplier=self.fee_multiplier,
            recv_ts=recv_ts,
        )


LIFECYCLE_EVENTS = frozenset(
    {
        "created",
        "activated",
        "deactivated",
        "close_date_updated",
        "determined",
        "settled",
        "price_level_structure_updated",
        "metadata_updated",
    }
)


def lifecycle(msg: Mapping[str, Any], known: MarketMeta | None) -> tuple[MarketMeta, int | None]:
    """Merge one ``market_lifecycle_v2`` message into what is known of the market.

    Returns the new metadata and the message's own time in ms, if it carries one.
    """
    event_type = text(msg, "event_type")
    if event_type not in LIFECYCLE_EVENTS:
        raise WireFormatError(f"event_type: unknown lifecycle event {event_type!r}")
    name = text(msg, "market_ticker")
    meta = known or MarketMeta(name, "listed", None, None, None)
    own_ts: int | None = None
    if msg.get("open_ts") is not None:
        meta = replace(meta, open_ts=parse_epoch_s_ms(msg["open_ts"], "open_ts"))
    if msg.get("close_ts") is not None:
        meta = replace(meta, close_ts=parse_epoch_s_ms(msg["close_ts"], "close_ts"))
    extra = msg.get("additional_metadata")
    strike_source = mapping(extra, "additional_metadata") if extra is not None else msg
    if strike_source.get("floor_strike") is not None:
        meta = replace(meta, strike=strike_value(strike_source["floor_strike"]))
    elif msg.get("floor_strike") is not None:
        meta = replace(meta, strike=strike_value(msg["floor_strike"]))

    if event_type == "created":
        meta = replace(meta, phase="listed")
    elif event_type == "activated":
        meta = replace(meta, phase="open")
    elif event_type == "deactivated":
        # A pause reads as closed (no entries); ``is_deactivated: false`` is the unpause.
        paused = msg.get("is_deactivated", True)
        meta = replace(meta, phase="closed" if paused is not False else "open")
    elif event_type == "determined":
        # An empty or scalar result leaves ``result`` None: settlement waits, never guesses.
        meta = replace(meta, phase="determined", result=result_value(msg.get("result")))
        if msg.get("determination_ts") is not None:
            own_ts = parse_epoch_s_ms(msg["determination_ts"], "determination_ts")
    elif event_type == "settled":
        meta = replace(meta, phase="finalized")
        if msg.get("result") is not None:
            meta = replace(meta, result=result_value(msg["result"]))
        if msg.get("settled_ts") is not None:
            own_ts = parse_epoch_s_ms(msg["settled_ts"], "settled_ts")
    return meta, own_ts
