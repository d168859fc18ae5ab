"""Entry evaluation of one lane, once per second of event time (domain.md §3.1, §3.2).

The market's signals are computed once per second for every lane (``MarketSignals``);
each lane then runs its own rules. Every rule's outcome is kept, in evaluation order, on
the ``Decision`` record; the decision's reason is the first rule that blocked, or
``ENTRY``.
"""

from __future__ import annotations

from dataclasses import dataclass

from marketdata.model.book import OrderBook
from marketdata.model.units import PRICE_MAX
from trading.engine import guards
from trading.engine.features import entry_features
from trading.engine.lane import Lane, PendingOrder
from trading.engine.market import MarketState
from trading.engine.params import Params
from trading.engine.records import Decision
from trading.engine.resolver import apply_tfi, resolve
from trading.engine.signals import Direction
from trading.engine.signals.obi import obi_direction
from trading.engine.signals.roc import roc, roc_direction
from trading.engine.signals.spread import SpreadState
from trading.engine.sizing import entry_count


@dataclass(frozen=True, slots=True)
class MarketSignals:
    ticker: str | None
    book: OrderBook | None
    obi: Direction | None
    roc: Direction | None
    spread: SpreadState
    tfi: float | None
    roc_value: float | None  # ROC(roc_lookback), stored on the trade as entry ROC


def market_signals(market: MarketState, now: int, params: Params) -> MarketSignals:
    ticker = market.active
    book = market.books.get(ticker) if ticker else None
    regime = market.regime.regime
    volume = 0
    if book is not None:
        volume = book.bid_volume(params.obi_depth_levels) + book.ask_volume(params.obi_depth_levels)
    obi = obi_direction(market.obi.history, volume, holding=False, regime=regime, params=params)
    candles = market.last_candles(max(params.roc_lookback + 1, 3))
    roc_dir = roc_direction(
        candles,
        atr_pct=market.regime.atr_pct,
        regime=regime,
        holding=False,
        obi=obi,
        params=params,
    )
    spread = market.spread.state(now, book.spread if book else None, regime)
    roc_value = roc([c.close for c in candles], params.roc_lookback)
    return MarketSignals(ticker, book, obi, roc_dir, spread, market.tfi(ticker, now), roc_value)


@dataclass(slots=True)
class _Rules:
    rules: list[tuple[str, str]]
    reason: str = ""

    def check(self, name: str, blocked: str, passed: str = "ok") -> None:
        self.rules.append((name, blocked or passed))
        if blocked and not self.reason:
            self.reason = blocked


def evaluate_entry(
    lane: Lane,
    sig: MarketSignals,
    market: MarketState,
    *,
    now: int,
    paused: bool,
    params: Params,
    params_hash: str,
) -> tuple[Decision, PendingOrder | None]:
    regime = market.regime.regime
    remaining = market.remaining_ms(sig.ticker, now)
    book = sig.book
    bid = book.best_yes_bid if book else None
    ask = book.best_yes_ask if book else None
    r = _Rules([])
    r.check("contract", "" if sig.ticker else "NO_ACTIVE_CONTRACT", sig.ticker or "")
    r.check("near_expiry", "NEAR_EXPIRY" if guards.near_expiry(remaining, params) else "")
    r.check("reentry_cooldown", guards.reentry_cooldown(now, lane.last_exit_ts, params))
    health = guards.book_health(
        now=now,
        best_bid=bid,
        best_ask=ask,
        last_kalshi_ts=market.last_kalshi_ts,
        last_spot_ts=market.last_spot_ts,
        params=params,
    )
    r.check("book_health", health)
    halted = lane.breaker.halts(live=lane.live, params=params)
    r.rules.append(("breaker", lane.breaker.reason or "ok"))
    r.rules.append(("obi", sig.obi or "NEUTRAL"))
    r.rules.append(("roc", sig.roc or "NEUTRAL"))
    r.rules.append(("spread", sig.spread))
    res = resolve(
        sig.obi, sig.roc, spread=sig.spread, regime=regime, breaker_halted=halted, params=params
    )
    r.check("resolver", res.reason, f"{res.direction} {res.conviction}")
    res = apply_tfi(res, sig.obi, sig.tfi, params)
    r.check("tfi", res.reason if res.reason == "TFI_DISAGREE" else "", f"{sig.tfi}")
    low_ok = (
        params.roc_low_conviction_live_enabled
        if lane.live
        else params.roc_low_conviction_paper_enabled
    )
    r.check(
        "low_conviction",
        "LOW_CONVICTION_DISABLED" if res.conviction == "LOW" and not low_ok else "",
    )
    res = guards.short_trend_guard(
        res, market.closes()[-params.short_trend_lookback_candles :], params
    )
    r.check("short_trend", res.reason if res.reason.startswith("SHORT_BLOCKED") else "")
    price: int | None = None
    count = 0
    if res.direction is not None:
        price = ask if res.direction == "LONG" else bid
        if price is None:
            r.check("price_guard", "BOOK_ONE_SIDED")
        else:
            r.check(
                "price_guard",
                guards.price_guard(
                    res.direction, price, regime=regime, remaining_ms=remaining, params=params
                ),
            )
            count = entry_count(
                bankroll=lane.breaker.bankroll,
                peak=lane.breaker.peak,
                direction=res.direction,
                conviction=res.conviction,
                yes_price=price,
                live=lane.live,
                params=params,
            )
            r.check("sizing", "" if count > 0 else "SIZING_FAILED", str(count))
    r.check("paused", "PAUSED" if paused else "")
    entering = not r.reason and res.direction is not None and price is not None and count > 0
    decision = Decision(
        ts=now,
        lane=lane.name,
        ticker=sig.ticker,
        direction=res.direction if entering else None,
        conviction=res.conviction,
        driver=res.driver,
        reason="ENTRY" if entering else (r.reason or res.reason or "NO_SIGNAL"),
        rules=tuple(r.rules),
        obi=market.obi.smoothed,
        roc=sig.roc_value,
        atr_pct=market.regime.atr_pct,
        regime=regime,
        yes_price=price,
        count=count if entering else 0,
        params_hash=params_hash,
    )
    if not entering:
        return decision, None
    assert sig.ticker is not None
    assert book is not None
    assert price is not None
    assert res.direction is not None
    order = PendingOrder(
        client_order_id=lane.next_id("kbtc", now),
        purpose="entry",
        ticker=sig.ticker,
        direction=res.direction,
        count=count,
        yes_price=price,
        ts=now,
        driver=res.driver,
        conviction=res.conviction,
        entry_obi=market.obi.smoothed,
        entry_roc=sig.roc_value,
        regime=regime,
        features=entry_features(
            now=now,
            book=book,
            candles=market.last_candles(11),
            obi_raw=market.obi.last_raw,
            atr_pct=market.regime.atr_pct,
            remaining_ms=remaining,
            depth_levels=params.obi_depth_levels,
        ),
    )
    return decision, order


def exit_limit(direction: Direction) -> int:
    """Aggressive exit limit in YES space: sell YES down to 1 ¢, sell NO down to 1 ¢."""
    return 100 if direction == "LONG" else PRICE_MAX - 100
