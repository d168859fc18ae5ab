"""A seeded, deterministic event stream with every kind of interfaces.md §3.

A stand-in for tests and benchmarks until the simulator's pure generator
(``marketdata.sim.stream``) lands; the shape (15-minute contracts, a BTC random walk, a
Kalshi book moved by deltas, one clock tick per second of event time) follows it.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Iterator
from fractions import Fraction
from typing import Literal

from marketdata.model.events import (
    BookDelta,
    BookSnapshot,
    ClockTick,
    Event,
    MarketStatus,
    OrderUpdate,
    OwnFill,
    PublicTrade,
    SpotTicker,
    SpotTrade,
    event_to_dict,
)

START_TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
WINDOW_MS = 900_000


def synthetic_stream(n: int, *, seed: int = 7, start_ts: int = START_TS) -> Iterator[Event]:
    """``n`` events; the same ``(n, seed, start_ts)`` always yields the same events."""
    rng = random.Random(seed)
    ts = start_ts
    btc = 87_000.0
    emitted = 0
    next_tick = start_ts - start_ts % 1000 + 1000
    window = -1
    ticker = ""
    book: dict[str, dict[int, int]] = {"yes": {}, "no": {}}
    strike = btc
    order_seq = 0

    def emit(event: Event) -> Iterator[Event]:
        nonlocal emitted
        if emitted < n:
            emitted += 1
            yield event

    while emitted < n:
        ts += rng.randint(1, 25)
        while ts >= next_tick and emitted < n:
            yield from emit(ClockTick(ts=next_tick))
            next_tick += 1000
        if ts // WINDOW_MS != window:
            if ticker:
                result: Literal["yes", "no"] = "yes" if btc >= strike else "no"
                yield from emit(
                    MarketStatus(
                        ts=ts,
                        ticker=ticker,
                        status="determined",
                        strike=strike,
                        open_ts=window * WINDOW_MS,
                        close_ts=(window + 1) * WINDOW_MS,
                        result=result,
                    )
                )
            window = ts // WINDOW_MS
            ticker = f"KXBTC15M-SYN{window}"
            strike = round(btc, 2)
            yield from emit(
                MarketStatus(
                    ts=ts,
                    ticker=ticker,
                    status="open",
                    strike=strike,
                    open_ts=window * WINDOW_MS,
                    close_ts=(window + 1) * WINDOW_MS,
                    fee_multiplier=Fraction(1),
                )
            )
            book = {
                "yes": {p: rng.randint(1, 500) * 100 for p in range(3000, 5000, 100)},
                "no": {p: rng.randint(1, 500) * 100 for p in range(4100, 6100, 100)},
            }
            yield from emit(
                BookSnapshot(
                    ts=ts,
                    ticker=ticker,
                    yes=tuple(sorted(book["yes"].items())),
                    no=tuple(sorted(book["no"].items())),
                    recv_ts=ts + 3,
                )
            )
        roll = rng.random()
        if roll < 0.55:
            side: Literal["yes", "no"] = "yes" if rng.random() < 0.5 else "no"
            price = rng.choice(list(book[side]))
            delta = rng.randint(-book[side][price] // 100, 300) * 100
            book[side][price] += delta
            yield from emit(
                BookDelta(ts=ts, ticker=ticker, side=side, price=price, delta=delta, recv_ts=ts + 2)
            )
        elif roll < 0.80:
            btc = round(btc + rng.gauss(0, 4), 2)
            yield from emit(
                SpotTrade(
                    ts=ts,
                    price=btc,
                    size=round(rng.expovariate(20), 8),
                    trade_id=str(ts),
                    recv_ts=ts + 40,
                )
            )
        elif roll < 0.93:
            yield from emit(
                SpotTicker(
                    ts=ts,
                    price=btc,
                    best_bid=round(btc - 0.01, 2),
                    best_ask=round(btc + 0.01, 2),
                    recv_ts=ts + 35,
                )
            )
        elif roll < 0.99:
            yield from emit(
                PublicTrade(
                    ts=ts,
                    ticker=ticker,
                    yes_price=rng.randrange(3000, 7000, 100),
                    count=rng.randint(1, 25_000),
                    taker_side="yes" if rng.random() < 0.5 else "no",
                    trade_id=f"t{ts}-{emitted}",
                )
            )
        else:
            order_seq += 1
            price = rng.randrange(3000, 7000, 100)
            order_id, client_order_id = f"o{order_seq}", f"c{order_seq}"
            yield from emit(
                OrderUpdate(
                    ts=ts,
                    order_id=order_id,
                    client_order_id=client_order_id,
                    ticker=ticker,
                    side="yes",
                    action="buy",
                    status="executed",
                    yes_price=price,
                    filled_count=500,
                    remaining_count=0,
                )
            )
            yield from emit(
                OwnFill(
                    ts=ts,
                    trade_id=f"f{order_seq}",
                    order_id=order_id,
                    client_order_id=client_order_id,
                    ticker=ticker,
                    side="yes",
                    action="buy",
                    yes_price=price,
                    count=500,
                    fee=90_000,
                    is_taker=True,
                )
            )


def stream_sha256(events: Iterable[Event]) -> str:
    """Digest of a stream as the journal stores it: kind + fields, in order."""
    digest = hashlib.sha256()
    for event in events:
        digest.update(event.kind.encode())
        digest.update(json.dumps(event_to_dict(event), sort_keys=True).encode())
        digest.update(b"\n")
    return digest.hexdigest()
