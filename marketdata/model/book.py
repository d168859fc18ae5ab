"""The Kalshi order book of one contract: bids only, on both sides (exchange-protocols.md §1.4).

Kalshi publishes YES bids and NO bids. A NO bid at ``n`` is a YES ask at ``10000 - n``, so
the YES ask ladder is derived, never stored. Prices are price units ($0.0001), counts
hundredths of a contract (``units``). Everything is exposed in YES space except the explicit
``*_no_*`` accessors.

Deltas are O(1): a dict update plus a cached best price. The best is recomputed lazily (a
scan of one side) only after the best level itself was emptied, which keeps replays of a
busy book cheap while every read stays correct.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import NamedTuple

from marketdata.model.events import BookDelta, BookSnapshot, Level, Side
from marketdata.model.units import PRICE_MAX

_UNKNOWN = -1  # cached best is stale and must be recomputed
DEPTH_LEVELS = 10  # OBI_DEPTH_LEVELS of the original (domain.md §2.5)
_SORT_BELOW = 2048  # top(n) sorts ladders up to this many levels (10x faster than heapq)


class LevelFill(NamedTuple):
    """One level consumed by a depth walk: YES-space price and size (count hundredths)."""

    yes_price: int
    size: int


class _Ladder:
    """One side's bids: price → resting count, with a lazily maintained best (max) price
    (``_UNKNOWN`` once the best level was emptied; deltas are ``OrderBook.apply_delta``'s)."""

    __slots__ = ("_best", "levels")

    def __init__(self) -> None:
        self.levels: dict[int, int] = {}
        self._best = 0  # 0 = empty (0 is never a valid bid price)

    def replace(self, rows: Iterable[Level]) -> None:
        levels: dict[int, int] = {}
        for price, count in rows:
            if count > 0:
                levels[price] = levels.get(price, 0) + count
        self.levels = levels
        self._best = max(levels) if levels else 0

    def best(self) -> int | None:
        if self._best == _UNKNOWN:
            self._best = max(self.levels) if self.levels else 0
        return self._best or None

    def top(self, n: int) -> list[Level]:
        """The best ``n`` levels, best (highest) first."""
        if n <= 0:
            return []
        levels = self.levels
        if len(levels) <= _SORT_BELOW:  # C sort beats heapq's Python loop on real books
            prices = sorted(levels, reverse=True)[:n]
        else:
            prices = heapq.nlargest(n, levels)
        return [(price, levels[price]) for price in prices]

    def volume(self, n: int) -> int:
        """Resting size of the best ``n`` levels (``sum`` of ``top(n)``'s counts, cheaper)."""
        levels = self.levels
        if n <= 0:
            return 0
        if len(levels) <= n:
            return sum(levels.values())
        if len(levels) <= _SORT_BELOW:
            prices = sorted(levels, reverse=True)[:n]
        else:
            prices = heapq.nlargest(n, levels)
        return sum(map(levels.__getitem__, prices))

    def sorted_desc(self) -> list[Level]:
        return sorted(self.levels.items(), reverse=True)


class OrderBook:
    """One contract's book. Feed it snapshots and deltas; read YES-space prices and depth."""

    __slots__ = ("_no", "_yes", "last_ts", "ticker")

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self._yes = _Ladder()
        self._no = _Ladder()
        self.last_ts: int | None = None

    # --- updates -------------------------------------------------------------------------

    def apply_snapshot(
        self, yes: Iterable[Level], no: Iterable[Level], ts: int | None = None
    ) -> None:
        self._yes.replace(yes)
        self._no.replace(no)
        self.last_ts = ts

    def apply_delta(self, side: Side, price: int, delta: int, ts: int | None = None) -> int:
        """Add ``delta`` hundredths at ``price`` (in that side's own space); a level at or
        below zero is removed. Returns the new size. (The ladder's update is written out
        here, not called: every delta of a replay passes through, in three books.)"""
        if not 0 < price < PRICE_MAX:
            raise ValueError(f"{self.ticker}: book price {price} outside (0, {PRICE_MAX})")
        self.last_ts = ts
        ladder = self._yes if side == "yes" else self._no
        levels = ladder.levels
        size = levels.get(price, 0) + delta
        if size > 0:
            levels[price] = size
            best = ladder._best
            if best != _UNKNOWN and price > best:
                ladder._best = price
            return size
        if price in levels:
            del levels[price]
            if price == ladder._best:
                ladder._best = _UNKNOWN
        return 0

    def apply(self, event: BookSnapshot | BookDelta) -> None:
        """Apply a normalised book event for this ticker."""
        if event.ticker != self.ticker:
            raise ValueError(f"event for {event.ticker} applied to book {self.ticker}")
        if isinstance(event, BookSnapshot):
            self.apply_snapshot(event.yes, event.no, event.ts)
        else:
            self.apply_delta(event.side, event.price, event.delta, event.ts)

    def clear(self) -> None:
        self.apply_snapshot((), (), self.last_ts)

    # --- top of book (YES space) ---------------------------------------------------------

    @property
    def best_yes_bid(self) -> int | None:
        return self._yes.best()

    @property
    def best_no_bid(self) -> int | None:
        return self._no.best()

    @property
    def best_yes_ask(self) -> int | None:
        """Cheapest YES offer = 10000 - best NO bid."""
        best_no = self._no.best()
        return None if best_no is None else PRICE_MAX - best_no

    @property
    def best_no_ask(self) -> int | None:
        best_yes = self._yes.best()
        return None if best_yes is None else PRICE_MAX - best_yes

    @property
    def spread(self) -> int | None:
        """YES ask - YES bid in price units; None unless both sides are present."""
        bid, ask = self.best_yes_bid, self.best_yes_ask
        return None if bid is None or ask is None else ask - bid

    @property
    def mid(self) -> float | None:
        """(bid + ask) / 2 in price units; a float because it may fall between units."""
        bid, ask = self.best_yes_bid, self.best_yes_ask
        return None if bid is None or ask is None else (bid + ask) / 2

    def size_at(self, side: Side, price: int) -> int:
        return (self._yes if side == "yes" else self._no).levels.get(price, 0)

    # --- depth ---------------------------------------------------------------------------

    def yes_bids(self, n: int = DEPTH_LEVELS) -> list[Level]:
        """Top ``n`` YES bids, best (highest) first."""
        return self._yes.top(n)

    def no_bids(self, n: int = DEPTH_LEVELS) -> list[Level]:
        """Top ``n`` NO bids in NO space, best (highest) first."""
        return self._no.top(n)

    def yes_asks(self, n: int = DEPTH_LEVELS) -> list[Level]:
        """Top ``n`` YES asks (derived from NO bids), best (lowest) first."""
        return [(PRICE_MAX - price, count) for price, count in self._no.top(n)]

    def bid_volume(self, n: int = DEPTH_LEVELS) -> int:
        """Size of the top ``n`` YES bids."""
        return self._yes.volume(n)

    def ask_volume(self, n: int = DEPTH_LEVELS) -> int:
        """Size of the top ``n`` YES asks (NO bids)."""
        return self._no.volume(n)

    def level_count(self) -> int:
        return len(self._yes.levels) + len(self._no.levels)

    def snapshot_levels(self) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """(yes, no) bids ascending by price, as Kalshi's REST and WS snapshots list them."""
        return tuple(sorted(self._yes.levels.items())), tuple(sorted(self._no.levels.items()))

    def thickness(self, center: int, half_width: int) -> int:
        """Resting size on both sides (YES space) within ``center ± half_width`` (domain §2.3)."""
        low, high = center - half_width, center + half_width
        total = sum(c for p, c in self._yes.levels.items() if low <= p <= high)
        total += sum(c for p, c in self._no.levels.items() if low <= PRICE_MAX - p <= high)
        return total

    # --- depth walks (fills against displayed size, never beyond it) --------------------

    def walk_asks(self, limit_price: int, count: int) -> list[LevelFill]:
        """Buying YES up to ``limit_price`` (YES space): the YES asks taken, cheapest first.

        Does not change the book; a venue applies the matching negative deltas itself.
        """
        return _walk(self._no.sorted_desc(), PRICE_MAX - limit_price, count, to_yes=True)

    def walk_bids(self, limit_price: int, count: int) -> list[LevelFill]:
        """Buying NO (= selling YES) down to YES price ``limit_price``: the YES bids hit,
        highest first. Prices returned in YES space."""
        return _walk(self._yes.sorted_desc(), limit_price, count, to_yes=False)

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.ticker!r}, bid={self.best_yes_bid}, ask={self.best_yes_ask}, "
            f"levels={self.level_count()})"
        )


def _walk(
    levels_desc: list[Level], floor_price: int, count: int, *, to_yes: bool
) -> list[LevelFill]:
    """Consume bids from best down to ``floor_price`` (own side's space) until ``count`` is met."""
    fills: list[LevelFill] = []
    remaining = count
    for price, size in levels_desc:
        if remaining <= 0 or price < floor_price:
            break
        take = min(size, remaining)
        fills.append(LevelFill(PRICE_MAX - price if to_yes else price, take))
        remaining -= take
    return fills
