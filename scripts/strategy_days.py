"""The paper lane over whole real BTC days, driven exactly as the daemon drives it.

``python scripts/strategy_days.py [--days 2025-09-21,...] [--seed 1] [--set name=value ...]``

For each UTC day: the simulator's in-process stream (``marketdata.sim.stream``) over the
given Binance 1-minute history (``--history``, default ``$KBTC_HISTORY``), warmed up with
the 60 completed 15-minute candles before 00:00 (as the embedded daemon does from the same
history), then every event through ``trading.runtime.session.new_session(...)`` and
``Session.feed`` (paper lane, $1,000, the daemon's 200 ms paper latency). Prints one JSON
line per day and one for all days: trades, win rate, net PnL after fees, exit-reason
counts, hold-time quantiles and the share of exits within 5 s of ``min_hold_s``.

The backtester (backtests/) will replace this once it lands; until then this is the one
way ``docs/strategy.md``'s figures are made.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from marketdata.sim.prices import history_candles
from marketdata.sim.stream import generate_events, history_for
from trading.engine.engine import DEFAULT_BANKROLL
from trading.engine.params import Params
from trading.engine.records import PositionClosed
from trading.runtime.session import new_session, paper_venues

DAYS = ("2025-09-21", "2024-05-20", "2025-03-09", "2025-01-13")
MINUTES = 24 * 60
WARMUP_CANDLES = 60
LATENCY_MS = 200  # DaemonConfig's default
NEAR_MIN_HOLD_MS = 5_000
# Hold-time buckets, seconds: [edge_i, edge_i+1); around the defaults' min_hold_s (120),
# roc_max_hold_s (360), obi_max_hold_s (540) and the 900 s window.
HOLD_EDGES = (0, 120, 126, 180, 360, 540, 900)


def day_start_ms(day: str) -> int:
    start = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
    return int(start.timestamp() * 1000)


def run_day(
    day: str, *, seed: int, history: str | None, params: Params, minutes: int = MINUTES
) -> list[PositionClosed]:
    """The paper lane's closed trades over ``minutes`` from ``day`` 00:00 UTC (``history``
    None: the simulator's seeded synthetic path, for tests)."""
    start = day_start_ms(day)
    prices = history_for(seed, start, minutes, history)
    session = new_session(
        params,
        lanes=("paper",),
        bankroll=DEFAULT_BANKROLL,
        venues=paper_venues(LATENCY_MS),
        warmup=history_candles(prices, start, count=WARMUP_CANDLES),
    )
    trades: list[PositionClosed] = []
    for event in generate_events(seed, start, minutes, prices):
        trades.extend(o for o in session.feed(event) if isinstance(o, PositionClosed))
    return trades


def summary(trades: Sequence[PositionClosed], params: Params) -> dict[str, Any]:
    holds = sorted((t.ts - t.opened_ts) / 1000 for t in trades)
    min_hold_ms = params.min_hold_s * 1000
    near = sum(1 for t in trades if abs(t.ts - t.opened_ts - min_hold_ms) <= NEAR_MIN_HOLD_MS)
    wins = sum(1 for t in trades if t.pnl > 0)
    return {
        "trades": len(trades),
        "wins": wins,
        "win_rate": round(wins / len(trades), 3) if trades else None,
        "net_pnl_usd": round(sum(t.pnl for t in trades) / 1e6, 2),
        "fees_usd": round(sum(t.fees for t in trades) / 1e6, 2),
        "reasons": dict(Counter(t.reason for t in trades).most_common()),
        "hold_s": _quantiles(holds),
        "hold_buckets_s": _buckets(holds),
        "near_min_hold_share": round(near / len(trades), 3) if trades else None,
    }


def _buckets(holds: Sequence[float]) -> dict[str, int]:
    """Exits per hold-time bucket [low, high) in seconds, the last one open-ended."""
    labels = [f"{low}-{high}" for low, high in pairwise(HOLD_EDGES)] + [f"{HOLD_EDGES[-1]}+"]
    counts = dict.fromkeys(labels, 0)
    for hold in holds:
        counts[labels[bisect_right(HOLD_EDGES, hold) - 1]] += 1
    return counts


def _quantiles(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    if len(values) == 1:
        return {"min": values[0], "p25": values[0], "p50": values[0], "p75": values[0],
                "max": values[0]}  # fmt: skip
    p25, p50, p75 = statistics.quantiles(values, n=4, method="inclusive")
    return {"min": values[0], "p25": p25, "p50": p50, "p75": p75, "max": values[-1]}


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair!r}: expected name=value")
        overrides[name] = json.loads(text)
    return overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", default=",".join(DAYS), help="comma-separated UTC dates")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (market maker)")
    parser.add_argument("--history", default=os.environ.get("KBTC_HISTORY", ""))
    parser.add_argument("--set", action="append", default=[], help="parameter override")
    args = parser.parse_args(argv)
    if not args.history:
        raise SystemExit("a Binance 1-minute history is needed: --history or KBTC_HISTORY")
    params = Params().with_overrides(parse_overrides(args.set))
    every: list[PositionClosed] = []
    for day in args.days.split(","):
        trades = run_day(day, seed=args.seed, history=args.history, params=params)
        every.extend(trades)
        print(json.dumps({"day": day, **summary(trades, params)}), flush=True)
    print(json.dumps({"day": "all", "seed": args.seed, **summary(every, params)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
