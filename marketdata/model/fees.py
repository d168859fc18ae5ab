"""Kalshi trading fees, exact (interfaces.md §6, exchange-protocols.md §4).

Raw fee in cents for ``c`` hundredths of a contract at YES price ``p`` (units of $0.0001)
with multiplier ``m``: ``7 · c · p · (10000 - p) · m / 10^10`` for takers (100 contracts at
$0.50 → 175¢). Kept as a ``Fraction``: in floats ``0.07 x 100 x 0.5 x 0.5`` is
1.7500000000000002 and ceil() would charge a cent too much.

Rounding is per order: each fill is charged ``ceil(cumulative raw) - cents already
charged``, so the order's total is the formula rounded up once. The fee is symmetric in
YES/NO (p·(1-p)), so NO fills use their YES-space price unchanged.

Open points (exchange-protocols.md §7 point 13) and the source followed:

- Rounding granularity: the docs' fee-rounding page (per fill up to $0.0001, the balance
  change floored to $0.01 for non-direct members, a per-order accumulator rebating whole
  cents) vs "6 dp" (VER) vs "up to the cent" (older schedule). interfaces.md §6, which wins
  over the other documents, fixes whole cents per order; for a non-direct API member that is
  also what the fee-rounding page's mechanics net out to.
- ``fee_multiplier`` scales the maker share too: SDK3 models/series.py says only "a
  floating point multiplier applied to the fee calculations" (VER A-11: "scales the fee"),
  not which part; it is applied to whatever the fee type charges.
- ``flat`` (SDK3 FeeType, "Specific Trading Fees Table", not readable here) has no known
  formula and raises ``UnknownFeeType`` rather than being charged as quadratic.
- Maker fee zero on ``quadratic``: SDK3 models/series.py's ``fee_type`` description (the
  most recent source); not seen stated for KXBTC15M itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from marketdata.model.units import MICROS_PER_CENT, PRICE_MAX

TAKER_RATE = Fraction(7, 100)  # of C·P·(1-P), in dollars

# Maker share of the taker rate per series ``fee_type`` (SDK3 models/series.py description).
MAKER_SHARE: dict[str, Fraction] = {
    "quadratic": Fraction(0),
    "quadratic_with_maker_fees": Fraction(1, 4),
    "quadratic_with_combo_maker_fees": Fraction(1, 2),
}


class UnknownFeeType(ValueError):
    """A series ``fee_type`` this code does not know how to charge: refuse, never guess."""


def raw_fee_cents(
    yes_price: int,
    count: int,
    *,
    is_taker: bool,
    fee_type: str = "quadratic",
    multiplier: Fraction = Fraction(1),
) -> Fraction:
    """Unrounded fee in cents of one fill (exact rational)."""
    if not 0 <= yes_price <= PRICE_MAX:
        raise ValueError(f"price {yes_price} outside 0..{PRICE_MAX}")
    if count < 0:
        raise ValueError(f"negative count {count}")
    if fee_type not in MAKER_SHARE:
        raise UnknownFeeType(fee_type)
    share = Fraction(1) if is_taker else MAKER_SHARE[fee_type]
    # 0.07 $/contract · (c/100 contracts) · (p/10^4) · (1 - p/10^4) · 100 ¢/$ = 7·c·p·q / 10^10
    numerator = 7 * count * yes_price * (PRICE_MAX - yes_price)
    return Fraction(numerator, 10**10) * multiplier * share


@dataclass
class OrderFeeAccumulator:
    """Per-order fee state: feed it each fill, it returns that fill's fee in micro-dollars."""

    fee_type: str = "quadratic"
    multiplier: Fraction = Fraction(1)
    cumulative_raw_cents: Fraction = field(default=Fraction(0))
    charged_cents: int = 0

    def charge(self, yes_price: int, count: int, *, is_taker: bool) -> int:
        fee, self.cumulative_raw_cents = fee_for_fill(
            self.cumulative_raw_cents,
            yes_price,
            count,
            is_taker=is_taker,
            fee_type=self.fee_type,
            multiplier=self.multiplier,
        )
        self.charged_cents += fee // MICROS_PER_CENT
        return fee

    @property
    def total_micros(self) -> int:
        return self.charged_cents * MICROS_PER_CENT


def fee_for_fill(
    prev_cumulative_raw_cents: Fraction,
    yes_price: int,
    count: int,
    *,
    is_taker: bool,
    fee_type: str = "quadratic",
    multiplier: Fraction = Fraction(1),
) -> tuple[int, Fraction]:
    """Fee of one fill in micro-dollars (whole cents) and the order's new cumulative raw fee.

    Stateless form of ``OrderFeeAccumulator`` for callers that persist the running total.
    """
    raw = raw_fee_cents(
        yes_price, count, is_taker=is_taker, fee_type=fee_type, multiplier=multiplier
    )
    new_cumulative = prev_cumulative_raw_cents + raw
    cents = math.ceil(new_cumulative) - math.ceil(prev_cumulative_raw_cents)
    return cents * MICROS_PER_CENT, new_cumulative


def order_fee(
    yes_price: int,
    count: int,
    *,
    is_taker: bool = True,
    fee_type: str = "quadratic",
    multiplier: Fraction = Fraction(1),
) -> int:
    """Fee in micro-dollars of an order filled in one go (the common estimate for sizing)."""
    fee, _ = fee_for_fill(
        Fraction(0), yes_price, count, is_taker=is_taker, fee_type=fee_type, multiplier=multiplier
    )
    return fee
