"""Celery: ``run_backtest`` runs a queued pass on a worker; ``sweep_stale_backtests`` marks
runs whose worker died failed.

A pass is queued by ``backtests.jobs.enqueue`` (its runs stored as ``queued``, so the
dashboard and the API see them at once). The task begins them (nothing to do if an operator
cancelled them meanwhile), keeps a heartbeat while it works (``runner.heartbeat``, a
thread, so reading a big history file counts as alive too), and ends them done, failed (with
the error's text) or cancelled. A worker killed outright (SIGKILL, out of memory, a lost
machine) cannot say so: its runs' heartbeat goes stale and the sweep, every minute from beat
and at the start of every task, marks them failed.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from celery import shared_task
from django.conf import settings

from backtests import services
from backtests.driver import DataGap
from backtests.request import BacktestRequest, RequestError
from backtests.runner import BacktestCancelled, backtest_run, heartbeat

log = structlog.get_logger(__name__)

DAY_S = 86_400


@shared_task(name="backtests.sweep_stale_backtests")
def sweep_stale_backtests() -> list[int]:
    stale = services.runs_sweep_stale(stale_s=settings.KBTC["BACKTEST_STALE_S"])
    if stale:
        log.error("backtest_runs_stale", runs=stale)
    return stale


# A month of history takes about half an hour on the development VM; a long period more
# than the default hour's limit.
@shared_task(name="backtests.run_backtest", time_limit=DAY_S, soft_time_limit=DAY_S - 300)
def run_backtest(request: dict[str, Any], batch: str) -> str:
    # the sources load the simulator: only a worker that runs a backtest imports them
    from backtests.sources import SourceError

    sweep_stale_backtests()
    key = uuid.UUID(batch)
    if not services.runs_begin(batch=key):
        return "not queued (cancelled before it started)"
    try:
        with heartbeat(key):  # reading a big history file takes a while
            wanted = BacktestRequest.from_dict(request)
            sets = wanted.check()
            source = wanted.source_of()
    except (RequestError, SourceError) as exc:
        services.runs_fail(batch=key, error=str(exc))
        return f"failed: {exc}"
    except BaseException as exc:
        services.runs_fail(batch=key, error=f"{type(exc).__name__}: {exc}")
        raise
    try:
        outcome = backtest_run(
            source,
            sets,
            lane=wanted.lane,
            bankroll=wanted.bankroll,
            latency_ms=wanted.latency_ms,
            start_ts=wanted.start_ts,
            end_ts=wanted.end_ts,
            max_gap_ms=wanted.max_gap_s * 1000,
            batch=key,
        )
    except BacktestCancelled:
        return "cancelled"
    except DataGap as exc:  # the runs are failed with its text by backtest_run
        return f"failed: data gap: {exc}"
    return f"done: {outcome.events} events, runs {[r.run_id for r in outcome.runs]}"


@shared_task(name="backtests.run_walk_forward_task", time_limit=DAY_S, soft_time_limit=DAY_S - 300)
def run_walk_forward_task(task_id: int) -> str:
    """One walk-forward task (``backtests.study``): its trades or its error on its row."""
    from backtests.study import task_execute

    return task_execute(task_id)


# The wall-time cap is the tuner's budget (autotune.BUDGET_S: no new batch after it) plus
# the batch in flight; this limit stops a batch that overruns it outright.
@shared_task(name="backtests.auto_tune", time_limit=3 * 3600, soft_time_limit=3 * 3600 - 300)
def auto_tune() -> str:
    """The auto-tuner's cycle at low priority (``os.nice``): a stored recommendation."""
    from backtests import autotune

    niceness = autotune.lower_priority()
    log.info("auto_tune_start", niceness=niceness)
    return autotune.auto_tune()
