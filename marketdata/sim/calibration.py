"""The simulator's KXBTC15M books held against real ones (``bench/simcal.py``'s ``kxbtc15m``).

The reference is the 30-second top-of-book tape of 63 KXBTC15M markets on 2026-02-02 and
Kalshi's settled list (``../shared/data``). For every real observation with both sides
quoted, the simulator's book for the same market at the same second (real strike from the
settled list, Binance history for spot) gives a mid, and the difference is the error.

Fit and score never share a market: the tape's markets are split by ticker (alternately,
in close order) into a *fit* half, on which ``fit_sigma_scale`` picks the fair value's
volatility multiplier, and a *held-out* half, on which the simulator is scored. Everything
the maker reads stays in the past (``SimCore.fair_inputs``).
"""

from __future__ import annotations

import json
import lzma
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marketdata.model.book import OrderBook
from marketdata.model.events import (
    BookDelta,
    BookSnapshot,
    ClockTick,
    Event,
    MarketStatus,
    PublicTrade,
)
from marketdata.model.units import PRICE_MAX
from marketdata.settled import SettledMarkets, parse_time_ms
from marketdata.sim.core import SimCore
from marketdata.sim.maker import FairInputs
from marketdata.sim.prices import PriceHistory, PricePath
from marketdata.sim.schedule import WINDOW_S, average_cents, close_times_for

MINUTE_BUCKETS = ((0, 3), (3, 6), (6, 9), (9, 12), (12, 15))  # minutes to close
SCALE_GRID = tuple(round(0.5 + 0.05 * i, 2) for i in range(31))  # 0.50 .. 2.00


@dataclass(frozen=True, slots=True)
class TapeQuote:
    """One real observation: best YES bid/ask (price units) and cumulative volume."""

    ts: int
    ticker: str
    close_ts: int
    yes_bid: int
    yes_ask: int
    volume: int  # contracts

    @property
    def two_sided(self) -> bool:
        return 0 < self.yes_bid < self.yes_ask < PRICE_MAX

    @property
    def mid(self) -> float:
        return (self.yes_bid + self.yes_ask) / 2


def load_tape(path: str | Path) -> list[TapeQuote]:
    """The top-of-book tape (JSON lines ``t``, ``kalshi.{ticker, yes_bid, yes_ask, volume}``;
    ``t`` is naive UTC). A line that is not that shape stops the load, naming it."""
    quotes: list[TapeQuote] = []
    with lzma.open(path, "rt") if str(path).endswith(".xz") else open(path) as lines:
        for number, line in enumerate(lines, 1):
            try:
                row = json.loads(line)
                kalshi = row["kalshi"]
                closes = close_times_for(kalshi["ticker"])
                if not closes:
                    raise ValueError(f"not a KXBTC15M ticker: {kalshi['ticker']!r}")
                quotes.append(
                    TapeQuote(
                        ts=parse_time_ms(row["t"]),
                        ticker=kalshi["ticker"],
                        close_ts=closes[0],
                        yes_bid=round(float(kalshi["yes_bid"]) * PRICE_MAX),
                        yes_ask=round(float(kalshi["yes_ask"]) * PRICE_MAX),
                        volume=int(kalshi["volume"]),
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path} line {number}: {exc}") from None
    return quotes


def split_markets(quotes: Iterable[TapeQuote]) -> tuple[set[str], set[str]]:
    """(fit, held-out) tickers: alternate markets in close order, so both halves span the
    whole day (its calm night and busy afternoon)."""
    tickers = sorted({(q.close_ts, q.ticker) for q in quotes})
    fit = {ticker for i, (_, ticker) in enumerate(tickers) if i % 2 == 0}
    return fit, {ticker for _, ticker in tickers} - fit


@dataclass(frozen=True, slots=True)
class Observation:
    quote: TapeQuote
    sim_bid: int
    sim_ask: int

    @property
    def error_cents(self) -> float:
        return abs((self.sim_bid + self.sim_ask) / 2 - self.quote.mid) / 100

    @property
    def minutes_left(self) -> float:
        return (self.quote.close_ts - self.quote.ts) / 60_000


@dataclass
class TapeRun:
    """One pass of the simulator over the tape's span."""

    observations: list[Observation]  # held-out quotes with both books two-sided
    fit_samples: list[tuple[FairInputs, float]]  # fit-half quotes: inputs, real mid (0..1)
    volume: dict[str, int]  # public trade volume per market (contracts), whole windows only
    events: int


def run_over_tape(
    core: SimCore, quotes: list[TapeQuote], held_out: set[str], end_ts: int
) -> TapeRun:
    """Step ``core`` to ``end_ts``, reading its books at each held-out quote's second and
    its fair-value inputs at each fit quote's second (before that second's events)."""
    due: dict[int, list[TapeQuote]] = {}
    for quote in quotes:
        if quote.two_sided:
            due.setdefault(quote.ts // 1000, []).append(quote)
    books: dict[str, OrderBook] = {}
    opens: dict[str, int] = {}
    run = TapeRun([], [], {}, 0)
    first_open = core.second * 1000 - core.second * 1000 % (WINDOW_S * 1000) + WINDOW_S * 1000
    for event in _events(core, end_ts):
        run.events += 1
        if isinstance(event, BookSnapshot | BookDelta):
            book = books.get(event.ticker) or books.setdefault(
                event.ticker, OrderBook(event.ticker)
            )
            book.apply(event)
        elif isinstance(event, PublicTrade):
            run.volume[event.ticker] = run.volume.get(event.ticker, 0) + event.count
        elif isinstance(event, ClockTick):
            for quote in due.pop(event.ts // 1000, ()):
                _observe(core, books, quote, held_out, run)
        elif isinstance(event, MarketStatus) and event.status == "open":
            opens[event.ticker] = event.open_ts
    # Whole windows only: the one open at the start and the one cut by the end traded less.
    run.volume = {
        ticker: count // 100
        for ticker, count in run.volume.items()
        if opens.get(ticker, 0) >= first_open and opens[ticker] + WINDOW_S * 1000 <= end_ts
    }
    return run


def _events(core: SimCore, end_ts: int) -> Iterator[Event]:
    yield from core.initial_events()
    while core.second * 1000 < end_ts:
        yield from core.step()


def _observe(
    core: SimCore,
    books: dict[str, OrderBook],
    quote: TapeQuote,
    held_out: set[str],
    run: TapeRun,
) -> None:
    market = core.schedule.market(quote.close_ts - WINDOW_S * 1000)
    if not market.open_ts <= quote.ts < market.close_ts:
        return
    if quote.ticker in held_out:
        book = books.get(quote.ticker)
        if book is None or book.best_yes_bid is None or book.best_yes_ask is None:
            return
        run.observations.append(Observation(quote, book.best_yes_bid, book.best_yes_ask))
    else:
        # The inputs as the maker would see them now: the clock tick comes before this
        # second's print, so the last print is the previous second's.
        inputs = core.fair_inputs(market, quote.ts // 1000 - 1)
        run.fit_samples.append((inputs, quote.mid / PRICE_MAX))


def fit_sigma_scale(samples: list[tuple[FairInputs, float]]) -> tuple[float, float]:
    """(scale, median |error| in cents) minimising the median |fair − real mid| over the
    fit half, on ``SCALE_GRID``."""
    if not samples:
        raise ValueError("no fit observations")
    best: tuple[float, float] | None = None
    for scale in SCALE_GRID:
        error = statistics.median(abs(i.fair(scale) - mid) * 100 for i, mid in samples)
        if best is None or error < best[1] - 1e-9:
            best = (scale, error)
    assert best is not None
    return best[0], round(best[1], 3)


def _quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "median": round(statistics.median(ordered), 2),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 2),
    }


def mid_error_figures(observations: list[Observation]) -> dict[str, Any]:
    """Median and p90 |mid error| (cents), overall and by minutes to close."""
    if not observations:
        raise ValueError("no held-out observations")
    by_minutes = {}
    for low, high in MINUTE_BUCKETS:
        chosen = [o.error_cents for o in observations if low <= o.minutes_left < high]
        if chosen:
            by_minutes[f"{low}-{high}"] = _quantiles(chosen)
    return {
        **_quantiles([o.error_cents for o in observations]),
        "last_3_min": by_minutes.get("0-3"),
        "by_minutes_to_close": by_minutes,
    }


def spread_figures(spreads_cents: list[float]) -> dict[str, Any]:
    ordered = sorted(spreads_cents)
    histogram: dict[str, int] = {}
    for value in ordered:
        key = str(round(value)) if value < 8.5 else "9+"
        histogram[key] = histogram.get(key, 0) + 1
    return {
        **_quantiles(ordered),
        "p10": round(ordered[int(0.1 * len(ordered))], 2),
        "cents_histogram": histogram,
    }


def sim_and_real_spreads(observations: list[Observation]) -> tuple[list[float], list[float]]:
    """Spreads (cents) where each side's mid is in $0.20–0.80 (the tape README's filter)."""
    sim, real = [], []
    for o in observations:
        if 2000 <= (o.sim_bid + o.sim_ask) / 2 <= 8000:
            sim.append((o.sim_ask - o.sim_bid) / 100)
        if 2000 <= o.quote.mid <= 8000:
            real.append((o.quote.yes_ask - o.quote.yes_bid) / 100)
    return sim, real


def settlement_agreement(
    settled: SettledMarkets, history: PriceHistory, seed: int, start_ts: int, end_ts: int
) -> dict[str, Any]:
    """How often the 60 s average rule on the replayed path (strike and close both from the
    path) gives Kalshi's result, over markets closing in ``[start_ts, end_ts]``."""
    path = PricePath(history, seed)
    agree = total = 0
    gaps: list[int] = []
    for market in settled:
        if market.result is None or not start_ts <= market.close_ts <= end_ts:
            continue
        if not history.covers(market.open_ts - 60_000, market.close_ts):
            continue
        strike = average_cents(path, market.open_ts // 1000)
        close = average_cents(path, market.close_ts // 1000)
        total += 1
        agree += ("yes" if close >= strike else "no") == market.result
        if market.expiration_cents is not None:
            gaps.append(close - market.expiration_cents)
    if not total:
        raise ValueError("no settled market inside the history")
    return {
        "markets": total,
        "agree": agree,
        "agreement": round(agree / total, 4),
        "median_path_minus_index_usd": round(statistics.median(gaps) / 100, 2) if gaps else None,
    }
