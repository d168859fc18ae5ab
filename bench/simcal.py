"""``simcal``: the simulator's books beside the real Kalshi depth captures.

Compares, over *comparable* books (both sides present, mid between $0.20 and $0.80):
median spread in ticks, median top-10 depth in contracts (10 best YES bids + 10 best YES
asks), median level count (both sides) and the share of deci-cent levels. The real file is
KXBTC hourly range ladders (``linear_cent``-looking, whole cents); the simulator makes
KXBTC15M up/down books on the tapered deci-cent grid, so the deci-cent share is expected to
differ: it is reported, not compared.
"""

from __future__ import annotations

import json
import lzma
import os
import statistics
import time
from pathlib import Path
from typing import Any

from marketdata.model.book import OrderBook
from marketdata.model.events import BookDelta, BookSnapshot, ClockTick
from marketdata.model.ticks import is_deci_cent, ticks_between
from marketdata.model.units import parse_dollars, parse_fp
from marketdata.sim.stream import generate_events, stream_sha256

DATA = Path(
    os.environ.get("KBTC_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
DEPTH_FILE = DATA / "kalshi_kxbtc_orderbook_depth_20260707_20260724.jsonl.xz"
HISTORY_FILE = DATA / "binance_btcusdt_1m_20230324_20260331.csv.xz"
START_MS = 1_735_689_600_000  # 2025-01-01T00:00Z
SEED = 1
SAMPLE_EVERY_MS = 10_000


def _figures(books: list[OrderBook]) -> dict[str, float]:
    spreads, depths, levels, deci = [], [], [], []
    for book in books:
        bid, ask = book.best_yes_bid, book.best_yes_ask
        if bid is None or ask is None or not 2000 <= (bid + ask) / 2 <= 8000:
            continue
        spreads.append(ticks_between(bid, ask))
        depths.append((book.bid_volume(10) + book.ask_volume(10)) / 100)
        levels.append(book.level_count())
        yes, no = book.snapshot_levels()
        prices = [p for p, _ in yes] + [p for p, _ in no]
        deci.append(sum(map(is_deci_cent, prices)) / len(prices))
    return {
        "books": len(spreads),
        "median_spread_ticks": statistics.median(spreads),
        "median_top10_depth": round(statistics.median(depths), 2),
        "median_levels": statistics.median(levels),
        "deci_cent_share": round(statistics.mean(deci), 4),
    }


def real_books() -> list[OrderBook]:
    books = []
    with lzma.open(DEPTH_FILE, "rt") as lines:
        for line in lines:
            row = json.loads(line)
            book = OrderBook(row["ticker"])
            # The capture lists floats; go through the exact parsers via their repr.
            yes = [(parse_dollars(f"{p:.4f}"), parse_fp(f"{s:.2f}")) for p, s in row["yes_bids"]]
            no = [(parse_dollars(f"{p:.4f}"), parse_fp(f"{s:.2f}")) for p, s in row["no_bids"]]
            book.apply_snapshot(yes, no)
            books.append(book)
    return books


def run(*, smoke: bool) -> dict[str, Any]:
    minutes = 60 if smoke else 24 * 60
    history = str(HISTORY_FILE) if HISTORY_FILE.exists() else None
    began = time.perf_counter()
    events = list(generate_events(SEED, START_MS, minutes, history))
    seconds = time.perf_counter() - began
    books: dict[str, OrderBook] = {}
    samples: list[OrderBook] = []
    for event in events:
        if isinstance(event, BookSnapshot | BookDelta):
            book = books.get(event.ticker) or books.setdefault(
                event.ticker, OrderBook(event.ticker)
            )
            book.apply(event)
        elif isinstance(event, ClockTick) and event.ts % SAMPLE_EVERY_MS == 0:
            for book in books.values():
                copy = OrderBook(book.ticker)
                copy.apply_snapshot(*book.snapshot_levels())
                samples.append(copy)
    digest, count = stream_sha256(events)
    sim = _figures(samples)
    real = _figures(real_books())
    ratios = {
        key: round(sim[key] / real[key], 3)
        for key in ("median_spread_ticks", "median_top10_depth", "median_levels")
    }
    return {
        "events": count,
        "seconds": round(seconds, 3),
        "events_per_second": round(count / seconds),
        "stream_sha256": digest,
        "history": "binance" if history else "synthetic",
        "minutes": minutes,
        "sim": sim,
        "real": real,
        "ratio": ratios,
        "within_factor_3": all(1 / 3 <= r <= 3 for r in ratios.values()),
        **{f"sim_{k}": v for k, v in sim.items()},
        **{f"real_{k}": v for k, v in real.items()},
    }
