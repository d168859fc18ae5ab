"""Kalshi price grids (exchange-protocols.md §1.3, §0.1 point 2).

KXBTC15M's ``price_level_structure`` is ``tapered_deci_cent``: $0.001 steps for $0.00-$0.10
and $0.90-$1.00, $0.01 steps between. In price units ($0.0001) that is 10 below 1000 and
above 9000, 100 in between. A book level like ``"0.9950"`` is legal; ``"0.5050"`` is not.
The grid is symmetric under YES↔NO (p ↔ 10000 - p), so the same checks hold in NO space.
"""

from __future__ import annotations

from typing import Literal

from marketdata.model.units import PRICE_MAX

TAPERED_DECI_CENT = "tapered_deci_cent"
FINE_TICK = 10  # $0.001
COARSE_TICK = 100  # $0.01
FINE_BELOW = 1_000  # $0.10
FINE_ABOVE = 9_000  # $0.90

# The wire form of the grid, as ``GET /markets/{t}`` returns it (``price_ranges``).
PRICE_RANGES: tuple[dict[str, str], ...] = (
    {"start": "0.0000", "end": "0.1000", "step": "0.0010"},
    {"start": "0.1000", "end": "0.9000", "step": "0.0100"},
    {"start": "0.9000", "end": "1.0000", "step": "0.0010"},
)

Rounding = Literal["down", "up", "nearest"]


def is_on_grid(price: int) -> bool:
    """True if ``price`` (0..10000 inclusive) lies on the tapered deci-cent grid."""
    if not 0 <= price <= PRICE_MAX:
        return False
    if price <= FINE_BELOW or price >= FINE_ABOVE:
        return price % FINE_TICK == 0
    return price % COARSE_TICK == 0


def is_valid_order_price(price: int) -> bool:
    """A price at which an order may rest or trade: on the grid and strictly inside (0, $1)."""
    return 0 < price < PRICE_MAX and is_on_grid(price)


def is_deci_cent(price: int) -> bool:
    """True for a grid price that is not a whole cent (only possible in the tails)."""
    return price % COARSE_TICK != 0


def round_to_grid(price: int, rounding: Rounding = "nearest") -> int:
    """Snap a price (clamped to 0..10000) onto the grid; ``nearest`` breaks ties downwards."""
    price = max(0, min(PRICE_MAX, price))
    if is_on_grid(price):
        return price
    # Off-grid prices only exist in the coarse band (the fine band's multiples of 10 are all
    # on the grid), so the neighbours are whole cents.
    low = price - price % COARSE_TICK
    high = low + COARSE_TICK
    if rounding == "down":
        return low
    if rounding == "up":
        return high
    return low if price - low <= high - price else high


def tick_up(price: int) -> int:
    """The next grid price above a grid price (saturates at $1)."""
    step = FINE_TICK if price < FINE_BELOW or price >= FINE_ABOVE else COARSE_TICK
    return min(PRICE_MAX, price + step)


def tick_down(price: int) -> int:
    """The next grid price below a grid price (saturates at $0)."""
    step = FINE_TICK if price <= FINE_BELOW or price > FINE_ABOVE else COARSE_TICK
    return max(0, price - step)


def _grid_index(price: int) -> int:
    """Position of a grid price on the grid: 0..100 fine, then 80 coarse, then 100 fine."""
    if price <= FINE_BELOW:
        return price // FINE_TICK
    if price <= FINE_ABOVE:
        return 100 + (price - FINE_BELOW) // COARSE_TICK
    return 180 + (price - FINE_ABOVE) // FINE_TICK


def ticks_between(low: int, high: int) -> int:
    """Number of grid steps from ``low`` to ``high`` (negative if ``high < low``).

    Both prices must be on the grid; a spread measured this way is in the market's own ticks.
    """
    if not (is_on_grid(low) and is_on_grid(high)):
        raise ValueError(f"off-grid price in ticks_between({low}, {high})")
    return _grid_index(high) - _grid_index(low)
