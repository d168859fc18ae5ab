"""The simulator's market maker: each open contract's YES and NO ladders from the past path.

Fair value is the probability that the closing 60-second average ends at or above the
strike, under a driftless random walk whose volatility is estimated from prints already
seen (``VolatilityEstimate``). It never reads a future price: every backtest run against the
simulator would be flattered by a maker that knew where BTC was going (interfaces.md §9).

The ladder imitates the real Kalshi depth captures (../shared/data, file 4): a large order at
the touch, a few mid-sized ones within a handful of ticks, then a sparse tail of small and
occasional large resting orders down to the edge, on the tapered deci-cent grid. Which deep
prices hold an order and how much is drawn once per contract from the seed, so deep levels
sit still while the touch moves (as real books do) and a requote only touches the region
between the old and new touch: a handful of deltas per second, not a full rewrite.

Spread widens and the touch thins in volatile spells and in the last two minutes; top sizes
lean toward recent momentum (book imbalance reacting to what the price *has* done).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass

from marketdata.model.book import OrderBook
from marketdata.model.events import BookDelta, Side
from marketdata.model.frozen import fast_init
from marketdata.model.ticks import COARSE_TICK, FINE_ABOVE, FINE_BELOW, FINE_TICK, round_to_grid
from marketdata.model.units import PRICE_MAX

# Every order price on the tapered deci-cent grid, ascending (0.001 .. 0.999).
GRID: tuple[int, ...] = tuple(
    [p for p in range(FINE_TICK, FINE_BELOW, FINE_TICK)]
    + [p for p in range(FINE_BELOW, FINE_ABOVE, COARSE_TICK)]
    + [p for p in range(FINE_ABOVE, PRICE_MAX, FINE_TICK)]
)
SIDES: tuple[Side, Side] = ("yes", "no")
NEAR_TICKS = 4  # levels behind the touch that get "near" sizes
# Touch-to-touch width in price units at calm volatility, mid-window. "real": the KXBTC15M
# tape of 2026-02-02 (1-8 cents, median 3 for mids $0.20-0.80); "tight": books as they have
# tightened since (about 1 cent).
SPREAD_PROFILES = {"real": 260, "tight": 20}
BASE_SPREAD = SPREAD_PROFILES["real"]
# Volatility multiplier of the fair value: fit on half of the 2026-02-02 tape's markets by
# ``bench/simcal.py`` (``marketdata.sim.calibration.fit_sigma_scale``), scored on the rest.
SIGMA_SCALE = 1.0


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def fair_yes(
    spot: float,
    strike: float,
    seconds_left: float,
    sigma: float,
    *,
    window_sum: float = 0.0,
    window_count: int = 0,
) -> float:
    """P(closing 60 s average >= strike) for a driftless walk with ``sigma`` $/sqrt(s).

    Before the final minute the average is the price at ``close - 60 s`` plus the mean of a
    60 s walk (variance T/3); inside it, the prints already in the window are known.
    """
    if seconds_left <= 0:
        average = window_sum / window_count if window_count else spot
        return 1.0 if average >= strike else 0.0
    if seconds_left > 60:
        mean = spot
        variance = sigma * sigma * (seconds_left - 60 + 20)
    else:
        remaining = 60 - window_count
        mean = (window_sum + spot * remaining) / 60
        variance = sigma * sigma * remaining**3 / 3 / 3600
    if variance <= 0:
        return 1.0 if mean >= strike else 0.0
    return _phi((mean - strike) / math.sqrt(variance))


@fast_init
@dataclass(frozen=True, slots=True)
class FairInputs:
    """Everything the fair value depends on at one second (the past only)."""

    spot: float  # on the index's scale (path minus basis)
    strike: float
    seconds_left: float
    sigma: float  # $/sqrt(s), before ``SIGMA_SCALE``
    window_sum: float  # prints already inside the closing minute, on the index's scale
    window_count: int

    def fair(self, sigma_scale: float = SIGMA_SCALE) -> float:
        return fair_yes(
            self.spot,
            self.strike,
            self.seconds_left,
            self.sigma * sigma_scale,
            window_sum=self.window_sum,
            window_count=self.window_count,
        )


class VolatilityEstimate:
    """Mean squared one-second log return over the last 5 minutes (fast) and hour (slow).

    Exact rolling windows of integer-quantised squares rather than EWMAs: the estimate is
    then a function of the last hour of prints alone, whatever second the simulator
    started at, so a restart at a saved time quotes exactly as the uninterrupted run did
    (an EWMA remembers its starting point for hours, and float sums their order).
    """

    __slots__ = ("fast_sum", "last", "slow_sum", "squares")

    FAST_S = 300
    SLOW_S = 3600
    QUANTUM = 1e-16  # of a squared log return: far below a one-cent move's (~1e-14)

    def __init__(self, first_price: float, per_second: float = 0.00008) -> None:
        self.last = first_price
        seed = round(per_second * per_second / self.QUANTUM)
        self.squares: deque[int] = deque([seed] * self.SLOW_S, maxlen=self.SLOW_S)
        self.fast_sum = seed * self.FAST_S
        self.slow_sum = seed * self.SLOW_S

    def update(self, price: float) -> None:
        r = math.log(price / self.last) if self.last > 0 else 0.0
        self.last = price
        square = round(r * r / self.QUANTUM)
        self.fast_sum += square - self.squares[-self.FAST_S]
        self.slow_sum += square - self.squares[0]
        self.squares.append(square)

    @property
    def fast(self) -> float:
        return self.fast_sum * self.QUANTUM / self.FAST_S

    @property
    def slow(self) -> float:
        return self.slow_sum * self.QUANTUM / self.SLOW_S

    @property
    def sigma_dollars(self) -> float:
        """Fast volatility in dollars per sqrt(second) at the last price."""
        return math.sqrt(self.fast) * self.last

    @property
    def ratio(self) -> float:
        """Fast over slow volatility: >1 in a volatile spell."""
        return math.sqrt(self.fast / self.slow) if self.slow > 0 else 1.0


@fast_init
@dataclass(frozen=True, slots=True)
class Quote:
    """What the maker wants to show: the touch on each side and the size multipliers."""

    yes_bid: int  # YES space
    no_bid: int  # NO space (= 10000 - YES ask)
    depth_mult: float
    yes_lean: float
    no_lean: float


def _quantize(value: float, step: float) -> float:
    return round(value / step) * step


def make_quote(
    fair: float,
    vol_ratio: float,
    seconds_left: float,
    momentum: float,
    base_spread: int = BASE_SPREAD,
) -> Quote:
    """The touch and size multipliers for a fair YES probability (pure; no randomness)."""
    vol_mult = min(3.0, max(0.7, vol_ratio))
    closeness = max(0.0, (120.0 - seconds_left) / 120.0)
    spread = base_spread * vol_mult * (1.0 + 1.5 * closeness)
    center = fair * PRICE_MAX
    yes_bid = round_to_grid(int(center - spread / 2), "down")
    yes_ask = round_to_grid(math.ceil(center + spread / 2), "up")
    yes_bid = min(max(yes_bid, FINE_TICK), PRICE_MAX - 2 * FINE_TICK)
    yes_ask = max(min(yes_ask, PRICE_MAX - FINE_TICK), yes_bid + FINE_TICK)
    # Quantized so sizes change in steps, not on every wiggle (each change is a delta).
    depth = _quantize(min(1.5, max(0.25, (1.0 / vol_mult) * (1.0 - 0.6 * closeness))), 0.25)
    lean = _quantize(max(-2.0, min(2.0, momentum)), 0.5) * 0.15
    return Quote(yes_bid, PRICE_MAX - yes_ask, max(depth, 0.25), 1.0 + lean, 1.0 - lean)


class _SideLadder:
    """Per-price resting sizes of one side, drawn once; ``near``/``top`` sizes scale."""

    __slots__ = ("deep", "near", "top")

    def __init__(self, rng: random.Random) -> None:
        self.deep: dict[int, int] = {}
        self.near: dict[int, int] = {}
        self.top: dict[int, int] = {}
        for price in GRID:
            fine = price < FINE_BELOW or price >= FINE_ABOVE
            if rng.random() < (0.06 if fine else 0.35):
                self.deep[price] = _deep_size(rng)
            self.near[price] = _hundredths(rng.lognormvariate(math.log(40), 0.8), rng)
            self.top[price] = _hundredths(rng.uniform(250, 900), rng)

    def targets(self, lo: int, hi: int, touch: int, depth: float, lean: float) -> list[int]:
        """The wanted size at each of ``GRID[lo:hi]`` with the touch at ``touch`` (a price
        of the grid: the best bid; nothing above it). One call per side and second, not
        one per level: a requote asks for a dozen levels, a fresh book for hundreds."""
        top, near, deep = self.top, self.near, self.deep
        touch_index = bisect_right(GRID, touch) - 1
        sizes: list[int] = []
        for index in range(lo, hi):
            price = GRID[index]
            distance = touch_index - index
            if price > touch:
                sizes.append(0)
            elif distance == 0:
                sizes.append(max(100, int(top[price] * depth * lean)))
            elif distance <= NEAR_TICKS:
                sizes.append(max(1, int(near[price] * depth * lean)))
            else:
                sizes.append(deep.get(price, 0))
        return sizes


def _hundredths(contracts: float, rng: random.Random) -> int:
    # Most participants size in whole contracts; fractional trading exists (0.01 granularity).
    whole = max(1, int(contracts))
    return whole * 100 if rng.random() < 0.85 else whole * 100 + rng.randrange(1, 100)


def _deep_size(rng: random.Random) -> int:
    if rng.random() < 0.08:
        return _hundredths(rng.uniform(100, 1000), rng)
    return _hundredths(rng.lognormvariate(math.log(5), 1.1), rng)


class MarketMaker:
    """Quotes one contract; ``requote`` returns the deltas that move the book to the target."""

    def __init__(self, seed: int, ticker: str) -> None:
        self.ticker = ticker
        self.rng = random.Random(f"kbtc-maker:{seed}:{ticker}")
        self.sides: dict[Side, _SideLadder] = {
            "yes": _SideLadder(self.rng),
            "no": _SideLadder(self.rng),
        }
        self.quote: Quote | None = None
        # The maker's own resting size per level, apart from the book's total, so orders of
        # other participants (part 2: the user's) resting at the same price are never
        # "requoted away" by the maker's diff.
        self.shown: dict[Side, dict[int, int]] = {"yes": {}, "no": {}}
        self.dirty = True  # something changed besides the quote (a trade, a churn)

    def consume(self, side: Side, price: int, count: int) -> None:
        """A taker traded ``count`` against the maker's level (own side's space)."""
        self.dirty = True
        left = self.shown[side].get(price, 0) - count
        if left > 0:
            self.shown[side][price] = left
        else:
            self.shown[side].pop(price, None)

    def withdraw(self, ts: int) -> list[BookDelta]:
        """Pull every resting order (at close): the deltas that empty the maker's levels."""
        deltas = [
            BookDelta(ts=ts, ticker=self.ticker, side=side, price=price, delta=-size)
            for side in SIDES
            for price, size in sorted(self.shown[side].items())
        ]
        self.shown = {"yes": {}, "no": {}}
        self.quote = None
        return deltas

    def initial_levels(self, quote: Quote) -> dict[Side, dict[int, int]]:
        """The full ladder for a fresh book (used for the opening snapshot)."""
        self.quote = quote
        levels: dict[Side, dict[int, int]] = {}
        sides: tuple[tuple[Side, int], ...] = (("yes", quote.yes_bid), ("no", quote.no_bid))
        for side, touch in sides:
            ladder, lean = self.sides[side], quote.yes_lean if side == "yes" else quote.no_lean
            top = bisect_right(GRID, touch)
            sizes = ladder.targets(0, top, touch, quote.depth_mult, lean)
            shown = zip(GRID[:top], sizes, strict=True)
            levels[side] = {price: size for price, size in shown if size > 0}
            self.shown[side] = dict(levels[side])
        return levels

    def churn(self) -> None:
        """Someone near the touch re-sizes: keeps imbalance alive between price moves."""
        if self.quote is None or self.rng.random() >= 0.3:
            return
        side: Side = "yes" if self.rng.random() < 0.5 else "no"
        touch = self.quote.yes_bid if side == "yes" else self.quote.no_bid
        index = bisect_right(GRID, touch) - 1 - self.rng.randint(1, NEAR_TICKS)
        if index >= 0:
            self.dirty = True
            self.sides[side].near[GRID[index]] = _hundredths(
                self.rng.lognormvariate(math.log(40), 0.8), self.rng
            )

    def requote(self, book: OrderBook, quote: Quote, ts: int) -> list[BookDelta]:
        """Move the maker's levels to ``quote``; applies the deltas to ``book`` and returns them.

        Cancels go out before new orders so the book never shows a crossed touch in between
        (a client reading delta by delta would otherwise see bid >= ask for a moment).
        """
        previous = self.quote or quote
        if previous == quote and not self.dirty:
            return []  # same target as last second: nothing to move
        self.quote = quote
        self.dirty = False
        cancels: list[BookDelta] = []
        adds: list[BookDelta] = []
        moves: tuple[tuple[Side, int, int], ...] = (
            ("yes", previous.yes_bid, quote.yes_bid),
            ("no", previous.no_bid, quote.no_bid),
        )
        ticker = self.ticker
        for side, old, new in moves:
            lean = quote.yes_lean if side == "yes" else quote.no_lean
            ladder, mine = self.sides[side], self.shown[side]
            hi = bisect_right(GRID, max(old, new))
            lo = max(0, bisect_left(GRID, min(old, new)) - NEAR_TICKS - 1)
            wanted = ladder.targets(lo, hi, new, quote.depth_mult, lean)
            for price, want in zip(GRID[lo:hi], wanted, strict=True):
                have = mine.get(price, 0)
                if want == have:
                    continue
                if want:
                    mine[price] = want
                else:
                    del mine[price]
                delta = BookDelta(ts, ticker, side, price, want - have)
                (cancels if want < have else adds).append(delta)
        deltas = cancels + adds
        apply = book.apply_delta
        for delta in deltas:
            apply(delta.side, delta.price, delta.delta, ts)
        return deltas
