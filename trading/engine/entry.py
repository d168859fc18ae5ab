"""Entry evaluation of one lane, once per second of event time (domain.md §3.1, §3.2).

The market's signals are computed once per second for every lane (``MarketSignals``);
each lane then runs its own rules. Every rule's outcome is kept, in evaluation order, on
the ``Decision`` record; the decision's reason is the first rule that blocked, or
``ENTRY``.
"""

from __future__ import annotations

from dataclasses import dataclass

from marketdata.model.book import OrderBook
from marketdata.model.frozen import fast_init
from marketdata.model.units import PRICE_MAX
from trading.engine import guards
from trading.engine.edge import edge_verdict
from trading.engine.features import entry_features
from trading.engine.lane import Lane, PendingOrder
from trading.engine.market import MarketState
from trading.engine.mlgate import MlGate
from trading.engine.params import Params
from trading.engine.records import Decision
from trading.engine.resolver import Conviction, Resolution, apply_tfi, resolve
from trading.engine.signals import Direction
from trading.engine.signals.obi import obi_direction
from trading.engine.signals.spread import SpreadState
from trading.engine.sizing import conviction_mult, entry_count


@fast_init
@dataclass(frozen=True, slots=True)
class MarketSignals:
    ticker: str | None
    book: OrderBook | None
    obi: Direction | None
    roc: Direction | None
    spread: SpreadState
    tfi: float | None
    roc_value: float | None  # ROC(roc_lookback), stored on the trade as entry ROC


def signal_directions(
    market: MarketState,
    params: Params,
    *,
    extremes: tuple[float, float] | None = None,
    roc_key: str | None = None,
) -> tuple[Direction | None, Direction | None]:
    """This second's OBI and ROC directions with a lane's thresholds (``params``).
    ``extremes``: the last ``obi_consecutive_readings`` smoothed OBI readings' lowest and
    highest (``obi_extremes``), ``roc_key``: the lane's ``roc_key``, when the caller has them."""
    regime = market.regime.regime
    obi = obi_direction(
        market.obi.history,
        market.book_volume,
        holding=False,
        regime=regime,
        params=params,
        extremes=extremes,
    )
    return obi, market.roc_direction(obi, params, roc_key)


def market_signals(
    market: MarketState,
    now: int,
    obi: Direction | None,
    roc: Direction | None,
    same_second: MarketSignals | None = None,
) -> MarketSignals:
    """This second's signals with these directions. ``same_second``: signals built this
    second with other directions; what depends only on the market (the book, the spread
    state, the trade flow, the ROC value) is taken from it."""
    if same_second is not None:
        base = same_second
        return MarketSignals(
            base.ticker, base.book, obi, roc, base.spread, base.tfi, base.roc_value
        )
    ticker = market.active
    book = market.books.get(ticker) if ticker else None
    spread = market.spread.state(now, book.spread if book else None, market.regime.regime)
    tfi = market.tfi(ticker, now)
    return MarketSignals(ticker, book, obi, roc, spread, tfi, market.current_roc)


class EntryFeatures:
    """This second's entry feature vector (domain.md §7.1), market state only: one per
    second for every lane, computed the first time a rule or an entry reads it (the ML gate
    reads it before the verdict; most seconds nothing does)."""

    __slots__ = ("_market", "_now", "_remaining", "_value")

    def __init__(self, market: MarketState, now: int, remaining_ms: int | None) -> None:
        self._market, self._now, self._remaining = market, now, remaining_ms
        self._value: dict[str, float | int | None] | None = None

    def get(self, book: OrderBook) -> dict[str, float | int | None]:
        if self._value is None:
            market = self._market
            self._value = entry_features(
                now=self._now,
                book=book,
                candles=market.last_candles(11),
                obi_raw=market.obi.last_raw,
                atr_pct=market.regime.atr_pct,
                remaining_ms=self._remaining,
            )
        return self._value


@fast_init
@dataclass(frozen=True, slots=True)
class SharedVerdict:
    """The lane-independent part of the entry pipeline, computed once per second."""

    ticker: str | None
    book: OrderBook | None
    remaining_ms: int | None
    gate_rules: tuple[tuple[str, str], ...]  # contract, near expiry, book health
    gate_reason: str
    signal_rules: tuple[tuple[str, str], ...]  # obi, roc, spread
    resolution: Resolution  # after resolver, TFI and the short trend guard
    resolve_rules: tuple[tuple[str, str], ...]  # resolver, tfi
    trend_rule: tuple[str, str]
    price: int | None
    price_rule: tuple[str, str] | None
    halted_rules: tuple[tuple[str, str], ...]  # what a halted breaker leaves
    signal_reason: str  # resolver or TFI reason that leaves no direction
    # The halted lane's resolution (one object per second, not one per lane).
    halted_resolution: Resolution
    # The first rule after the low-conviction gate that blocked ("" = none): trend, price.
    after_low_reason: str
    size_mult: float  # of ``resolution``'s conviction (a halted lane logs NONE's 0.0)
    # The entry feature vector (domain.md §7.1), readable by any rule before the verdict
    # whenever a direction reached the price guard with a price (``features.get(book)``);
    # None otherwise (no entry can follow). Market state only: shared by the lanes.
    features: EntryFeatures | None
    # False when a shared rule already blocks every lane (a gate, the signals, the short
    # trend or price guard, no direction or no price): no lane can enter this second.
    entry_possible: bool


def _first(rules: tuple[tuple[str, str], ...], passed: frozenset[str]) -> str:
    for _, outcome in rules:
        if outcome not in passed:
            return outcome
    return ""


_OK = frozenset({"ok"})
# Rule outcomes are built from interned constants: a Decision's rules tuple is assembled by
# concatenating shared tuples, not rebuilt rule by rule for every lane.
_CONTRACT_OK = ("contract", "ok")
_CONTRACT_NONE = ("contract", "NO_ACTIVE_CONTRACT")
_NEAR_EXPIRY_OK = ("near_expiry", "ok")
_NEAR_EXPIRY = ("near_expiry", "NEAR_EXPIRY")
_COOLDOWN_OK = ("reentry_cooldown", "ok")
_BREAKER_OK = ("breaker", "ok")
_TFI_OK = ("tfi", "ok")
_TFI_DISAGREE = ("tfi", "TFI_DISAGREE")
_TREND_OK = ("short_trend", "ok")
_LOW_OK = ("low_conviction", "ok")
_LOW_DISABLED = ("low_conviction", "LOW_CONVICTION_DISABLED")
_PAUSED_OK = ("paused", "ok")
_PAUSED = ("paused", "PAUSED")
_HALTED_RULES = (("resolver", "CIRCUIT_BREAKER_ACTIVE"),)
_ONE_SIDED = ("price_guard", "BOOK_ONE_SIDED")
_PRICE_OK = ("price_guard", "ok")


def size_mult(conviction: Conviction, params: Params) -> float:
    """The decision's size multiplier: the conviction multiplier the sizer applies
    (``sizing.conviction_mult``, the same parameter), 0.0 for NONE (domain.md §3.7).

    Logged on every decision, skips included, as the signal log's ``size_mult``: it follows
    the decision's final conviction (after the spread modifier, TFI and the short trend
    guard), not whether the sizer ran.
    """
    return 0.0 if conviction == "NONE" else float(conviction_mult(conviction, params))


def shared_verdict(
    sig: MarketSignals,
    market: MarketState,
    *,
    now: int,
    params: Params,
    features: EntryFeatures | None = None,
) -> SharedVerdict:
    regime = market.regime.regime
    remaining = market.remaining_ms(sig.ticker, now)
    book = sig.book
    bid = book.best_yes_bid if book else None
    ask = book.best_yes_ask if book else None
    health = guards.book_health(
        now=now,
        best_bid=bid,
        best_ask=ask,
        last_kalshi_ts=market.last_kalshi_ts,
        last_spot_ts=market.last_spot_ts,
        params=params,
    )
    gate_rules = (
        _CONTRACT_OK if sig.ticker else _CONTRACT_NONE,
        _NEAR_EXPIRY if guards.near_expiry(remaining, params) else _NEAR_EXPIRY_OK,
        ("book_health", health or "ok"),
    )
    signal_rules = (
        ("obi", sig.obi or "NEUTRAL"),
        ("roc", sig.roc or "NEUTRAL"),
        ("spread", sig.spread),
    )
    res = resolve(
        sig.obi, sig.roc, spread=sig.spread, regime=regime, breaker_halted=False, params=params
    )
    resolver_rule = ("resolver", res.reason or f"{res.direction} {res.conviction}")
    signal_reason = res.reason
    res = apply_tfi(res, sig.obi, sig.tfi, params)
    tfi_rule = _TFI_DISAGREE if res.reason == "TFI_DISAGREE" else _TFI_OK
    signal_reason = signal_reason or res.reason
    trend_rule = _TREND_OK
    if res.direction == "SHORT":
        recent = market.last_candles(params.short_trend_lookback_candles)
        res = guards.short_trend_guard(res, [c.close for c in recent], params)
        if res.reason.startswith("SHORT_BLOCKED"):
            trend_rule = ("short_trend", res.reason)
    price: int | None = None
    price_rule: tuple[str, str] | None = None
    if res.direction is not None:
        price = ask if res.direction == "LONG" else bid
        if price is None:
            price_rule = _ONE_SIDED
        else:
            blocked = guards.price_guard(
                res.direction, price, regime=regime, remaining_ms=remaining, params=params
            )
            price_rule = ("price_guard", blocked) if blocked else _PRICE_OK
    trend = trend_rule[1] if trend_rule[1] != "ok" else ""
    price_reason = "" if price_rule is None or price_rule[1] == "ok" else price_rule[1]
    gate_rules_reason = _first(gate_rules, _OK)
    if price is None or book is None:
        features = None
    elif features is None:
        features = EntryFeatures(market, now, remaining)
    return SharedVerdict(
        ticker=sig.ticker,
        book=book,
        remaining_ms=remaining,
        gate_rules=gate_rules,
        gate_reason=gate_rules_reason,
        signal_rules=signal_rules,
        resolution=res,
        resolve_rules=(resolver_rule, tfi_rule),
        trend_rule=trend_rule,
        price=price,
        price_rule=price_rule,
        halted_rules=_HALTED_RULES,
        signal_reason=signal_reason,
        halted_resolution=Resolution(None, "NONE", "CIRCUIT_BREAKER_ACTIVE", res.driver),
        after_low_reason=trend or price_reason,
        size_mult=size_mult(res.conviction, params),
        features=features,
        entry_possible=not (gate_rules_reason or signal_reason or trend or price_reason)
        and res.direction is not None
        and price is not None,
    )


def evaluate_entry(
    lane: Lane,
    shared: SharedVerdict,
    sig: MarketSignals,
    market: MarketState,
    *,
    now: int,
    paused: bool,
    params: Params,
    params_hash: str,
    gate: MlGate | None = None,
) -> tuple[Decision, PendingOrder | None]:
    """The lane's own rules around the shared verdict; reason = first rule that blocked.

    Rules, in order: the shared gates (contract, near expiry, book health), re-entry
    cooldown, breaker, the signals (OBI, ROC, spread); then, for a halted lane, the
    breaker's resolver outcome, otherwise resolver, TFI, low conviction, short trend, the
    ML gate (lanes with ``ml_gate_mode`` on, tradeable decisions only: §7.4), price guard
    (when a direction is left) and sizing (when nothing blocked); paused last.
    """
    cooldown = guards.reentry_cooldown(now, lane.last_exit_ts, params)
    breaker = lane.breaker
    live = lane.live
    halted = breaker.halts(live=live, params=params)
    rules = (
        *shared.gate_rules,
        ("reentry_cooldown", cooldown) if cooldown else _COOLDOWN_OK,
        ("breaker", breaker.reason) if halted else _BREAKER_OK,
        *shared.signal_rules,
    )
    reason = shared.gate_reason or cooldown
    res = shared.resolution
    count = 0
    mult = shared.size_mult
    if halted:
        rules += shared.halted_rules
        reason = reason or "CIRCUIT_BREAKER_ACTIVE"
        res = shared.halted_resolution
        mult = 0.0
    else:
        low_ok = (
            params.roc_low_conviction_live_enabled
            if live
            else params.roc_low_conviction_paper_enabled
        )
        low = res.conviction == "LOW" and not low_ok
        rules += shared.resolve_rules
        rules += (_LOW_DISABLED if low else _LOW_OK, shared.trend_rule)
        if params.ml_gate_mode == "off" or gate is None:
            if shared.price_rule is not None:
                rules += (shared.price_rule,)
            reason = (
                reason
                or shared.signal_reason
                or ("LOW_CONVICTION_DISABLED" if low else "")
                or shared.after_low_reason
            )
        else:
            reason, rules, res, mult = _ml_gate(
                gate, shared, params, res, rules, mult, reason or shared.signal_reason, low
            )
        if live and params.edge_live_profile_enabled and res.direction is not None:
            edge = edge_verdict(
                direction=res.direction,
                conviction=res.conviction,
                driver=res.driver,
                yes_price=shared.price,
                roc=sig.roc_value,
                now=now,
                params=params,
            )
            rules += (("edge_profile", edge or "ok"),)
            reason = reason or edge
        if not reason and res.direction is not None and shared.price is not None:
            count = entry_count(
                bankroll=breaker.bankroll,
                peak=breaker.peak,
                direction=res.direction,
                conviction=res.conviction,
                yes_price=shared.price,
                live=live,
                params=params,
            )
            rules += (("sizing", str(count) if count > 0 else "SIZING_FAILED"),)
            reason = "" if count > 0 else "SIZING_FAILED"
    rules += (_PAUSED if paused else _PAUSED_OK,)
    reason = reason or ("PAUSED" if paused else "")
    entering = not reason and count > 0
    regime = market.regime
    decision = Decision(
        now,
        lane.name,
        shared.ticker,
        res.direction if entering else None,
        res.conviction,
        mult,
        res.driver,
        "ENTRY" if entering else (reason or "NO_SIGNAL"),
        rules,
        market.obi.smoothed,
        sig.roc_value,
        regime.atr_pct,
        regime.regime,
        shared.price,
        count if entering else 0,
        params_hash,
    )
    if not entering:
        return decision, None
    return decision, _entry_order(lane, shared, sig, market, res, count, now)


def _ml_gate(
    gate: MlGate,
    shared: SharedVerdict,
    params: Params,
    res: Resolution,
    rules: tuple[tuple[str, str], ...],
    mult: float,
    reason: str,
    low: bool,
) -> tuple[str, tuple[tuple[str, str], ...], Resolution, float]:
    """The ML gate between the short trend guard and the price guard (§7.4): only for a
    decision still tradeable there, with the second's feature vector."""
    reason = reason or ("LOW_CONVICTION_DISABLED" if low else "")
    trend = shared.trend_rule[1]
    reason = reason or ("" if trend == "ok" else trend)
    features = shared.features
    if not reason and res.direction is not None and features is not None:
        assert shared.book is not None
        outcome, rejected, res = gate.judge(
            features.get(shared.book),
            res,
            mode=params.ml_gate_mode,
            up_p=params.ml_conviction_up_p,
        )
        rules += (("ml_gate", outcome),)
        if rejected:
            reason = outcome
        mult = size_mult(res.conviction, params)
    if shared.price_rule is not None:
        rules += (shared.price_rule,)
        if not reason and shared.price_rule[1] != "ok":
            reason = shared.price_rule[1]
    return reason, rules, res, mult


def _entry_order(
    lane: Lane,
    shared: SharedVerdict,
    sig: MarketSignals,
    market: MarketState,
    res: Resolution,
    count: int,
    now: int,
) -> PendingOrder:
    assert shared.ticker is not None
    assert shared.features is not None
    assert shared.book is not None
    assert shared.price is not None
    assert res.direction is not None
    return PendingOrder(
        client_order_id=lane.next_id("kbtc", now),
        purpose="entry",
        ticker=shared.ticker,
        direction=res.direction,
        count=count,
        yes_price=shared.price,
        ts=now,
        driver=res.driver,
        conviction=res.conviction,
        entry_obi=market.obi.smoothed,
        entry_roc=sig.roc_value,
        regime=market.regime.regime,
        features=shared.features.get(shared.book),
    )


def exit_limit(direction: Direction) -> int:
    """Aggressive exit limit in YES space: sell YES down to 1 ¢, sell NO down to 1 ¢."""
    return 100 if direction == "LONG" else PRICE_MAX - 100
