"""Simulator realism: the maker never reads the future (with real settlements too), a
restart at a saved time continues the same market, spread profiles, and the calibration's
own arithmetic (fit, split, tape parsing)."""

from __future__ import annotations

import dataclasses
import json
import statistics

import pytest

from marketdata.model.book import OrderBook
from marketdata.model.events import BookDelta, BookSnapshot, ClockTick, Event, SpotTrade
from marketdata.settled import SettledMarket, SettledMarkets
from marketdata.sim.calibration import TapeQuote, fit_sigma_scale, load_tape, split_markets
from marketdata.sim.maker import FairInputs
from marketdata.sim.prices import PriceHistory, PricePath, synthetic_history
from marketdata.sim.schedule import average_cents, ticker_for
from marketdata.sim.stream import generate_events, history_for, stream_sha256

START = 1_767_225_600_000 + 7 * 60_000  # 2026-01-01T00:07Z, the demo's synthetic start
WINDOW = 900_000


def settled_for(history: PriceHistory, seed: int) -> SettledMarkets:
    """Real-looking settlements for every window: the path's strikes shifted $30 down (an
    index below the history, as BRTI sits below Binance), results from the shifted close."""
    path = PricePath(history, seed)
    markets = []
    first = history.first_ts + 2 * WINDOW - history.first_ts % WINDOW
    for open_ts in range(first, history.last_ts - WINDOW, WINDOW):
        strike = average_cents(path, open_ts // 1000) - 3000
        close = average_cents(path, (open_ts + WINDOW) // 1000) - 3000
        markets.append(
            SettledMarket(
                "", open_ts, open_ts + WINDOW, strike, close, "yes" if close >= strike else "no"
            )
        )
    return SettledMarkets(markets)


def test_a_run_truncated_at_t_gives_identical_books_before_t():
    history = history_for(4, START, 50)
    settled = settled_for(history, 4)
    cut = START + 31 * 60_000
    full = [e for e in generate_events(4, START, 50, history, settled=settled) if e.ts < cut]
    short = list(generate_events(4, START, 31, history_for(4, START, 31), settled=settled))
    assert stream_sha256(full) == stream_sha256(short)


def test_the_maker_never_reads_future_prices_or_settlements():
    """Change BTC and every real strike/result after T: nothing before T may move."""
    base = history_for(4, START, 50)
    cut = START - START % 60_000 + 24 * 60_000
    altered = PriceHistory(
        [
            bar
            if bar.ts < cut
            else dataclasses.replace(
                bar,
                open=bar.open * 0.97,
                high=bar.high * 0.97,
                low=bar.low * 0.97,
                close=bar.close * 0.97,
            )
            for bar in base.bars
        ]
    )
    real = settled_for(base, 4)
    changed = SettledMarkets(
        m
        if m.open_ts < cut
        else dataclasses.replace(
            m, strike_cents=(m.strike_cents or 0) + 777, result="no" if m.result == "yes" else "yes"
        )
        for m in real
    )
    before = [e for e in generate_events(4, START, 50, base, settled=real) if e.ts < cut]
    after = [e for e in generate_events(4, START, 50, altered, settled=changed) if e.ts < cut]
    assert stream_sha256(before) == stream_sha256(after)
    assert stream_sha256(
        e for e in generate_events(4, START, 50, base, settled=real) if e.ts >= cut
    ) != stream_sha256(
        e for e in generate_events(4, START, 50, altered, settled=changed) if e.ts >= cut
    )


def test_the_synthetic_path_does_not_depend_on_where_a_run_starts():
    early = synthetic_history(7, START - 3 * 86_400_000, 4 * 1440)
    late = synthetic_history(7, START, 600)
    assert late.bars == early.range(START - START % 60_000, START + 600 * 60_000)
    with pytest.raises(ValueError, match="2020-01-01"):
        synthetic_history(7, 1_500_000_000_000, 10)


def test_a_restart_at_the_saved_time_continues_the_same_market():
    """The demo's case: synthetic path, restarted mid-window at its saved time."""
    saved = START + 23 * 60_000 + 17_000  # 00:30:17, inside the 00:30-00:45 window
    next_open = saved - saved % WINDOW + WINDOW
    first = [e for e in generate_events(7, START, 60) if e.ts >= saved]
    resumed = list(generate_events(7, saved, 60 - 23 - 1))
    spot = [e.price for e in first if isinstance(e, SpotTrade)]
    spot_resumed = [e.price for e in resumed if isinstance(e, SpotTrade)]
    assert spot_resumed[0] == spot[0]  # no jump: the same path at the same second
    assert spot_resumed == spot[: len(spot_resumed)]
    # Books included: from the next window on, every event is the same, except the
    # interrupted market's withdrawal at its close (its maker's sizes were redrawn).
    end = resumed[-1].ts
    interrupted = ticker_for(next_open)

    def after(events: list[Event]) -> list[Event]:
        return [
            e
            for e in events
            if next_open <= e.ts <= end and getattr(e, "ticker", None) != interrupted
        ]

    assert len(after(resumed)) > 10_000
    assert stream_sha256(after(first)) == stream_sha256(after(resumed))
    # Inside the interrupted window the touch is the same wherever both books are set.
    assert _touches(first, saved, next_open) == _touches(resumed, saved, next_open)


def _touches(events: list[Event], start: int, end: int) -> list[tuple[int, int, int | None]]:
    books: dict[str, OrderBook] = {}
    seen = []
    for event in events:
        if isinstance(event, BookSnapshot | BookDelta):
            books.setdefault(event.ticker, OrderBook(event.ticker)).apply(event)
        elif isinstance(event, ClockTick) and start + 5_000 <= event.ts < end:
            for book in books.values():
                if book.best_yes_bid is not None and book.level_count() > 50:
                    seen.append((event.ts, book.best_yes_bid, book.best_yes_ask))
    return seen


def _median_spread(spread: str) -> float:
    books: dict[str, OrderBook] = {}
    spreads = []
    for event in generate_events(2, START, 30, spread=spread):
        if isinstance(event, BookSnapshot | BookDelta):
            books.setdefault(event.ticker, OrderBook(event.ticker)).apply(event)
        elif isinstance(event, ClockTick):
            for book in books.values():
                bid, ask = book.best_yes_bid, book.best_yes_ask
                if bid is not None and ask is not None and 2000 <= (bid + ask) / 2 <= 8000:
                    spreads.append(ask - bid)
    return statistics.median(spreads)


def test_the_tight_spread_profile_quotes_tighter_than_the_real_one():
    real, tight = _median_spread("real"), _median_spread("tight")
    assert 200 <= real <= 400  # 2-4 cents, the tape's middle
    assert tight <= 100  # a cent
    with pytest.raises(ValueError, match="spread profile"):
        list(generate_events(2, START, 1, spread="wide"))


def test_the_fit_finds_the_volatility_multiplier_that_made_the_mids():
    inputs = [
        FairInputs(
            spot=100_000 + d,
            strike=100_000,
            seconds_left=s,
            sigma=10.0,
            window_sum=0,
            window_count=0,
        )
        for d in (-300, -120, -40, 0, 35, 90, 250)
        for s in (100, 300, 600)
    ]
    samples = [(i, i.fair(1.35)) for i in inputs]
    assert fit_sigma_scale(samples)[0] == 1.35
    with pytest.raises(ValueError, match="no fit observations"):
        fit_sigma_scale([])


def test_markets_are_split_alternately_and_never_shared():
    quotes = [
        TapeQuote(
            ts=i, ticker=f"T{i % 6}", close_ts=(i % 6) * WINDOW, yes_bid=1, yes_ask=2, volume=0
        )
        for i in range(30)
    ]
    fit, held_out = split_markets(quotes)
    assert fit == {"T0", "T2", "T4"}
    assert held_out == {"T1", "T3", "T5"}


def test_a_bad_tape_line_is_named(tmp_path):
    good = {
        "t": "2026-02-02T02:44:21.4",
        "kalshi": {
            "ticker": "KXBTC15M-26FEB012145-45",
            "yes_bid": 0.4,
            "yes_ask": 0.43,
            "volume": 5,
        },
    }
    path = tmp_path / "tape.jsonl"
    path.write_text(
        json.dumps(good) + "\n" + json.dumps({**good, "kalshi": {"ticker": "X"}}) + "\n"
    )
    with pytest.raises(ValueError, match="line 2"):
        load_tape(path)
    path.write_text(json.dumps(good) + "\n")
    (quote,) = load_tape(path)
    assert (quote.yes_bid, quote.yes_ask, quote.close_ts) == (4000, 4300, 1_770_000_300_000)
