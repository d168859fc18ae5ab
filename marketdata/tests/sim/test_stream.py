"""The pure simulator stream: determinism, time order, book sanity, lifecycle, no look-ahead."""

import dataclasses
import os
from collections import defaultdict
from pathlib import Path

import pytest

from marketdata.model.book import OrderBook
from marketdata.model.events import BookDelta, BookSnapshot, MarketStatus, PublicTrade, SpotTicker
from marketdata.model.ticks import is_valid_order_price
from marketdata.sim import prices
from marketdata.sim.prices import PriceHistory, PricePath, second_prices, synthetic_history
from marketdata.sim.schedule import average_cents
from marketdata.sim.stream import generate_events, history_for, stream_sha256

START = 1_735_689_600_000 + 7 * 60_000 + 250  # 2025-01-01 00:07:00.250Z, mid-window


@pytest.fixture(scope="module")
def events():
    return list(generate_events(11, START, 40))


def test_same_seed_gives_the_same_stream_byte_for_byte(events):
    assert stream_sha256(events) == stream_sha256(generate_events(11, START, 40))


def test_another_seed_gives_another_stream(events):
    assert stream_sha256(events)[0] != stream_sha256(generate_events(12, START, 40))[0]


def test_events_are_in_time_order(events):
    stamps = [e.ts for e in events]
    assert stamps == sorted(stamps)


def test_books_never_cross_and_stay_on_the_grid(events):
    books: dict[str, OrderBook] = {}
    checked = 0
    for event in events:
        if isinstance(event, BookSnapshot | BookDelta):
            book = books.setdefault(event.ticker, OrderBook(event.ticker))
            book.apply(event)
            if isinstance(event, BookDelta):
                assert is_valid_order_price(event.price)
                assert event.delta != 0
            bid, ask = book.best_yes_bid, book.best_yes_ask
            if bid is not None and ask is not None:
                assert bid < ask
                checked += 1
        if isinstance(event, PublicTrade):
            book = books[event.ticker]
            assert event.count > 0
            assert is_valid_order_price(event.yes_price)
    assert checked > 1000


def test_each_market_walks_the_lifecycle_in_order(events):
    phases = defaultdict(list)
    for event in events:
        if isinstance(event, MarketStatus):
            phases[event.ticker].append(event)
    order = ["listed", "open", "closed", "determined", "finalized"]
    full = [t for t, seen in phases.items() if [s.status for s in seen] == order[1:]]
    assert full, phases  # a market opened after start walked open → finalized
    for ticker in full:
        seen = phases[ticker]
        assert seen[0].strike is not None
        assert seen[2].result in ("yes", "no")
        assert seen[1].ts == seen[0].close_ts
        assert seen[3].result == seen[2].result


def test_settlement_uses_the_sixty_second_averages_and_windows_chain():
    history = history_for(11, START, 40)
    path = PricePath(history, 11)
    statuses = [
        e for e in generate_events(11, START, 40) if isinstance(e, MarketStatus) and e.result
    ]
    assert statuses
    for status in statuses:
        assert isinstance(status, MarketStatus)
        assert status.strike is not None
        assert status.close_ts is not None
        strike = average_cents(path, status.open_ts // 1000)
        close = average_cents(path, status.close_ts // 1000)
        assert round(status.strike * 100) == strike
        assert status.result == ("yes" if close >= strike else "no")
    # a window's closing average is the next window's strike
    first = statuses[0]
    assert isinstance(first, MarketStatus)
    assert first.close_ts is not None
    assert average_cents(path, first.close_ts // 1000) == average_cents(
        path, (first.open_ts + 900_000) // 1000
    )


def test_intraminute_prints_match_the_bar():
    history = synthetic_history(3, START - START % 60_000, 30)
    for bar in history.bars:
        prints = second_prices(3, bar)
        assert len(prints) == 60
        assert prints[0] == bar.open
        assert prints[-1] == bar.close
        assert max(prints) == bar.high
        assert min(prints) == bar.low


def test_a_synthetic_day_does_not_depend_on_which_days_were_drawn_before():
    """A demo restarted at its saved time must see the market it left, whatever it drew first."""
    day = 86_400_000
    later, earlier = START + 40 * day, START + 3 * day

    def fresh() -> None:
        prices._ANCHORS.clear()
        prices._synthetic_day.cache_clear()

    fresh()
    synthetic_history(17, earlier, 60)
    after_a_short_chain = synthetic_history(17, later, 60).bars
    fresh()
    after_a_long_chain = synthetic_history(17, later, 60).bars
    fresh()
    assert after_a_short_chain == after_a_long_chain


def test_the_maker_never_sees_future_prices():
    """Change BTC after minute 20: everything before minute 20 must be identical."""
    base = history_for(5, START, 40)
    cut = START - START % 60_000 + 20 * 60_000
    altered = PriceHistory(
        [
            bar
            if bar.ts < cut
            else dataclasses.replace(
                bar,
                open=bar.open * 1.05,
                high=bar.high * 1.05,
                low=bar.low * 1.05,
                close=bar.close * 1.05,
            )
            for bar in base.bars
        ]
    )
    before = [e for e in generate_events(5, START, 40, base) if e.ts < cut]
    after = [e for e in generate_events(5, START, 40, altered) if e.ts < cut]
    # Lifecycle events "determined"/"finalized" only exist after close; none before the cut
    # may carry knowledge of the altered closes.
    assert stream_sha256(before) == stream_sha256(after)
    later = [e for e in generate_events(5, START, 40, altered) if e.ts >= cut]
    assert stream_sha256(later) != stream_sha256(
        e for e in generate_events(5, START, 40, base) if e.ts >= cut
    )


def test_real_history_file_replays_when_present():
    path = os.environ.get("KBTC_HISTORY") or str(
        Path(__file__).resolve().parents[4]
        / "shared/data/binance_btcusdt_1m_20230324_20260331.csv.xz"
    )
    if not os.path.exists(path):
        pytest.skip(f"no Binance history at {path} (set KBTC_HISTORY)")
    events = list(generate_events(1, 1_735_689_600_000, 3, path))
    spot = [e for e in events if isinstance(e, SpotTicker)]
    assert 90_000 < spot[0].price < 100_000  # BTC on 2025-01-01
