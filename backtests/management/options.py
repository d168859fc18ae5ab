"""What the research commands (``backtest``, ``stop_sweep``, ``walk_forward``) share: the
options saying which market data a pass reads and how its books and fills are simulated,
the pass's progress bar and the one way a pass's data trouble becomes a command error."""

from __future__ import annotations

import sys
import time
from argparse import ArgumentParser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from tqdm import tqdm

from backtests.driver import DataGap
from backtests.request import dollars_to_micros
from backtests.runner import BacktestCancelled
from backtests.sources import SourceError
from trading.engine.engine import DEFAULT_BANKROLL


def add_data_options(parser: ArgumentParser, *, seed_flag: str = "--seed") -> None:
    """``seed_flag`` names the simulated books' seed (``--sim-seed`` where ``--seed`` is the
    sampler's)."""
    parser.add_argument("--source", choices=("journal", "history", "archive"), default="history")
    parser.add_argument(
        "--history",
        default=None,
        help="1-minute kline file (default KBTC_HISTORY), or 'table' for the candles table",
    )
    parser.add_argument("--settled", type=Path, default=None, help="settled-markets file")
    parser.add_argument(seed_flag, type=int, default=1, help="simulated books' seed")
    parser.add_argument("--archive-dir", type=Path, default=None)
    parser.add_argument("--stream", default="journal", help="archive stream name")
    parser.add_argument("--bankroll", default=str(DEFAULT_BANKROLL / 1_000_000))
    parser.add_argument("--latency-ms", type=int, default=200)


def data_fields(options: dict[str, Any], *, seed_flag: str = "--seed") -> dict[str, Any]:
    """The request fields of ``add_data_options``' options (the seed under the flag's name:
    ``seed`` or ``sim_seed``, as the two request types call it)."""
    seed = seed_flag.lstrip("-").replace("-", "_")
    return {
        "source": options["source"],
        "history": options["history"],
        "settled": str(options["settled"]) if options["settled"] else None,
        seed: options[seed],
        "archive_dir": str(options["archive_dir"]) if options["archive_dir"] else None,
        "stream": options["stream"],
        "bankroll": dollars_to_micros(options["bankroll"]),
        "latency_ms": options["latency_ms"],
    }


@contextmanager
def pass_progress(
    start_ts: int, end_ts: int, *, desc: str, disabled: bool, rate: bool = False
) -> Iterator[Callable[[int, int], None]]:
    """A bar in simulated seconds on stderr (a terminal only) and the pass's progress
    callback ``(events, ts)``; with ``rate``, the events per wall second beside it. A pass's
    data trouble (a gap, an unreadable source, a cancel) comes out as a ``CommandError``."""
    bar = tqdm(
        total=round((end_ts - start_ts) / 1000),
        unit="sim-s",
        unit_scale=True,
        disable=disabled or not sys.stderr.isatty(),
        desc=desc,
    )
    started = time.perf_counter()

    def progress(events: int, ts: int) -> None:
        bar.update(max(0, round((ts - start_ts) / 1000) - bar.n))
        if rate:
            per_s = events / max(time.perf_counter() - started, 1e-9)
            bar.set_postfix(events=events, ev_s=f"{per_s:,.0f}", refresh=False)

    try:
        yield progress
    except (DataGap, SourceError, BacktestCancelled) as exc:
        raise CommandError(f"data gap: {exc}" if isinstance(exc, DataGap) else str(exc)) from exc
    finally:
        bar.close()


def data_line(data: dict[str, Any], sha256: str) -> str:
    """What a pass ran on, as its reports' first line."""
    return (
        f"data: {data['source']}; books {data['books']}; settlement {data['settlement']}; "
        f"warm-up {data['warmup']}; sha256 {sha256[:16]}"
    )
