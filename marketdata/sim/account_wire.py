"""JSON shapes of orders, fills, positions, settlements and the balance (exchange-protocols.md
§1.3-§1.4 REST, §2.6 WS ``fill`` / ``user_order`` / ``market_position``), fixed-point strings
everywhere except the balance and settlement ``revenue``, which the API still sends as integer
cents (§1.3)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from marketdata.model.units import (
    MICROS_PER_CENT,
    MICROS_PER_DOLLAR,
    PRICE_MAX,
    format_dollars,
    format_fp,
)
from marketdata.sim.ledger import Account, FillRecord, Position, SettlementRecord
from marketdata.sim.wire import iso

if TYPE_CHECKING:
    from marketdata.sim.order_types import SimOrder


def money(micros: int) -> str:
    """Micro-dollars as a ``_dollars`` string: 4 decimals, 6 when the amount needs them
    ("responses emit up to 6", SDK3 field text)."""
    places = 4 if micros % 100 == 0 else 6
    return f"{Decimal(micros) / MICROS_PER_DOLLAR:.{places}f}"


def _ratio_dollars(numerator_micros: int, count: int) -> str:
    """A per-contract dollar figure (``count`` in hundredths), 6 decimals."""
    value = Decimal(numerator_micros) * 100 / count / MICROS_PER_DOLLAR
    return str(value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN))


def _direction(book_side: str) -> dict[str, str]:
    # buy-yes (bid) → outcome yes; sell-yes (ask) → outcome no (SDK3 models/order.py).
    return {"outcome_side": "yes" if book_side == "bid" else "no", "book_side": book_side}


def order_json(order: SimOrder) -> dict[str, Any]:
    """REST ``Order`` (SDK3 models/order.py)."""
    req = order.request
    return {
        "order_id": order.order_id,
        "user_id": order.user_id,
        "client_order_id": order.client_order_id,
        "ticker": order.ticker,
        "side": req.side,
        "action": req.action,
        **_direction(req.book_side),
        "type": "limit",
        "status": order.status,
        "yes_price_dollars": format_dollars(order.yes_price),
        "no_price_dollars": format_dollars(PRICE_MAX - order.yes_price),
        "fill_count_fp": format_fp(order.filled),
        "remaining_count_fp": format_fp(order.remaining),
        "initial_count_fp": format_fp(order.initial),
        "taker_fill_cost_dollars": money(order.taker_cost),
        "maker_fill_cost_dollars": money(order.maker_cost),
        "taker_fees_dollars": money(order.taker_fees),
        "maker_fees_dollars": money(order.maker_fees),
        "expiration_time": iso(req.expiration_ts * 1000) if req.expiration_ts else None,
        "created_time": iso(order.created_ts),
        "last_update_time": iso(order.updated_ts),
        "self_trade_prevention_type": req.self_trade_prevention_type,
        "order_group_id": None,
        "cancel_order_on_pause": False,
        "subaccount_number": 0,
        "exchange_index": 0,
    }


def order_ws(order: SimOrder) -> dict[str, Any]:
    """WS ``user_order`` msg: like the REST order, ``ticker`` (not ``market_ticker``), ms
    stamps (§2.6)."""
    body = order_json(order)
    for name in ("expiration_time", "created_time", "last_update_time", "order_group_id"):
        body.pop(name)
    body["created_ts_ms"] = order.created_ts
    body["last_updated_ts_ms"] = order.updated_ts
    return body


def created_v2_json(order: SimOrder) -> dict[str, Any]:
    """``CreateOrderV2Response`` / ``AmendOrderV2Response``: averages per contract, YES leg."""
    body: dict[str, Any] = {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "fill_count": format_fp(order.filled),
        "remaining_count": format_fp(order.remaining),
        "ts_ms": order.updated_ts,
    }
    if order.filled:
        body["average_fill_price"] = _ratio_dollars(order.fill_value, order.filled)
        body["average_fee_paid"] = _ratio_dollars(order.taker_fees + order.maker_fees, order.filled)
    return body


def _fill_common(fill: FillRecord) -> dict[str, Any]:
    return {
        "trade_id": fill.fill_id,
        "order_id": fill.order_id,
        "side": fill.side,
        "action": fill.action,
        **_direction(fill.book_side),
        "count_fp": format_fp(fill.count),
        "yes_price_dollars": format_dollars(fill.yes_price),
        "no_price_dollars": format_dollars(PRICE_MAX - fill.yes_price),
        "is_taker": fill.is_taker,
        "fee_cost": money(fill.fee),
        "ts": fill.ts // 1000,
    }


def fill_json(fill: FillRecord) -> dict[str, Any]:
    """REST ``Fill``: no ``client_order_id`` (removed 2026-03-30, §1.4)."""
    return {
        **_fill_common(fill),
        "fill_id": fill.fill_id,
        "ticker": fill.ticker,
        "market_ticker": fill.ticker,
        "created_time": iso(fill.ts),
        "subaccount_number": 0,
        "exchange_index": 0,
    }


def fill_ws(fill: FillRecord) -> dict[str, Any]:
    body = {
        **_fill_common(fill),
        "market_ticker": fill.ticker,
        "post_position_fp": format_fp(fill.post_position),
        "purchased_side": "yes" if fill.book_side == "bid" else "no",
        "ts_ms": fill.ts,
        "subaccount": 0,
    }
    if fill.client_order_id:
        body["client_order_id"] = fill.client_order_id
    return body


def position_json(pos: Position) -> dict[str, Any]:
    return {
        "ticker": pos.ticker,
        "exchange_index": 0,
        "total_traded_dollars": money(pos.total_traded),
        "position_fp": format_fp(pos.position),
        "market_exposure_dollars": money(pos.cost),
        "realized_pnl_dollars": money(pos.realized_pnl),
        "fees_paid_dollars": money(pos.fees_paid),
        "last_updated_ts": iso(pos.last_updated_ts),
    }


def position_ws(pos: Position, user_id: str) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "market_ticker": pos.ticker,
        "position_fp": format_fp(pos.position),
        "position_cost_dollars": money(pos.cost),
        "realized_pnl_dollars": money(pos.realized_pnl),
        "fees_paid_dollars": money(pos.fees_paid),
        "position_fee_cost_dollars": money(pos.fees_paid),
        "volume_fp": format_fp(pos.volume),
        "subaccount": 0,
    }


def settlement_json(row: SettlementRecord) -> dict[str, Any]:
    return {
        "ticker": row.ticker,
        "exchange_index": 0,
        "event_ticker": row.event_ticker,
        "market_result": row.result,
        "yes_count_fp": format_fp(row.yes_count),
        "yes_total_cost_dollars": money(row.yes_cost),
        "no_count_fp": format_fp(row.no_count),
        "no_total_cost_dollars": money(row.no_cost),
        "revenue": row.revenue_cents,
        "settled_time": iso(row.settled_ts),
        "fee_cost": money(row.fee_cost),
        "value": 100 if row.result == "yes" else 0,
    }


def balance_json(account: Account, now: int) -> dict[str, Any]:
    """Available cash in whole cents (rounded down) and the portfolio's value at cost."""
    cents = account.available // MICROS_PER_CENT
    held = sum(p.cost for p in account.positions.values()) + account.reserved
    return {
        "balance": cents,
        "balance_dollars": money(cents * MICROS_PER_CENT),
        "portfolio_value": held // MICROS_PER_CENT,
        "updated_ts": (account.updated_ts or now) // 1000,
        "balance_breakdown": [{"exchange_index": 0, "balance": money(cents * MICROS_PER_CENT)}],
    }
