"""Exact units for prices, counts and money (interfaces.md §1).

Parsed once at the wire boundary, never defaulted:

- contract price: ``int`` in units of $0.0001 (``"0.4200"`` → 4200; 0..10000), always YES space;
- contract count: ``int`` in hundredths of a contract (``"13.00"`` → 1300);
- money: ``int`` micro-dollars; price x count lands here exactly (1e-4 $ x 1e-2 = 1e-6 $).
"""

from __future__ import annotations

import re
from decimal import Decimal

PRICE_SCALE = 10_000  # price units per dollar
COUNT_SCALE = 100  # count units per contract
MICROS_PER_DOLLAR = 1_000_000
MICROS_PER_CENT = 10_000
PRICE_MAX = PRICE_SCALE  # $1.00, a contract's payout


class WireFormatError(ValueError):
    """A number on the wire is missing or malformed. Never defaulted."""


# The exchanges' fixed-point form: digits, optionally a point and more digits. Anything else
# (".1", "1e-3", " 0.5", "+1", "NaN") is not how they write numbers and is refused, so a
# corrupted field can never parse into a plausible price.
_FIXED_POINT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _fixed_point(value: object, field: str, scale: int) -> int:
    if isinstance(value, bool) or not isinstance(value, str):
        raise WireFormatError(f"{field}: expected a decimal string, got {value!r}")
    if _FIXED_POINT.fullmatch(value) is None:
        raise WireFormatError(f"{field}: not a fixed-point decimal: {value!r}")
    number = Decimal(value)
    scaled = number * scale
    if scaled != scaled.to_integral_value():
        raise WireFormatError(f"{field}: {value!r} is finer than 1/{scale}")
    return int(scaled)


def parse_dollars(value: object, field: str = "price") -> int:
    """A Kalshi ``*_dollars`` price string → price units ($0.0001). Must lie in 0..$1."""
    price = _fixed_point(value, field, PRICE_SCALE)
    if not 0 <= price <= PRICE_MAX:
        raise WireFormatError(f"{field}: {value!r} is outside $0..$1")
    return price


def parse_fp(value: object, field: str = "count") -> int:
    """A Kalshi ``*_fp`` count string → hundredths of a contract (may be negative for deltas)."""
    return _fixed_point(value, field, COUNT_SCALE)


def parse_money_dollars(value: object, field: str = "amount") -> int:
    """A dollar amount string (fees, costs, PnL) → micro-dollars."""
    return _fixed_point(value, field, MICROS_PER_DOLLAR)


def format_dollars(price: int) -> str:
    """Price units → Kalshi ``_dollars`` string with four decimals (4200 → ``"0.4200"``)."""
    return f"{Decimal(price) / PRICE_SCALE:.4f}"


def format_fp(count: int) -> str:
    """Hundredths of a contract → Kalshi ``_fp`` string (1300 → ``"13.00"``)."""
    return f"{Decimal(count) / COUNT_SCALE:.2f}"


def micros_to_decimal(micros: int) -> Decimal:
    """Micro-dollars → ``Decimal`` dollars (database columns are ``Decimal(18,6)``)."""
    return Decimal(micros) / MICROS_PER_DOLLAR


def price_to_decimal(price: int) -> Decimal:
    """Price units → ``Decimal`` dollars (database columns are ``Decimal(10,4)``)."""
    return Decimal(price) / PRICE_SCALE


def count_to_decimal(count: int) -> Decimal:
    """Hundredths → ``Decimal`` contracts (database columns are ``Decimal(14,2)``)."""
    return Decimal(count) / COUNT_SCALE


def notional(price: int, count: int) -> int:
    """Cost in micro-dollars of ``count`` hundredths at ``price`` units: exact by construction."""
    return price * count


def no_price(yes_price: int) -> int:
    """The NO price of a YES price (both in price units)."""
    return PRICE_MAX - yes_price
