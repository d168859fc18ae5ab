"""JSON shapes of the simulated exchanges (exchange-protocols.md §1-§5, current fixed-point
forms; no legacy integer-cent fields since 2026-03-12)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from marketdata.model.events import BookDelta, Level, PublicTrade
from marketdata.model.ticks import PRICE_RANGES, TAPERED_DECI_CENT
from marketdata.model.units import PRICE_MAX, format_dollars, format_fp
from marketdata.sim.schedule import REST_STATUS, SERIES, SimMarket
from marketdata.sim.state import PublicState

RULES_PRIMARY = (
    "If the simple average of the sixty seconds of CF Benchmarks' Bitcoin Real-Time Index "
    "(BRTI) before {close} is at least the simple average of the sixty seconds of BRTI before "
    "{open}, then the market resolves to Yes."
)
RULES_SECONDARY = (
    "Simulated by KBTC: the index is the simulator's BTC path; 60 prints collected in the last "
    "minute before expiration are averaged and rounded to 2 decimals."
)


def iso(ms: int) -> str:
    """RFC 3339 UTC with ``Z`` (fractional seconds only when present, as Kalshi sends)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


def market_id(ticker: str) -> str:
    """A stable UUID per ticker (Kalshi sends ``market_id`` beside the ticker)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kbtc-sim/{ticker}"))


def _levels(rows: tuple[Level, ...]) -> list[list[str]]:
    return [[format_dollars(price), format_fp(count)] for price, count in rows]


def market_json(market: SimMarket, state: PublicState, now: int) -> dict[str, Any]:
    """``GET /markets/{t}``'s ``market`` object as of ``now`` (nothing from the future)."""
    phase = market.phase(now)
    assert phase is not None
    status = REST_STATUS[phase]
    opened = phase != "listed"
    decided = phase in ("determined", "finalized")
    book, stats = state.book(market.ticker), state.market_stats(market.ticker)
    bid, ask = book.best_yes_bid, book.best_yes_ask
    bid_size = book.size_at("yes", bid) if bid is not None else 0
    ask_size = book.size_at("no", PRICE_MAX - ask) if ask is not None else 0
    target = f"Target Price: ${market.strike:,.2f}" if opened else "Target price: TBD"
    close_local, open_local = iso(market.close_ts), iso(market.open_ts)
    settlement = None
    if decided:
        settlement = format_dollars(PRICE_MAX if market.result == "yes" else 0)
    return {
        "ticker": market.ticker,
        "event_ticker": market.event_ticker,
        "market_type": "binary",
        "title": "BTC price up in next 15 mins?",
        "subtitle": "",
        "yes_sub_title": target,
        "no_sub_title": target,
        "created_time": iso(market.created_ts),
        "updated_time": iso(market.open_ts if opened else market.created_ts),
        "open_time": iso(market.open_ts),
        "close_time": iso(market.close_ts),
        "expected_expiration_time": iso(market.close_ts + 300_000),
        "expiration_time": iso(market.close_ts + 7 * 86_400_000),
        "latest_expiration_time": iso(market.close_ts + 7 * 86_400_000),
        "settlement_timer_seconds": 1,
        "status": status,
        "yes_bid_dollars": format_dollars(bid or 0),
        "yes_bid_size_fp": format_fp(bid_size),
        "yes_ask_dollars": format_dollars(ask if ask is not None else PRICE_MAX),
        "yes_ask_size_fp": format_fp(ask_size),
        "no_bid_dollars": format_dollars(PRICE_MAX - ask if ask is not None else 0),
        "no_ask_dollars": format_dollars(PRICE_MAX - bid if bid is not None else PRICE_MAX),
        "last_price_dollars": format_dollars(stats.last_price),
        "volume_fp": format_fp(stats.volume),
        "volume_24h_fp": format_fp(stats.volume),
        "result": market.result if decided else "",
        "can_close_early": True,
        "open_interest_fp": format_fp(stats.open_interest),
        "notional_value_dollars": "1.0000",
        "previous_yes_bid_dollars": "0.0000",
        "previous_yes_ask_dollars": "0.0000",
        "previous_price_dollars": "0.0000",
        "liquidity_dollars": "0.0000",
        "settlement_value_dollars": settlement,
        "settlement_ts": iso(market.settle_ts) if phase == "finalized" else None,
        "settlement_bounds_type": "default",
        "expiration_value": (
            f"{market.close_cents / 100:.2f}" if decided and market.close_cents is not None else ""
        ),
        "strike_type": "greater_or_equal",
        "floor_strike": market.strike if opened else None,
        "custom_strike": {"round_digits": "2"},
        "rules_primary": RULES_PRIMARY.format(close=close_local, open=open_local),
        "rules_secondary": RULES_SECONDARY,
        "price_level_structure": TAPERED_DECI_CENT,
        "price_ranges": [dict(r) for r in PRICE_RANGES],
        "fractional_trading_enabled": True,
        "exchange_index": 0,
        # Not Kalshi's: which rule settled this market (marketdata.settled.SOURCE_*).
        "kbtc_settlement_source": market.source,
    }


def series_json() -> dict[str, Any]:
    return {
        "ticker": SERIES,
        "frequency": "fifteen_min",
        "title": "Bitcoin price up down",
        "category": "Crypto",
        "categories": ["Crypto"],
        "tags": ["BTC", "15 min"],
        "settlement_sources": [{"name": "CF Benchmarks", "url": "https://www.cfbenchmarks.com/"}],
        "contract_url": "https://assets.kalshi.com/contract_terms/CRYPTO15M.pdf",
        "contract_terms_url": "https://assets.kalshi.com/contract_terms/CRYPTO15M.pdf",
        "fee_type": "quadratic",
        "fee_multiplier": 1,
        "additional_prohibitions": [],
    }


def orderbook_rest(state: PublicState, ticker: str, depth: int) -> dict[str, Any]:
    """``orderbook_fp``: bids only, ascending by price (best last), as the guide shows."""
    yes, no = state.book(ticker).snapshot_levels()
    if depth > 0:
        yes, no = yes[-depth:], no[-depth:]
    return {"orderbook_fp": {"yes_dollars": _levels(yes), "no_dollars": _levels(no)}}


def _direction(trade: PublicTrade) -> dict[str, str]:
    # A YES taker bought YES (``bid``); a NO taker bought NO, which is selling YES (``ask``).
    # SDK3 models/book_side.py: "`bid` means buy YES, `ask` means sell YES"; a captured live
    # trade pairs taker_outcome_side "yes" with taker_book_side "bid".
    return {
        "taker_side": trade.taker_side,
        "taker_outcome_side": trade.taker_side,
        "taker_book_side": "bid" if trade.taker_side == "yes" else "ask",
    }


def trade_rest(trade: PublicTrade) -> dict[str, Any]:
    return {
        "trade_id": trade.trade_id,
        "ticker": trade.ticker,
        "count_fp": format_fp(trade.count),
        "yes_price_dollars": format_dollars(trade.yes_price),
        "no_price_dollars": format_dollars(PRICE_MAX - trade.yes_price),
        **_direction(trade),
        "created_time": iso(trade.ts),
        "is_block_trade": False,
    }


def ws_snapshot(state: PublicState, ticker: str, *, yes_price: bool = False) -> dict[str, Any]:
    """``use_yes_price``: NO levels on the YES scale (no-leg 0.30 → 0.70, §2.6), still bids."""
    yes, no = state.book(ticker).snapshot_levels()
    if yes_price:
        no = tuple(sorted((PRICE_MAX - price, count) for price, count in no))
    msg: dict[str, Any] = {"market_ticker": ticker, "market_id": market_id(ticker)}
    # A side with no bids is absent (exchange-protocols.md §2.6).
    if yes:
        msg["yes_dollars_fp"] = _levels(yes)
    if no:
        msg["no_dollars_fp"] = _levels(no)
    return msg


def ws_delta(event: BookDelta, *, yes_price: bool = False) -> dict[str, Any]:
    price = PRICE_MAX - event.price if yes_price and event.side == "no" else event.price
    return {
        "market_ticker": event.ticker,
        "market_id": market_id(event.ticker),
        "price_dollars": format_dollars(price),
        "delta_fp": format_fp(event.delta),
        "side": event.side,
        "ts": iso(event.ts),
        "ts_ms": event.ts,
    }


def ws_trade(trade: PublicTrade) -> dict[str, Any]:
    return {
        "trade_id": trade.trade_id,
        "market_ticker": trade.ticker,
        "yes_price_dollars": format_dollars(trade.yes_price),
        "no_price_dollars": format_dollars(PRICE_MAX - trade.yes_price),
        "count_fp": format_fp(trade.count),
        **_direction(trade),
        "ts": trade.ts // 1000,
        "ts_ms": trade.ts,
    }


def ws_ticker(state: PublicState, ticker: str, ts: int) -> dict[str, Any]:
    bid, ask, bid_size, ask_size, last, volume = state.top(ticker)
    stats = state.market_stats(ticker)
    last_size = stats.trades[-1].count if stats.trades else 0
    return {
        "market_ticker": ticker,
        "market_id": market_id(ticker),
        "price_dollars": format_dollars(last),
        "yes_bid_dollars": format_dollars(bid or 0),
        "yes_ask_dollars": format_dollars(ask if ask is not None else PRICE_MAX),
        "yes_bid_size_fp": format_fp(bid_size),
        "yes_ask_size_fp": format_fp(ask_size),
        "last_trade_size_fp": format_fp(last_size),
        "volume_fp": format_fp(volume),
        "open_interest_fp": format_fp(stats.open_interest),
        "dollar_volume": volume // 100,  # contracts x $1 notional
        "dollar_open_interest": stats.open_interest // 100,
        "ts": ts // 1000,
        "ts_ms": ts,
        "time": iso(ts),
    }
