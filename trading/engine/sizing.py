"""Position sizing (domain.md §3.13 with §13 point 3).

    risk = bankroll × risk_per_trade_frac × conviction multiplier
           × short_size_mult (shorts) × drawdown_reduction_mult (drawdown > 10 %)
    risk clamped to [bankroll × min_risk_frac, bankroll × max_risk_frac], rounded to cents
    contracts = floor(risk / premium per contract), capped per lane

The premium is what the contract costs: the YES price for a long, the NO price
(10000 − YES bid) for a short. The original divided by the YES price for shorts, so a
short at 25 ¢ spent three times its risk budget (§11.1). Arithmetic is exact (fractions
of integer micro-dollars); KBTC orders whole contracts, returned as hundredths.
"""

from __future__ import annotations

import functools
from fractions import Fraction

from marketdata.model.units import COUNT_SCALE, MICROS_PER_CENT, PRICE_MAX
from trading.engine.params import Params
from trading.engine.resolver import Conviction
from trading.engine.signals import Direction


@functools.lru_cache(maxsize=256)
def exact(ratio: float) -> Fraction:
    """A float parameter as the decimal its author wrote (0.02 → 1/50, not 0.0200000000004)."""
    return Fraction(repr(ratio))


def conviction_mult(conviction: Conviction, params: Params) -> Fraction:
    return exact(
        {
            "HIGH": params.conviction_mult_high,
            "NORMAL": params.conviction_mult_normal,
            "LOW": params.conviction_mult_low,
        }.get(conviction, 1.0)
    )


def drawdown(bankroll: int, peak: int) -> Fraction:
    return Fraction(peak - bankroll, peak) if peak > 0 else Fraction(0)


def premium(direction: Direction, yes_price: int) -> int:
    """Price units paid per contract: YES price for a long, NO price for a short."""
    return yes_price if direction == "LONG" else PRICE_MAX - yes_price


def risk_micros(
    *, bankroll: int, peak: int, direction: Direction, conviction: Conviction, params: Params
) -> int:
    risk = bankroll * exact(params.risk_per_trade_frac) * conviction_mult(conviction, params)
    if direction == "SHORT":
        risk *= exact(params.short_size_mult)
    if drawdown(bankroll, peak) > exact(params.drawdown_reduction_threshold):
        risk *= exact(params.drawdown_reduction_mult)
    risk = min(
        max(risk, bankroll * exact(params.min_risk_frac)), bankroll * exact(params.max_risk_frac)
    )
    cents = (risk / MICROS_PER_CENT + Fraction(1, 2)).__floor__()  # half up
    return max(0, cents * MICROS_PER_CENT)


def entry_count(
    *,
    bankroll: int,
    peak: int,
    direction: Direction,
    conviction: Conviction,
    yes_price: int,
    live: bool,
    params: Params,
) -> int:
    """Whole contracts to buy, in hundredths (0 = cannot size)."""
    cost = premium(direction, yes_price) * COUNT_SCALE  # micro-dollars per contract
    if cost <= 0 or bankroll <= 0:
        return 0
    risk = risk_micros(
        bankroll=bankroll, peak=peak, direction=direction, conviction=conviction, params=params
    )
    contracts = risk // cost
    cap = params.max_live_contracts if live else params.max_paper_contracts
    return min(contracts, cap) * COUNT_SCALE
