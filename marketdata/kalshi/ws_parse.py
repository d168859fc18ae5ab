"""Kalshi WebSocket data frames → normalised events (exchange-protocols.md §2.6).

Pure functions of one decoded ``msg`` object plus the frame's timing; they raise
``WireFormatError`` on anything missing or malformed and never default a number. Book prices
stay in their own side's space (the client subscribes with ``use_yes_price: false``), which is what
``BookDelta`` and the order book expect.

Frames without an exchange timestamp (snapshots, some lifecycle messages) take ``fallback_ts``:
the latest exchange time the connection has seen, else the read time. Wall time would jump a
replayed or simulated stream's clock, and "now" is the latest event time (interfaces.md §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marketdata.kalshi.account_wire import order_status, own_fill, side_action_from
from marketdata.kalshi.wire import (
    field,
    levels,
    optional_text,
    side_value,
    text,
)
from marketdata.model.events import (
    BookDelta,
    BookSnapshot,
    OrderUpdate,
    OwnFill,
    PublicTrade,
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
    status = order_status(field(msg, "status"))  # the same vocabulary as REST orders
    own_ts = msg.get("last_updated_ts_ms")
    return OrderUpdate(
        ts=ts if own_ts is None else parse_epoch_ms(own_ts, "last_updated_ts_ms"),
        order_id=text(msg, "order_id"),
        client_order_id=str(msg.get("client_order_id") or ""),
        ticker=text(msg, "ticker"),  # user_order says ``ticker``, not ``market_ticker``
        side=side,
        action=action,
        status=status,
        yes_price=parse_dollars(field(msg, "yes_price_dollars"), "yes_price_dollars"),
        filled_count=parse_fp(field(msg, "fill_count_fp"), "fill_count_fp"),
        remaining_count=parse_fp(field(msg, "remaining_count_fp"), "remaining_count_fp"),
        recv_ts=recv_ts,
    )
