"""One backtest pass, stored: runs created, the driver fed, metrics computed, results saved.

The management command (and later a Celery task) calls ``backtest_run``; it never decides or
fills anything itself (see ``driver``). A failure marks the pass's runs failed with the
error's text and re-raises.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from django.db import DatabaseError, connection

from attribution.breakdown import attribute
from attribution.signal_health import signal_health
from backtests import services
from backtests.driver import MetricsSink, ParamSet, run_pass
from backtests.metrics import compute, signal_accuracy
from backtests.version import code_version
from mlgate.services import store_run
from trading.engine.mlgate import WinPredictor

if TYPE_CHECKING:
    from backtests.sources import Source

# wall seconds between progress saves; each one is also a heartbeat and a cancel check
PROGRESS_SAVE_S = 2.0
HEARTBEAT_S = 5.0

log = structlog.get_logger(__name__)


@contextmanager
def heartbeat(batch: uuid.UUID) -> Iterator[None]:
    """Mark the batch's running runs alive every few seconds from a thread, however long
    the work between progress reports (reading data, computing metrics) takes: only a dead
    process stops beating, and the stale sweep fails its runs."""
    with beating(lambda: services.runs_heartbeat(batch=batch), f"backtest-heartbeat-{batch}"):
        yield


@contextmanager
def beating(beat: Callable[[], object], name: str) -> Iterator[None]:
    """Call ``beat`` every ``HEARTBEAT_S`` from a thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.wait(HEARTBEAT_S):
                try:
                    beat()
                except DatabaseError as exc:  # a missed beat; the next one may pass
                    log.warning("heartbeat_failed", name=name, error=str(exc))
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class BacktestCancelled(Exception):
    """An operator cancelled the pass; its runs are marked cancelled."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run_id: int
    name: str
    params_hash: str
    sink: MetricsSink
    metrics: dict[str, Any]
    attribution: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PassOutcome:
    batch: uuid.UUID
    runs: list[RunOutcome]
    events: int
    seconds: float
    data_sha256: str
    data: dict[str, Any]


def backtest_run(
    source: Source,
    sets: Sequence[ParamSet],
    *,
    lane: str,
    bankroll: int,
    latency_ms: int,
    start_ts: int,
    end_ts: int,
    max_gap_ms: int,
    on_progress: Callable[[int, int], None] | None = None,
    batch: uuid.UUID | None = None,
    predictor: WinPredictor | None = None,
) -> PassOutcome:
    """Run the pass; ``batch`` names runs already stored (queued by ``enqueue``, begun by the
    task), one per set in order; without it the runs are created here."""
    if batch is None:
        batch = uuid.uuid4()
        version = code_version()
        runs = [
            services.run_start(
                batch=batch,
                name=s.name,
                lane=lane,
                source=source.kind,
                data=source.data,
                code_version=version,
                params=s.params,
                start_ts=start_ts,
                end_ts=end_ts,
                bankroll=bankroll,
            )
            for s in sets
        ]
    else:
        runs = services.runs_of(batch=batch, data=source.data)
        if [r.name for r in runs] != [s.name for s in sets]:
            raise ValueError(f"batch {batch} holds other parameter sets than the request's")
    saved = time.monotonic()

    def progress(events: int, ts: int) -> None:
        nonlocal saved
        if time.monotonic() - saved >= PROGRESS_SAVE_S:
            saved = time.monotonic()
            done = min((ts - start_ts) / (end_ts - start_ts), 1.0)
            if services.runs_progress(batch=batch, progress=done, events=events):
                raise BacktestCancelled(f"backtest {batch} cancelled at {done:.0%}")
        if on_progress is not None:
            on_progress(events, ts)

    try:
        with heartbeat(batch):
            result = run_pass(
                source.events(),
                sets,
                lane=lane,
                bankroll=bankroll,
                latency_ms=latency_ms,
                warmup=source.warmup,
                start_ts=start_ts,
                end_ts=end_ts,
                max_gap_ms=max_gap_ms,
                on_progress=progress,
                predictor=predictor,
            )
            sha = source.sha256()
            outcomes = []
            for run, sink in zip(runs, result.sinks, strict=True):
                counted = sink.counted_trades
                metrics = compute(counted, bankroll=bankroll)
                metrics["decisions"] = sink.decisions
                metrics["entries_decided"] = sink.entries
                metrics["quarantined_trades"] = len(sink.trades) - len(counted)
                metrics["signal_accuracy"] = signal_accuracy(counted, result.settlements)
                attribution = attribute(counted)
                attribution["signal_health"] = signal_health(counted)
                services.run_finish(
                    run_id=run.pk,
                    data_sha256=sha,
                    events=result.events,
                    seconds=result.seconds,
                    trades=sink.trades,
                    equity=sink.equity,
                    metrics=metrics,
                    attribution=attribution,
                    trade_list_sha256=sink.trade_list_sha256(),
                    settlements=result.settlements,
                )
                # The ML gate's training rows, marked with the run and its data source (a
                # history run's books are simulated: the run's ``data`` says so).
                store_run(
                    run=run.pk,
                    data_source=source.kind,
                    features=sink.features,
                    trades=sink.trades,
                )
                outcomes.append(
                    RunOutcome(run.pk, run.name, run.params_hash, sink, metrics, attribution)
                )
    except BacktestCancelled:
        services.runs_mark_cancelled(batch=batch)
        raise
    except BaseException as exc:
        services.runs_fail(batch=batch, error=f"{type(exc).__name__}: {exc}")
        raise
    return PassOutcome(batch, outcomes, result.events, result.seconds, sha, source.data)


def summary(outcome: PassOutcome, run: RunOutcome) -> dict[str, Any]:
    """The ``--json`` keys of one run (issue #18), plain JSON."""
    m = run.metrics
    return {
        "run_id": run.run_id,
        "name": run.name,
        "trades": m["trades"],
        "net_pnl": m["net_pnl"] / 1_000_000,
        "fees": m["fees"] / 1_000_000,
        "win_rate": m["win_rate"],
        "sharpe": m["sharpe"],
        "sortino": m["sortino"],
        "max_drawdown": m["max_drawdown"],
        "total_return": m["total_return"],
        "profit_factor": m["profit_factor"],
        "exit_reasons": m["exit_reasons"],
        "hold_seconds": {k: m["hold_seconds"][k] for k in ("p10", "p50", "p90")},
        "passes_minimum": m["thresholds"]["passes_minimum"],
        "red_flags": m["red_flags"],
        "signal_accuracy": m["signal_accuracy"],
        "trade_list_sha256": run.sink.trade_list_sha256(),
        "params_hash": run.params_hash,
        "events": outcome.events,
        "seconds": round(outcome.seconds, 3),
        "data": {**outcome.data, "sha256": outcome.data_sha256},
    }
