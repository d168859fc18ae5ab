"""Kalshi account objects parsed into exact, typed values (exchange-protocols.md §1.3 to §1.4,
§2.6): balance, positions, orders, the V2 create answer, own fills and settlements.

The client's side of what the simulator writes in ``sim/account_wire``. Same rules as
``wire``: every number through ``units``, a missing or malformed required field raises
``WireFormatError``, an absent optional field is ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from marketdata.kalshi.wire import field, mapping, result_value, text
from marketdata.model.events import Action, OrderStatus, OrderUpdate, OwnFill, Side
from marketdata.model.units import (
    MICROS_PER_CENT,
    MICROS_PER_DOLLAR,
    WireFormatError,
    parse_dollars,
    parse_fp,
    parse_money_dollars,
)
from marketdata.wiretime import parse_epoch_ms, parse_epoch_s_ms, parse_time_ms

BookSide = Literal["bid", "ask"]


def book_side_for(side: Side, action: Action) -> BookSide:
    """Where an order on ``side``/``action`` rests in the YES book: buying YES or selling NO
    bids for YES; selling YES or buying NO offers YES (protocols §1.4, V2 create)."""
    return "bid" if (side == "yes") == (action == "buy") else "ask"


def side_action_from(obj: Mapping[str, Any]) -> tuple[Side, Action]:
    """Direction of an order or fill. The deprecated ``side``/``action`` pair is exact when
    present; otherwise ``book_side`` decides (``outcome_side`` cannot tell buy-NO from
    sell-YES, which are the same position change). The pair's removal date is open ("not
    before May 14, 2026" in SDK3 vs May 28 per the order-direction page, protocols §7
    point 11), so both forms are read; ``book_side`` is YES-leg only (SDK3 BookSide)."""
    side, action = obj.get("side"), obj.get("action")
    if side in ("yes", "no") and action in ("buy", "sell"):
        return side, action
    book_side = obj.get("book_side")
    outcome = obj.get("outcome_side")
    if book_side == "bid":
        return ("no", "sell") if outcome == "no" else ("yes", "buy")
    if book_side == "ask":
        return ("yes", "sell") if outcome == "yes" else ("no", "buy")
    raise WireFormatError(f"no direction (side/action or book_side) in {sorted(obj)!r}")


@dataclass(frozen=True, slots=True)
class Balance:
    balance: int  # micro-dollars available
    portfolio_value: int | None  # micro-dollars


def cents_to_micros(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireFormatError(f"{name}: expected integer cents, got {value!r}")
    return value * MICROS_PER_CENT


def parse_balance(obj: object) -> Balance:
    body = mapping(obj, "balance response")
    value = body.get("portfolio_value")
    return Balance(
        balance=cents_to_micros(field(body, "balance"), "balance"),
        portfolio_value=None if value is None else cents_to_micros(value, "portfolio_value"),
    )


@dataclass(frozen=True, slots=True)
class Position:
    ticker: str
    position: int  # signed hundredths: + YES held, - NO held (protocols §7 point 6)
    market_exposure: int | None  # micro-dollars
    realized_pnl: int | None
    fees_paid: int | None


def optional_money(obj: Mapping[str, Any], name: str) -> int | None:
    value = obj.get(name)
    return None if value is None else parse_money_dollars(value, name)


def parse_position(obj: object) -> Position:
    position = mapping(obj, "market_position")
    return Position(
        ticker=text(position, "ticker"),
        position=parse_fp(field(position, "position_fp"), "position_fp"),
        market_exposure=optional_money(position, "market_exposure_dollars"),
        realized_pnl=optional_money(position, "realized_pnl_dollars"),
        fees_paid=optional_money(position, "fees_paid_dollars"),
    )


@dataclass(frozen=True, slots=True)
class OrderInfo:
    order_id: str
    client_order_id: str
    ticker: str
    side: Side
    action: Action
    status: OrderStatus
    yes_price: int
    initial_count: int | None
    fill_count: int
    remaining_count: int
    fees: int | None  # taker + maker fees so far, micro-dollars
    ts: int | None  # last update (or creation) time, ms

    def update_event(self, ts: int) -> OrderUpdate:
        return OrderUpdate(
            ts=self.ts if self.ts is not None else ts,
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            ticker=self.ticker,
            side=self.side,
            action=self.action,
            status=self.status,
            yes_price=self.yes_price,
            filled_count=self.fill_count,
            remaining_count=self.remaining_count,
        )


ORDER_STATUSES: frozenset[str] = frozenset({"resting", "canceled", "executed"})


def order_status(value: object) -> OrderStatus:
    if value in ORDER_STATUSES:
        return value  # type: ignore[return-value]
    if value == "pending":  # SDK 2's extra state: accepted, not yet on the book
        return "resting"
    raise WireFormatError(f"status: unknown order status {value!r}")


def parse_order(obj: object) -> OrderInfo:
    order = mapping(obj, "order")
    side, action = side_action_from(order)
    if order.get("yes_price_dollars") is not None:
        yes_price = parse_dollars(order["yes_price_dollars"], "yes_price_dollars")
    else:
        yes_price = 10_000 - parse_dollars(field(order, "no_price_dollars"), "no_price_dollars")
    taker, maker = (optional_money(order, n) for n in ("taker_fees_dollars", "maker_fees_dollars"))
    stamp = order.get("last_update_time") or order.get("created_time")
    initial = order.get("initial_count_fp")
    return OrderInfo(
        order_id=text(order, "order_id"),
        client_order_id=str(order.get("client_order_id") or ""),
        ticker=text(order, "ticker"),
        side=side,
        action=action,
        status=order_status(field(order, "status")),
        yes_price=yes_price,
        initial_count=None if initial is None else parse_fp(initial, "initial_count_fp"),
        fill_count=parse_fp(field(order, "fill_count_fp"), "fill_count_fp"),
        remaining_count=parse_fp(field(order, "remaining_count_fp"), "remaining_count_fp"),
        fees=None if taker is None and maker is None else (taker or 0) + (maker or 0),
        ts=None if stamp is None else parse_time_ms(stamp, "last_update_time"),
    )


@dataclass(frozen=True, slots=True)
class CreatedOrder:
    """The V2 create answer (protocols §1.4), or an order found again after a lost answer."""

    order_id: str
    client_order_id: str
    fill_count: int
    remaining_count: int
    # Per-contract averages in micro-dollars: an average of several levels is off the price
    # grid, and SDK3 says dollar strings in responses "emit up to 6" decimals.
    average_fill_price: int | None
    average_fee_paid: int | None
    ts: int | None
    recovered: bool = False  # True when found by client_order_id after an ambiguous create


def average_price(value: object) -> int:
    """A YES-leg average fill price (dollar string, up to 6 decimals) → micro-dollars."""
    micros = parse_money_dollars(value, "average_fill_price")
    if not 0 <= micros <= MICROS_PER_DOLLAR:
        raise WireFormatError(f"average_fill_price: {value!r} is outside $0..$1")
    return micros


def parse_created_order(obj: object) -> CreatedOrder:
    body = mapping(obj, "create order response")
    price = body.get("average_fill_price")
    fee = body.get("average_fee_paid")
    ts_ms = body.get("ts_ms")
    return CreatedOrder(
        order_id=text(body, "order_id"),
        client_order_id=str(body.get("client_order_id") or ""),
        fill_count=parse_fp(field(body, "fill_count"), "fill_count"),
        remaining_count=parse_fp(field(body, "remaining_count"), "remaining_count"),
        average_fill_price=None if price in (None, "") else average_price(price),
        average_fee_paid=None if fee in (None, "") else parse_money_dollars(fee, "avg fee"),
        # Required integer ms in SDK3 (create_order_v2_response.py); a string or float is
        # malformed, never coerced.
        ts=None if ts_ms is None else parse_epoch_ms(ts_ms, "ts_ms"),
    )


def created_from_order(order: OrderInfo) -> CreatedOrder:
    return CreatedOrder(
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        fill_count=order.fill_count,
        remaining_count=order.remaining_count,
        average_fill_price=None,
        average_fee_paid=None,
        ts=order.ts,
        recovered=True,
    )


def own_fill(
    obj: Mapping[str, Any], *, ts: int, trade_id: str, ticker: str, recv_ts: int | None = None
) -> OwnFill:
    """An own fill from the fields REST and WS fills share (direction, order, price, count,
    fee, taker flag); the caller reads what the two name differently: time, id and ticker."""
    side, action = side_action_from(obj)
    is_taker = field(obj, "is_taker")
    if not isinstance(is_taker, bool):
        raise WireFormatError(f"is_taker: expected a boolean, got {is_taker!r}")
    return OwnFill(
        ts=ts,
        trade_id=trade_id,
        order_id=text(obj, "order_id"),
        client_order_id=str(obj.get("client_order_id") or ""),
        ticker=ticker,
        side=side,
        action=action,
        yes_price=parse_dollars(field(obj, "yes_price_dollars"), "yes_price_dollars"),
        count=parse_fp(field(obj, "count_fp"), "count_fp"),
        # Required by the WS schema though missing from its example; a fill without its fee
        # is refused (counted as malformed) rather than booked at zero cost.
        fee=parse_money_dollars(field(obj, "fee_cost"), "fee_cost"),
        is_taker=is_taker,
        recv_ts=recv_ts,
    )


def parse_fill(obj: object) -> OwnFill:
    """A REST fill. REST fills no longer carry ``client_order_id`` (join on ``order_id``).

    Time: ``created_time`` (RFC 3339, sub-second) first, the legacy ``ts`` (whole Unix
    seconds, SDK3 models/fill.py "legacy field name") only without it. Reading ``ts`` first
    dated every REST fill up to 999 ms before the same fill's WS ``ts_ms``.
    """
    fill = mapping(obj, "fill")
    if fill.get("created_time") is not None:
        ts = parse_time_ms(fill["created_time"], "created_time")
    else:
        ts = parse_epoch_s_ms(field(fill, "ts"), "ts")
    return own_fill(
        fill,
        ts=ts,
        trade_id=str(fill.get("fill_id") or fill.get("trade_id") or ""),
        ticker=str(fill.get("ticker") or fill.get("market_ticker") or ""),
    )


@dataclass(frozen=True, slots=True)
class Settlement:
    ticker: str
    result: Side | None
    yes_count: int
    no_count: int
    revenue: int  # micro-dollars
    fee_cost: int | None
    settled_ts: int


def parse_settlement(obj: object) -> Settlement:
    row = mapping(obj, "settlement")
    return Settlement(
        ticker=text(row, "ticker"),
        result=result_value(row.get("market_result")),
        yes_count=parse_fp(field(row, "yes_count_fp"), "yes_count_fp"),
        no_count=parse_fp(field(row, "no_count_fp"), "no_count_fp"),
        revenue=cents_to_micros(field(row, "revenue"), "revenue"),
        fee_cost=optional_money(row, "fee_cost"),
        settled_ts=parse_time_ms(field(row, "settled_time"), "settled_time"),
    )
