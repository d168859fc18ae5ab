"""``simcal``: the simulator's books beside the real Kalshi depth captures.

Compares, over *comparable* books (both sides present, mid between $0.20 and $0.80):
median spread in ticks, median top-10 depth in contracts (10 best YES bids + 10 best YES
asks), median level count (both sides) and the share of deci-cent levels. The real file is
KXBTC hourly range ladders (``linear_cent``-looking, whole cents); the simulator makes
KXBTC15M up/down books on the tapered deci-cent grid, so the deci-cent share is expected to
differ: it is reported, not compared.

The ``kxbtc15m`` section holds the simulator against real KXBTC15M data instead
(``marketdata.sim.calibration``): on 2026-02-02 (Binance history, the settled list's real
strikes and results, seed 1) the maker's fair-value volatility multiplier is fit on half of
the 30 s tape's markets and the simulator's YES mid scored on the other half, by minutes to
close; beside it the spread distribution (mids $0.20–0.80), the public volume per window
against the settled list's, and how often the 60 s average rule on Binance agrees with
Kalshi's results over 2026-01-04 → 2026-03-31.
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
from marketdata.settled import load_settled
from marketdata.sim.calibration import (
    fit_sigma_scale,
    load_tape,
    mid_error_figures,
    run_over_tape,
    settlement_agreement,
    sim_and_real_spreads,
    split_markets,
    spread_figures,
)
from marketdata.sim.core import SimCore
from marketdata.sim.maker import SIGMA_SCALE
from marketdata.sim.stream import generate_events, history_for, stream_sha256

DATA = Path(
    os.environ.get("KBTC_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
DEPTH_FILE = DATA / "kalshi_kxbtc_orderbook_depth_20260707_20260724.jsonl.xz"
HISTORY_FILE = DATA / "binance_btcusdt_1m_20230324_20260331.csv.xz"
TAPE_FILE = DATA / "kalshi_kxbtc15m_top_of_book_30s_20260202.jsonl.xz"
SETTLED_FILE = DATA / "kalshi_kxbtc15m_settled_20260104_20260404.csv.xz"
START_MS = 1_735_689_600_000  # 2025-01-01T00:00Z
AGREEMENT_SPAN = (1_767_484_800_000, 1_775_001_600_000)  # closes 2026-01-04 .. 2026-04-01 00:00Z
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
    kxbtc15m = kxbtc15m_section(smoke=smoke)
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
        "kxbtc15m": kxbtc15m,
        **{f"sim_{k}": v for k, v in sim.items()},
        **{f"real_{k}": v for k, v in real.items()},
    }


def kxbtc15m_section(*, smoke: bool) -> dict[str, Any]:
    """The simulator against the real KXBTC15M tape and settled list (see the docstring)."""
    quotes = load_tape(TAPE_FILE)
    settled = load_settled(SETTLED_FILE)
    if smoke:  # the first three hours of the tape
        quotes = [q for q in quotes if q.ts < quotes[0].ts + 3 * 3_600_000]
    fit, held_out = split_markets(quotes)
    start = quotes[0].ts - quotes[0].ts % 900_000
    end = max(q.ts for q in quotes) + 1000
    history = history_for(SEED, start, (end - start) // 60_000 + 1, str(HISTORY_FILE))
    began = time.perf_counter()
    run = run_over_tape(SimCore(seed=SEED, start_ts=start, history=history, settled=settled),
                        quotes, held_out, end)  # fmt: skip
    scale, fit_error = fit_sigma_scale(run.fit_samples)
    if scale != SIGMA_SCALE:  # score what the fit says, and say the code lags it
        core = SimCore(
            seed=SEED, start_ts=start, history=history, settled=settled, sigma_scale=scale
        )
        run = run_over_tape(core, quotes, held_out, end)
    seconds = time.perf_counter() - began
    sim_spreads, real_spreads = sim_and_real_spreads(run.observations)
    all_real = [
        (q.yes_ask - q.yes_bid) / 100 for q in quotes if q.two_sided and 2000 <= q.mid <= 8000
    ]
    tape_markets = {q.ticker for q in quotes}
    real_volumes = [m.volume / 100 for m in settled if m.volume is not None]
    tape_volumes = [m.volume / 100 for m in settled if m.ticker in tape_markets and m.volume]
    sim_volume = statistics.median(run.volume.values()) if run.volume else 0
    agreement_span = (
        AGREEMENT_SPAN if not smoke else (AGREEMENT_SPAN[0], AGREEMENT_SPAN[0] + 7 * 86_400_000)
    )
    agreement_history = history_for(
        SEED,
        agreement_span[0],
        (agreement_span[1] - agreement_span[0]) // 60_000,
        str(HISTORY_FILE),
    )
    mid_error = mid_error_figures(run.observations)
    sim_spread, real_spread = spread_figures(sim_spreads), spread_figures(real_spreads)
    last3 = mid_error["last_3_min"]
    return {
        "data": f"{TAPE_FILE.name}, {SETTLED_FILE.name}, {HISTORY_FILE.name}",
        "seconds": round(seconds, 3),
        "events": run.events,
        "markets": {"fit": len(fit), "held_out": len(held_out)},
        "sigma_scale": {"fitted": scale, "in_code": SIGMA_SCALE, "fit_median_error_c": fit_error},
        "mid_error_cents": mid_error,
        "spread_cents": {"sim": sim_spread, "real": real_spread},
        "real_spread_all_tape_median": statistics.median(all_real),
        "volume_per_window": {
            "sim_median": sim_volume,
            "sim_windows": len(run.volume),
            "real_settled_list_median": statistics.median(real_volumes),
            "real_tape_markets_median": statistics.median(tape_volumes) if tape_volumes else None,
        },
        "settlement_agreement": settlement_agreement(
            settled, agreement_history, SEED, *agreement_span
        ),
        "targets_met": {
            "mid_error_median_le_5c": mid_error["median"] <= 5,
            "mid_error_last_3_min_median_le_8c": last3 is not None and last3["median"] <= 8,
            "spread_median_within_1c": abs(sim_spread["median"] - real_spread["median"]) <= 1,
            "volume_median_within_2x": 0.5 <= sim_volume / statistics.median(real_volumes) <= 2,
        },
    }
