"""Entry guards (domain.md §3.9, §3.11, book health of §3.1).

Every guard returns a skip reason, or ``""`` to let the entry through. Times to close are
milliseconds (``None`` when the contract's close time is unknown, which every guard treats
as too close: BUG-028). Prices are YES-space price units; reasons print them in cents.
"""

from __future__ import annotations

from collections.abc import Sequence

from marketdata.model.units import PRICE_MAX
from trading.engine.params import Params
from trading.engine.regime import Regime
from trading.engine.resolver import Conviction, Resolution
from trading.engine.signals import Direction

LATE_LONG_FLOOR = 500  # the late-contract widening never goes below 5 ¢ ...
LATE_LONG_CAP = 9500  # ... nor above 95 ¢ (original hard-coded)


def cents(price: int) -> str:
    """Price units as a cents label: 1500 → ``15c``, 995 → ``9.95c``."""
    return f"{price / 100:g}c"


def short_trend_guard(
    resolution: Resolution, closes: Sequence[float], params: Params
) -> Resolution:
    """Soften or block a short while spot has been rising over the last few candles."""
    n = params.short_trend_lookback_candles
    if resolution.direction != "SHORT" or len(closes) < n or closes[-n] <= 0:
        return resolution
    rise = (closes[-1] - closes[-n]) / closes[-n] * 100
    block, soften = params.short_trend_block_rise_pct, params.short_trend_soften_rise_pct
    if rise >= block:
        reason = f"SHORT_BLOCKED_UPTREND_{rise:.3f}%>={block:.3f}%"
        return Resolution(None, "NONE", reason, resolution.driver)
    if rise < soften:
        return resolution
    if resolution.conviction == "LOW":
        reason = f"SHORT_BLOCKED_UPTREND_LOW_{rise:.3f}%>={soften:.3f}%"
        return Resolution(None, "NONE", reason, resolution.driver)
    softened: Conviction = "NORMAL" if resolution.conviction == "HIGH" else "LOW"
    return Resolution("SHORT", softened, resolution.reason, resolution.driver)


def near_expiry(remaining_ms: int | None, params: Params) -> bool:
    """The coordinator's skip: unknown or less than ``min_seconds_to_expiry`` left."""
    return remaining_ms is None or remaining_ms < params.min_seconds_to_expiry * 1000


def reentry_cooldown(now: int, last_exit_ts: int | None, params: Params) -> str:
    # Reading (ambiguity): domain.md §3.1 wants "more than 100 ticks" since the exit;
    # interfaces.md §5 replaces that count by a duration, ``reentry_cooldown_s`` = 30, so
    # the cooldown is over once 30 s have passed (an entry at exactly 30 s is allowed).
    if last_exit_ts is not None and now - last_exit_ts < params.reentry_cooldown_s * 1000:
        return "REENTRY_COOLDOWN"
    return ""


def price_guard(
    direction: Direction,
    yes_price: int,
    *,
    regime: Regime,
    remaining_ms: int | None,
    params: Params,
) -> str:
    """Checks the executable entry price (best ask for a long, best bid for a short)."""
    if regime == "HIGH":
        return "REGIME_HIGH"
    if remaining_ms is None or remaining_ms < params.price_guard_expiry_s * 1000:
        return "EXPIRY_TOO_CLOSE"
    if direction == "SHORT" and remaining_ms < params.short_min_seconds_to_expiry * 1000:
        limit = params.short_min_seconds_to_expiry
        return f"SHORT_ENTRY_TOO_CLOSE_TO_EXPIRY_{remaining_ms // 1000}s<{limit}s"
    if direction == "LONG":
        return _long_bounds(yes_price, regime, remaining_ms, params)
    # Reading (ambiguity): domain.md §3.11 has a hard-coded short floor of 25 ¢ that
    # ``SHORT_MIN_ENTRY_PRICE`` can only raise (and regime maxima of 60 ¢ that
    # ``LONG_MAX_ENTRY_PRICE`` can only lower). Here each bound is one parameter (§10 [NEW]:
    # one typed parameter set): the defaults give the same bounds, and an override may
    # loosen as well as tighten them.
    if yes_price < params.short_min_entry_price:
        return f"SHORT_ENTRY_TOO_CHEAP_{cents(yes_price)}<{cents(params.short_min_entry_price)}"
    max_no = params.short_max_no_price_low if regime == "LOW" else params.short_max_no_price_medium
    if PRICE_MAX - yes_price > max_no:
        return f"NO_PRICE_TOO_HIGH_{cents(PRICE_MAX - yes_price)}>{cents(max_no)}"
    return ""


def _long_bounds(yes_price: int, regime: Regime, remaining_ms: int, params: Params) -> str:
    if regime == "LOW":
        low = params.long_min_entry_price_low
    else:
        low = params.long_min_entry_price_medium
    high = params.long_max_entry_price
    if remaining_ms < params.price_guard_late_s * 1000:
        low = max(low - params.long_late_widen, LATE_LONG_FLOOR)
        high = min(high + params.long_late_widen, LATE_LONG_CAP)
    if yes_price < low:
        return f"YES_PRICE_TOO_LOW_{cents(yes_price)}<{cents(low)}"
    if yes_price > high:
        return f"YES_PRICE_TOO_HIGH_{cents(yes_price)}>{cents(high)}"
    return ""


def book_health(
    *,
    now: int,
    best_bid: int | None,
    best_ask: int | None,
    last_kalshi_ts: int | None,
    last_spot_ts: int | None,
    params: Params,
) -> str:
    """Entry precondition: a two-sided book and fresh Kalshi and spot data."""
    if best_bid is None or best_ask is None:
        return "BOOK_ONE_SIDED"
    if last_kalshi_ts is None or now - last_kalshi_ts > params.book_stale_s * 1000:
        return "KALSHI_DATA_STALE"
    if last_spot_ts is None or now - last_spot_ts > params.spot_stale_s * 1000:
        return "SPOT_DATA_STALE"
    return ""
