"""One backtest pass, stored: runs created, the driver fed, metrics computed, results saved.

The management command (and later a Celery task) calls ``backtest_run``; it never decides or
fills anything itself (see ``driver``). A failure marks the pass's runs failed with the
error's text and re-raises.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from attribution.breakdown import attribute
from backtests import services
from backtests.driver import MetricsSink, ParamSet, run_pass
from backtests.metrics import compute
from backtests.sources import Source
from backtests.version import code_version
from mlgate.services import store_run
from trading.engine.mlgate import WinPredictor

PROGRESS_SAVE_EVERY = 50  # progress reports between database updates


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
    predictor: WinPredictor | None = None,
) -> PassOutcome:
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
    reports = 0

    def progress(events: int, ts: int) -> None:
        nonlocal reports
        reports += 1
        if reports % PROGRESS_SAVE_EVERY == 0:
            done = (ts - start_ts) / (end_ts - start_ts)
            services.runs_progress(batch=batch, progress=min(done, 1.0), events=events)
        if on_progress is not None:
            on_progress(events, ts)

    try:
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
            attribution = attribute(counted)
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
        "trade_list_sha256": run.sink.trade_list_sha256(),
        "params_hash": run.params_hash,
        "events": outcome.events,
        "seconds": round(outcome.seconds, 3),
        "data": {**outcome.data, "sha256": outcome.data_sha256},
    }
